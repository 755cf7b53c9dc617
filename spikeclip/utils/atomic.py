"""Atomic file output: write to a temporary file in the destination folder, then rename.

A kill during a save leaves the previous file intact (``os.replace`` is atomic on POSIX when both
paths are on one file system, which a sibling temporary file guarantees).
"""
import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator, List, Optional, Union

from .errors import OutputError
from .paths import check_output_file

try:
    import fcntl
except ImportError:  # Windows: output folders are not locked
    fcntl = None

PathLike = Union[str, os.PathLike]
O_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
LOCK_NAME = '.spikeclip.lock'
# The Software text of every PNG written here: what tells an image of an earlier run, which a
# rerun may replace, from a file of the same name that is not ours.
IMAGE_MARK = 'SpikeCLIP'
# Temporaries are named ``.<destination name, at most 100 characters>.spikeclip-<8 random>.tmp``;
# the cut keeps them within the file system's 255-byte name limit for any destination name, and
# the marker tells them from other programs' hidden ``.tmp`` files (``.budget.xlsx.backup01.tmp``),
# which :func:`remove_stale_temporaries` must never delete.
_TEMPORARY_NAME_CHARS = 100
TEMPORARY_MARKER = 'spikeclip-'
_STALE_TEMPORARY = re.compile(r'^\..+\.' + TEMPORARY_MARKER + r'[a-z0-9_]{8}\.tmp$')


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    Args:
        path (str | PathLike): Final destination.
        mode (str): ``'wb'`` or ``'w'``. Defaults to ``'wb'``.

    Yields:
        IO: The open temporary file. On an exception it is deleted and ``path`` is untouched.

    Raises:
        SpikeCLIPError: ``path`` is a folder, or its folder cannot be created or written to
            (:func:`~spikeclip.utils.paths.check_output_file`).
    """
    path = Path(path)
    if path.is_dir():
        check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix='.tmp', dir=path.parent)
    except OSError:
        check_output_file(path)  # says which part of the path is wrong
        raise
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, 'wb') as f:
        f.write(data)


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically.

    Raises:
        ValueError: ``obj`` holds NaN or Infinity, which JSON cannot represent (the file is not
            written).
    """
    with atomic_open(path, 'w') as f:
        json.dump(obj, f, indent=indent, allow_nan=False)
        f.write('\n')


def atomic_save_image(path: PathLike, img: Any) -> None:
    """Save an 8-bit image array (``[H, W]`` or ``[H, W, 3]`` uint8) as PNG atomically, marked
    as ours (:data:`IMAGE_MARK`, a PNG text chunk)."""
    import io

    from PIL import Image, PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text('Software', IMAGE_MARK)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='PNG', pnginfo=info)
    atomic_write_bytes(path, buf.getvalue())


def is_own_image(path: PathLike) -> bool:
    """Whether ``path`` is a PNG that :func:`atomic_save_image` wrote (its mark read from the
    header, the pixels not decoded)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.format == 'PNG' and im.text.get('Software') == IMAGE_MARK
    except Exception:  # not an image at all
        return False


class FolderLock:
    """An exclusive lock on an output folder for the duration of a run (``flock`` on
    ``<folder>/.spikeclip.lock``, released by the OS when the process dies), so that two runs
    never write one folder and the hidden temporaries found there are known to be stale.
    Without ``fcntl`` (Windows) nothing is locked.

    Raises:
        OutputError: Another process holds the lock, or the lock file cannot be opened (a
            symbolic link planted under its name is never followed).
    """

    def __init__(self, folder: PathLike):
        self.folder = os.fspath(folder)
        self._fd = None

    def __enter__(self) -> 'FolderLock':
        if fcntl is None:
            return self
        path = os.path.join(self.folder, LOCK_NAME)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | O_NOFOLLOW, 0o666)
        except OSError as e:
            raise OutputError(f'{path}: cannot be opened ({e.strerror}); remove it') from e
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise OutputError(f'{self.folder} is being written by another run (tools/infer.py '
                              'with the same --out-dir); wait for it or choose another '
                              '--out-dir') from None
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


def open_append_nofollow(path: PathLike):
    """``open(path, 'ab')`` that refuses to follow a symbolic link planted under ``path``.

    Raises:
        OutputError: ``path`` is a symbolic link or cannot be opened.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | O_NOFOLLOW, 0o666)
    except OSError as e:
        what = 'is a symbolic link, which is not followed' if os.path.islink(path) else \
            f'cannot be opened ({e.strerror})'
        raise OutputError(f'{path}: {what}; remove it') from e
    return os.fdopen(fd, 'ab')


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` to ``path`` atomically."""
    import torch
    with atomic_open(path, 'wb') as f:
        torch.save(obj, f)


def temporary_prefix(path: PathLike) -> str:
    """The name prefix of the temporaries of atomic writes to ``path`` (``tempfile.mkstemp``
    adds 8 random characters and the ``.tmp`` suffix)."""
    return f'.{Path(path).name[:_TEMPORARY_NAME_CHARS]}.{TEMPORARY_MARKER}'


def remove_stale_temporaries(folder: PathLike, min_age: float = 0.0,
                             destination: Optional[PathLike] = None) -> List[str]:
    """Delete the temporary files that killed atomic writes left in ``folder`` (not recursive):
    only names this toolkit gives them (``.<name>.spikeclip-<8 random>.tmp``), never another
    program's hidden ``.tmp`` files.

    Args:
        folder (str | PathLike): The folder.
        min_age (float): Only temporaries last modified at least this many seconds ago (a
            writer that is still running touches its own within that time). Defaults to 0: call
            it so only when no other process writes to ``folder``.
        destination (str | PathLike, optional): Only the temporaries of writes to this file
            (its name; :func:`temporary_prefix`). Defaults to None (all of them).

    Returns:
        list[str]: The deleted paths.
    """
    removed = []
    folder = os.fspath(folder)
    now = time.time()
    prefix = temporary_prefix(destination) if destination is not None else ''
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if not (_STALE_TEMPORARY.match(name) and name.startswith(prefix) and
                os.path.isfile(path)):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - os.path.getmtime(path) >= min_age:
                os.remove(path)
                removed.append(path)
    return removed
