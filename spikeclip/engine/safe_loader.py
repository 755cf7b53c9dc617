"""MMEngine's local checkpoint loading goes through the toolkit's safe loader.

``Runner.load_checkpoint`` and ``Runner.resume`` read local files with MMEngine's
``load_from_local``, a bare ``torch.load(filename)``. That is ``weights_only=True`` only by
torch's default, which the environment variable ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns off,
and its failures are raw unpickling errors. Importing this module (``spikeclip.engine`` does)
registers :func:`load_from_local_safely` for local paths instead: an explicit
``weights_only=True`` load that refuses pickles carrying code whatever the environment says, and
that raises :class:`~spikeclip.utils.errors.CheckpointError` naming the file.
"""
import os.path as osp
from typing import Callable, Union

from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint import load_checkpoint_file


def load_from_local_safely(filename: str, map_location: Union[str, Callable, None] = None) -> dict:
    """Load a local checkpoint with ``weights_only=True``.

    Args:
        filename (str): Checkpoint file (``~`` is expanded).
        map_location (str | callable, optional): As in ``torch.load``.

    Raises:
        CheckpointError: Missing, truncated or unsafe file.
    """
    return load_checkpoint_file(osp.expanduser(filename), map_location=map_location)


CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
