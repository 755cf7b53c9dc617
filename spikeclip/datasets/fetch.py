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
from typing import Callable, Dict, Optional

from ..utils.errors import SpikeCLIPError

UHSR_FILE_ID = '1zLVEX-Q3rvbe2nZvwF5ZCTjyX22VzxED'
UHSR_URL = f'https://drive.google.com/file/d/{UHSR_FILE_ID}/view'
# Data set folder -> packaged class list.
UHSR_SETS = {'U-CALTECH': 'ucaltech', 'U-CIFAR': 'ucifar'}


class FetchError(SpikeCLIPError):
    """The data could not be downloaded, unpacked or verified."""


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
        FetchError: gdown is missing, or the download failed (no network, quota, ...).
    """
    try:
        import gdown
    except ImportError:
        raise FetchError('gdown is not installed (pip install gdown)') from None
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    try:
        path = gdown.download(id=file_id, output=dest, quiet=False)
    except Exception as e:  # requests' ConnectionError, gdown's FileURLRetrievalError, ...
        raise FetchError(f'download of Google Drive file {file_id} failed: '
                         f'{type(e).__name__}: {e}') from e
    if not path or not os.path.isfile(path):
        raise FetchError(f'download of Google Drive file {file_id} failed (no file written)')
    return path


def _check_member(name: str, dest: str, archive: str) -> str:
    """The path ``name`` extracts to, refusing anything outside ``dest``."""
    target = os.path.realpath(os.path.join(dest, name))
    root = os.path.realpath(dest)
    if os.path.isabs(name) or name.startswith(('/', '\\')) or \
            os.path.commonpath([root, target]) != root:
        raise FetchError(f'{archive}: member {name!r} would be written outside {dest}; refusing '
                         'to unpack this archive')
    return target


def safe_extract(archive: str, dest: str) -> None:
    """Unpack a zip or tar archive into ``dest``, refusing path traversal and links.

    Raises:
        FetchError: The file is not a zip/tar archive, is corrupt or truncated, or holds a
            member that would land outside ``dest`` (or a link or device file).
    """
    if not os.path.isfile(archive):
        raise FetchError(f'{archive}: no such archive')
    os.makedirs(dest, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(info.filename, dest, archive)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise FetchError(f'{archive}: member {info.filename!r} is a symbolic '
                                         'link; refusing to unpack this archive')
                bad = zf.testzip()
                if bad is not None:
                    raise FetchError(f'{archive}: member {bad!r} is corrupt (CRC mismatch); '
                                     'download the archive again')
                zf.extractall(dest)
            return
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive, 'r:*') as tf:
                members = tf.getmembers()
                for m in members:
                    _check_member(m.name, dest, archive)
                    if not (m.isfile() or m.isdir()):
                        raise FetchError(f'{archive}: member {m.name!r} is a link or special '
                                         'file; refusing to unpack this archive')
                if hasattr(tarfile, 'data_filter'):  # Python >= 3.11.4 / 3.12
                    tf.extractall(dest, members=members, filter='data')
                else:
                    tf.extractall(dest, members=members)
            return
    except FetchError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise FetchError(f'{archive}: corrupt or truncated archive ({type(e).__name__}: {e}); '
                         'download it again') from e
    raise FetchError(f'{archive}: not a zip or tar archive (corrupt download, or another '
                     'format: unpack it by hand)')


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


def install_uhsr(archive: str, data_dir: str,
                 train_size: Optional[int] = None) -> Dict[str, Dict[str, int]]:
    """Unpack ``archive`` and move its U-CALTECH / U-CIFAR folders to ``data_dir``, then verify.

    Archives nested one level inside the archive (e.g. ``U-CALTECH.zip``) are unpacked too. A
    data set folder that already exists in ``data_dir`` is kept as it is.

    Returns:
        dict: The counts of :func:`verify_uhsr`.

    Raises:
        FetchError: Corrupt archive, unsafe member, data sets missing from it, or a failed
            verification.
    """
    os.makedirs(data_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.uhsr_unpack_', dir=data_dir)
    try:
        safe_extract(archive, staging)
        found = find_uhsr_dirs(staging)
        if len(found) < len(UHSR_SETS):
            for dirpath, _, files in os.walk(staging):
                for f in files:
                    if f.lower().endswith(('.zip', '.tar', '.tar.gz', '.tgz')):
                        inner = os.path.join(dirpath, f)
                        safe_extract(inner, os.path.join(dirpath, f + '.unpacked'))
            found = find_uhsr_dirs(staging)
        needed = [n for n in UHSR_SETS if not os.path.exists(os.path.join(data_dir, n))]
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
               train_size: Optional[int] = None) -> Dict[str, Dict[str, int]]:
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

    Returns:
        dict: Sample counts per data set and split.

    Raises:
        FetchError: Anything that went wrong; the message says what (see
            :func:`manual_instructions` for the way round it).
    """
    if all(os.path.isdir(os.path.join(data_dir, n)) for n in UHSR_SETS):
        return verify_uhsr(data_dir, train_size)
    downloaded = None
    if archive is None:
        downloader = downloader or download_gdrive
        os.makedirs(data_dir, exist_ok=True)
        downloaded = archive = downloader(UHSR_FILE_ID, os.path.join(data_dir, 'UHSR.download'))
    try:
        return install_uhsr(archive, data_dir, train_size)
    finally:
        if downloaded is not None and not keep_archive and os.path.isfile(downloaded):
            os.remove(downloaded)
