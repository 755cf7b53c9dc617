"""Output paths checked before anything is written: a folder that is a file, a file that is a
folder, or a folder that cannot be created or written to is one :class:`SpikeCLIPError` naming
the path (and the option that gave it), never an ``OSError`` traceback from deep inside a save.

Root ignores permission bits, so the cases that fail for every user are a path below a regular
file (``out.txt/run``) and a path that names the wrong kind of entry; a folder without write
permission fails only for other users (:func:`ensure_output_dir` checks ``os.access``).
"""
import os
import os.path as osp
from typing import Optional

from .errors import SpikeCLIPError


def _label(path: str, what: Optional[str]) -> str:
    return f'{what} {path}' if what else str(path)


def _file_above(path: str) -> Optional[str]:
    """The nearest ancestor of ``path`` (or ``path`` itself) that exists and is not a folder."""
    current = osp.abspath(path)
    while True:
        if osp.lexists(current):
            return None if osp.isdir(current) else current
        parent = osp.dirname(current)
        if parent == current:
            return None
        current = parent


def ensure_output_dir(path: str, what: Optional[str] = None) -> str:
    """Create the output folder ``path`` (with its parents) or check that it is one, writable.

    Args:
        path (str): The folder.
        what (str, optional): What names it in messages, e.g. ``'--out-dir'`` or
            ``'work dir'``. Defaults to None (the path alone).

    Returns:
        str: ``path``.

    Raises:
        SpikeCLIPError: ``path`` (or a folder above it) is a file, or the folder cannot be
            created or written to.
    """
    path = os.fspath(path)
    label = _label(path, what)
    blocker = _file_above(path)
    if blocker is not None:
        where = 'is a file' if osp.abspath(blocker) == osp.abspath(path) else \
            f'cannot be created: {blocker} is a file'
        raise SpikeCLIPError(f'{label} {where}, not a folder')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SpikeCLIPError(f'{label} cannot be created ({e.strerror})') from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise SpikeCLIPError(f'{label} is not writable (permission denied)')
    return path


def check_output_file(path: str, what: Optional[str] = None) -> str:
    """Check that the file ``path`` can be written: it is not a folder and its folder exists or
    can be created (which this does).

    Args:
        path (str): The file.
        what (str, optional): What names it in messages, e.g. ``'--out'``. Defaults to None.

    Returns:
        str: ``path``.

    Raises:
        SpikeCLIPError: ``path`` is a folder, or its folder cannot be created or written to.
    """
    path = os.fspath(path)
    label = _label(path, what)
    if osp.isdir(path):
        raise SpikeCLIPError(f'{label} is a folder, not a file; name the file to write')
    parent = osp.dirname(osp.abspath(path))
    try:
        ensure_output_dir(parent)
    except SpikeCLIPError as e:
        raise SpikeCLIPError(f'{label}: its folder {e}') from e
    return path
