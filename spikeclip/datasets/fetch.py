"""Download, unpack and verify the public UHSR archive (U-CALTECH and U-CIFAR) for ``make data``.

The archive is on Google Drive (id :data:`UHSR_FILE_ID`) and is fetched with ``gdown`` where it is
installed and the network allows. Unpacking accepts zip and tar (optionally compressed) archives
and refuses members that would land outside the destination (absolute paths, ``..``, links). The
data sets end up as ``data/U-CALTECH`` and ``data/U-CIFAR``, wherever they sit in the archive.
"""
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from typing import Callable, Dict, List, Optional, Tuple

from ..utils.errors import SpikeCLIPError
from ..utils.paths import ensure_output_dir

UHSR_FILE_ID = '1zLVEX-Q3rvbe2nZvwF5ZCTjyX22VzxED'
UHSR_URL = f'https://drive.google.com/file/d/{UHSR_FILE_ID}/view'
# Data set folder -> packaged class list.
UHSR_SETS = {'U-CALTECH': 'ucaltech', 'U-CIFAR': 'ucifar'}


class FetchError(SpikeCLIPError):
    """The data could not be downloaded, unpacked or verified."""


class DownloadError(FetchError):
    """The archive could not be downloaded (no network, no gdown, a quota): the way round it is
    a download by hand (:func:`manual_instructions`)."""


def manual_instructions(data_dir: str) -> str:
    """Where to get the UHSR archive by hand and where to put it."""
    return (f'Download the UHSR archive (U-CALTECH and U-CIFAR) in a browser from\n'
            f'    {UHSR_URL}\n'
            f'then either run\n'
            f'    python tools/fetch_data.py --archive <downloaded file> --out-dir {data_dir}\n'
            f'or unpack it yourself so that {data_dir}/U-CALTECH and {data_dir}/U-CIFAR hold the '
            f'numbered .npz files\n(0.npz, 1.npz, ...; files 0-4999 are the training split).')


def download_gdrive(file_id: str, dest: str) -> str:
    """Download a Google Drive file with ``gdown``.

    Raises:
        DownloadError: gdown is missing, or the download failed (no network, quota, ...).
    """
    try:
        import gdown
    except ImportError:
        raise DownloadError('gdown is not installed (pip install gdown)') from None
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    try:
        path = gdown.download(id=file_id, output=dest, quiet=False)
    except Exception as e:  # requests' ConnectionError, gdown's FileURLRetrievalError, ...
        raise DownloadError(f'download of Google Drive file {file_id} failed: '
                            f'{type(e).__name__}: {e}') from e
    if not path or not os.path.isfile(path):
        raise DownloadError(f'download of Google Drive file {file_id} failed (no file written)')
    return path


def _check_member(name: str, dest: str, archive: str) -> str:
    """The path ``name`` extracts to, refusing anything outside ``dest``."""
    target = os.path.realpath(os.path.join(dest, name))
    root = os.path.realpath(dest)
    if os.path.isabs(name) or name.startswith(('/', '\\')) or \
            os.path.commonpath([root, target]) != root:
        raise FetchError(f'{archive}: member {name!r} would be written outside the folder it is '
                         'unpacked into; refusing to unpack this archive')
    return target


def _size(n: float) -> str:
    for unit in ('bytes', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n:.0f} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
        n /= 1024


# Default limits of an unpacked archive (the UHSR archive is far below them).
MAX_UNPACKED_BYTES = 200 * 1024**3
MAX_MEMBERS = 1_000_000
# An archive that unpacks to more than BOMB_RATIO times its size (and over BOMB_MIN_BYTES) is
# refused: the UHSR members are compressed .npz files, which do not shrink further.
BOMB_RATIO = 100
BOMB_MIN_BYTES = 64 * 1024**2


class UnpackLimits:
    """What an archive may unpack to, checked from its member list (zip) or member by member
    (tar, read as one stream) before anything exceeds it.

    Args:
        max_bytes (int): Total unpacked size. Defaults to :data:`MAX_UNPACKED_BYTES`.
        max_members (int): Number of files and folders. Defaults to :data:`MAX_MEMBERS`.
    """

    def __init__(self, max_bytes: int = None, max_members: int = None):
        self.max_bytes = MAX_UNPACKED_BYTES if max_bytes is None else max_bytes
        self.max_members = MAX_MEMBERS if max_members is None else max_members
        self.bytes = self.members = 0

    def add(self, archive: str, dest: str, size: int, members: int = 1,
            names: Optional[Tuple[str, str]] = None) -> None:
        """Count ``members`` of ``size`` bytes more, or raise :class:`FetchError` (naming the
        archive and ``dest`` as ``names`` says: see :func:`safe_extract`)."""
        packed = os.path.getsize(archive)
        archive, shown_dest = names or (archive, dest)
        self.bytes += size
        self.members += members
        if self.members > self.max_members:
            raise FetchError(f'{archive}: more than {self.max_members} members (--max-files); '
                             'refusing to unpack it')
        if self.bytes > self.max_bytes:
            raise FetchError(f'{archive}: unpacks to more than {_size(self.max_bytes)} '
                             '(--max-size); refusing to unpack it')
        if self.bytes > BOMB_MIN_BYTES and self.bytes > BOMB_RATIO * packed:
            raise FetchError(f'{archive}: {_size(packed)} that would unpack to more than '
                             f'{_size(self.bytes)} ({BOMB_RATIO}x); refusing what looks like a '
                             'decompression bomb')
        free = shutil.disk_usage(dest).free
        if size > free:
            raise FetchError(f'{archive}: unpacking needs {_size(size)} more, but only '
                             f'{_size(free)} are free in {shown_dest}')


def _extract_zip(zf: zipfile.ZipFile, archive: str, dest: str, limits: UnpackLimits,
                 names: Tuple[str, str]) -> None:
    path, archive = archive, names[0]  # messages name the archive as names[0]
    infos = zf.infolist()
    for info in infos:  # every member is checked before any is written
        _check_member(info.filename, dest, archive)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise FetchError(f'{archive}: member {info.filename!r} is a symbolic link; refusing '
                             'to unpack this archive')
    limits.add(path, dest, sum(i.file_size for i in infos), len(infos), names)
    for info in infos:  # one pass: each member's CRC is checked as it is written
        target = _check_member(info.filename, dest, archive)
        if info.is_dir():
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            with zf.open(info) as src, open(target, 'wb') as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except zipfile.BadZipFile as e:
            raise FetchError(f'{archive}: member {info.filename!r} is corrupt (CRC mismatch or '
                             f'bad data: {e}); download the archive again') from e


def _extract_tar(archive: str, dest: str, limits: UnpackLimits,
                 names: Tuple[str, str]) -> None:
    with tarfile.open(archive, 'r|*') as tf:  # one pass over the (compressed) stream
        path, archive = archive, names[0]  # messages name the archive as names[0]
        for m in tf:
            _check_member(m.name, dest, archive)
            if not (m.isfile() or m.isdir()):
                raise FetchError(f'{archive}: member {m.name!r} is a link or special file; '
                                 'refusing to unpack this archive')
            limits.add(path, dest, m.size, names=names)
            if hasattr(tarfile, 'data_filter'):  # Python >= 3.11.4 / 3.12
                tf.extract(m, dest, filter='data')
            else:
                tf.extract(m, dest)


def safe_extract(archive: str, dest: str, limits: Optional[UnpackLimits] = None,
                 names: Optional[Tuple[str, str]] = None) -> None:
    """Unpack a zip or tar archive into ``dest``, refusing path traversal, links, and archives
    that exceed ``limits`` (size, member count, compression ratio, free disk space).

    A zip's members are all checked from its directory before any is written, then written in
    one pass (CRCs checked as they are written); a tar is read as one stream, each member
    checked before it is written (a refused tar may leave earlier members in ``dest``; use a
    staging folder, as :func:`install_uhsr` does).

    Args:
        archive (str): The archive file.
        dest (str): Where it is unpacked.
        limits (UnpackLimits, optional): Size and member-count limits. Defaults to new ones.
        names (tuple[str, str], optional): How messages name the archive and ``dest``, where
            the paths mean nothing to the user (a nested archive in a staging folder that is
            deleted afterwards). Defaults to the paths.

    Raises:
        FetchError: The file is not a zip/tar archive, is corrupt or truncated, holds a member
            that would land outside ``dest`` (or a link or device file), or exceeds a limit.
    """
    names = names or (archive, dest)
    if not os.path.isfile(archive):
        raise FetchError(f'{names[0]}: no such archive')
    limits = limits or UnpackLimits()
    os.makedirs(dest, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _extract_zip(zf, archive, dest, limits, names)
            return
        if tarfile.is_tarfile(archive):
            _extract_tar(archive, dest, limits, names)
            return
    except FetchError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise FetchError(f'{names[0]}: corrupt or truncated archive ({type(e).__name__}: '
                         f'{reason}); download it again') from e
    raise FetchError(f'{names[0]}: not a zip or tar archive (corrupt download, or another '
                     'format)')


def _norm(name: str) -> str:
    return name.lower().replace('-', '').replace('_', '')


def _holds_data(folder: str) -> bool:
    names = os.listdir(folder)
    return any(n.lower().endswith('.npz') for n in names) or \
        {'train', 'test'} <= {n for n in names if os.path.isdir(os.path.join(folder, n))}


def find_uhsr_dirs(root: str, max_depth: int = 4) -> Dict[str, str]:
    """Folders named like U-CALTECH / U-CIFAR (case, ``-`` and ``_`` ignored) under ``root``.

    Of several candidates (e.g. ``U-CALTECH/U-CALTECH/*.npz``) the shallowest that holds
    ``.npz`` files (or ``train``/``test`` sub-folders) wins.
    """
    wanted = {_norm(k): k for k in UHSR_SETS}
    candidates = {k: [] for k in UHSR_SETS}
    base_depth = root.rstrip(os.sep).count(os.sep)
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        if dirpath.count(os.sep) - base_depth >= max_depth:
            dirnames[:] = []
        for d in dirnames:
            key = wanted.get(_norm(d))
            if key:
                candidates[key].append(os.path.join(dirpath, d))
    found = {}
    for key, paths in candidates.items():
        paths.sort(key=lambda p: p.count(os.sep))
        with_data = [p for p in paths if _holds_data(p)]
        if with_data or paths:
            found[key] = (with_data or paths)[0]
    return found


def verify_uhsr(data_dir: str, train_size: Optional[int] = None) -> Dict[str, Dict[str, int]]:
    """Check that ``data_dir/U-CALTECH`` and ``data_dir/U-CIFAR`` read as :class:`UHSRDataset`.

    Both splits are built and the first sample of each is read (shape, binary spikes, a label
    inside the class list).

    Args:
        data_dir (str): Folder holding the data set folders.
        train_size (int, optional): Split boundary (5000 if None; tests use a small one).

    Returns:
        dict: ``{'U-CALTECH': {'train': n, 'test': n}, 'U-CIFAR': {...}}``.

    Raises:
        FetchError: A folder is missing or does not read (the message says which and why).
    """
    from .uhsr import UHSRDataset
    counts = {}
    for name, classes in UHSR_SETS.items():
        root = os.path.join(data_dir, name)
        if not os.path.isdir(root):
            raise FetchError(f'{root}: missing after unpacking; expected the archive to hold a '
                             f'{name} folder of .npz files')
        counts[name] = {}
        for split in ('train', 'test'):
            try:
                ds = UHSRDataset(root, split, classes=classes, train_size=train_size)
                ds[0]
            except SpikeCLIPError as e:
                raise FetchError(f'{name} ({split} split) does not verify: {e}') from e
            counts[name][split] = len(ds)
    return counts


_ARCHIVE_SUFFIXES = ('.zip', '.tar', '.tar.gz', '.tgz')
_STAGING_PREFIX = '.uhsr_unpack_'


def remove_stale_staging(data_dir: str) -> List[str]:
    """Delete the staging folders (``.uhsr_unpack_<pid>_*``) that killed unpacks left in
    ``data_dir``: those whose process is gone.

    Returns:
        list[str]: The deleted folders.
    """
    removed = []
    for name in os.listdir(data_dir) if os.path.isdir(data_dir) else []:
        path = os.path.join(data_dir, name)
        if not (name.startswith(_STAGING_PREFIX) and os.path.isdir(path)):
            continue
        pid = name[len(_STAGING_PREFIX):].split('_')[0]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # still unpacking
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # alive, another user's
        elif pid.isdigit():
            continue  # this process's own
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _zip_lists_data(archive: str) -> Optional[set]:
    """The UHSR sets (or nested archives, as ``'archive'``) a zip's member list names; None for
    a tar (read as a stream, its members are known only while unpacking)."""
    if not zipfile.is_zipfile(archive):
        return None
    wanted = {_norm(k): k for k in UHSR_SETS}
    found = set()
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise FetchError(f'{archive}: corrupt or truncated archive ({e}); download it '
                         'again') from e
    for name in names:
        parts = [p for p in name.replace('\\', '/').split('/') if p]
        found |= {wanted[_norm(p)] for p in parts if _norm(p) in wanted}
        if name.lower().endswith(_ARCHIVE_SUFFIXES):
            found.add('archive')
    return found


def install_uhsr(archive: str, data_dir: str, train_size: Optional[int] = None,
                 limits: Optional[UnpackLimits] = None) -> Dict[str, Dict[str, int]]:
    """Unpack ``archive`` and move its U-CALTECH / U-CIFAR folders to ``data_dir``, then verify.

    Archives nested one level inside the archive (e.g. ``U-CALTECH.zip``) are unpacked too. A
    data set folder that already exists in ``data_dir`` is kept as it is. A zip whose member
    list names neither data set (nor a nested archive) is refused before anything is unpacked.
    Unpacking goes to a hidden staging folder in ``data_dir``, removed at the end; the ones a
    killed run left are removed first.

    Args:
        limits (UnpackLimits, optional): Size and member-count limits of the whole unpack
            (nested archives included).

    Returns:
        dict: The counts of :func:`verify_uhsr`.

    Raises:
        FetchError: Corrupt archive, unsafe member, a limit exceeded, data sets missing from it,
            or a failed verification.
    """
    ensure_output_dir(data_dir, 'data folder')
    remove_stale_staging(data_dir)
    needed = [n for n in UHSR_SETS if not os.path.exists(os.path.join(data_dir, n))]
    listed = _zip_lists_data(archive) if os.path.isfile(archive) else None
    if listed is not None and 'archive' not in listed and set(needed) - listed:
        missing = sorted(set(needed) - listed)
        raise FetchError(f'{archive}: no {" or ".join(missing)} folder inside the archive')
    limits = limits or UnpackLimits()
    staging = tempfile.mkdtemp(prefix=f'{_STAGING_PREFIX}{os.getpid()}_', dir=data_dir)
    try:
        safe_extract(archive, staging, limits, names=(archive, data_dir))
        found = find_uhsr_dirs(staging)
        if len(found) < len(UHSR_SETS):
            for dirpath, _, files in os.walk(staging):
                for f in files:
                    if f.lower().endswith(_ARCHIVE_SUFFIXES):
                        inner = os.path.join(dirpath, f)
                        shown = f'{archive} (its member {os.path.relpath(inner, staging)})'
                        safe_extract(inner, os.path.join(dirpath, f + '.unpacked'), limits,
                                     names=(shown, data_dir))
            found = find_uhsr_dirs(staging)
        missing = [n for n in needed if n not in found]
        if missing:
            raise FetchError(f'{archive}: no {" or ".join(missing)} folder inside the archive')
        for name in needed:
            shutil.move(found[name], os.path.join(data_dir, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return verify_uhsr(data_dir, train_size)


def fetch_uhsr(data_dir: str = 'data',
               archive: Optional[str] = None,
               downloader: Optional[Callable[[str, str], str]] = None,
               keep_archive: bool = False,
               train_size: Optional[int] = None,
               limits: Optional[UnpackLimits] = None) -> Dict[str, Dict[str, int]]:
    """``make data``: make ``data_dir/U-CALTECH`` and ``data_dir/U-CIFAR`` ready to use.

    Does nothing but verify when both folders are already there; otherwise unpacks ``archive``
    or downloads the UHSR archive first.

    Args:
        data_dir (str): Destination. Defaults to ``'data'``.
        archive (str, optional): A local copy of the archive (no download).
        downloader (callable, optional): ``(file_id, dest) -> path``; :func:`download_gdrive`
            if None.
        keep_archive (bool): Keep the downloaded archive. Defaults to False.
        train_size (int, optional): Split boundary for the verification.
        limits (UnpackLimits, optional): Limits of the unpacked size and member count.

    Returns:
        dict: Sample counts per data set and split.

    Raises:
        DownloadError: The download failed (see :func:`manual_instructions` for the way round
            it).
        FetchError: The archive was refused (unsafe or too large), is corrupt, lacks a data
            set, or the data did not verify; the message says what.
        SpikeCLIPError: ``data_dir`` is a file or cannot be created.
    """
    if all(os.path.isdir(os.path.join(data_dir, n)) for n in UHSR_SETS):
        return verify_uhsr(data_dir, train_size)
    downloaded = None
    if archive is None:
        downloader = downloader or download_gdrive
        ensure_output_dir(data_dir, 'data folder')
        try:
            downloaded = archive = downloader(UHSR_FILE_ID,
                                              os.path.join(data_dir, 'UHSR.download'))
        except DownloadError:
            raise
        except FetchError as e:  # whatever the downloader, the way round it is by hand
            raise DownloadError(str(e)) from e
    try:
        return install_uhsr(archive, data_dir, train_size, limits)
    finally:
        if downloaded is not None and not keep_archive and os.path.isfile(downloaded):
            os.remove(downloaded)
