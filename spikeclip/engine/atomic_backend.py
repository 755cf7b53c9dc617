"""Every local file MMEngine writes (checkpoints, dumped JSON) is written atomically.

MMEngine writes through its file backends (``mmengine.fileio``): ``Runner.save_checkpoint``
serialises into memory and calls ``get_file_backend(path).put(data, path)``, and the local
backend's ``put`` opens the destination in place, so a run killed during a save leaves a
truncated checkpoint under the final name (and ``--resume`` then fails on it).
:func:`install_atomic_backend` (called by :func:`spikeclip.engine.patches.install_patches`)
replaces the local backend with :class:`AtomicLocalBackend`, which writes a temporary sibling and
renames it into place (:mod:`spikeclip.utils.atomic`): a kill leaves the previous file intact.

Writes outside the backends (MMEngine's ``last_checkpoint`` pointer, the visualizer's files) are
not covered; :func:`spikeclip.engine.runner.find_resume_checkpoint` copes with a torn pointer.
"""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io

from ..utils.atomic import atomic_write_bytes


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose writes are atomic (temporary file, then rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write ``obj`` to ``filepath`` atomically, creating its folder if needed."""
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write the text ``obj`` to ``filepath`` atomically, creating its folder if needed."""
        atomic_write_bytes(filepath, obj.encode(encoding))


def install_atomic_backend() -> None:
    """Make :class:`AtomicLocalBackend` MMEngine's local backend (idempotent).

    ``get_file_backend`` caches backend instances; plain ``LocalBackend`` instances created before
    this call are dropped from the cache so that later look-ups get the atomic one.
    """
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    for key, backend in list(mmengine_io.backend_instances.items()):
        if type(backend) is LocalBackend:
            del mmengine_io.backend_instances[key]
