"""MMEngine's checkpoint loading goes through the toolkit's safe loader.

``Runner.load_checkpoint`` and ``Runner.resume`` read local files with MMEngine's
``load_from_local``, a bare ``torch.load(filename)``. That is ``weights_only=True`` only by
torch's default, which the environment variable ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns off,
and its failures are raw unpickling errors. Importing this module (``spikeclip.engine`` does)
registers :func:`load_from_local_safely` for local paths instead: an explicit
``weights_only=True`` load that refuses pickles carrying code whatever the environment says, and
that raises :class:`~spikeclip.utils.errors.CheckpointError` naming the file.

``http(s)://`` checkpoints (``load_from``, ``--resume URL``) are downloaded into torch's hub
cache and then loaded by the same function (MMEngine's ``load_from_http`` would ``torch.load``
them with torch's defaults); downloads obey the offline switch. MMEngine's other schemes
(``pavi://``, ``s3://``, ``open-mmlab://``, ``torchvision://``, ...) load without
``weights_only`` and are refused: download the file and give its path.
"""
import os.path as osp
from typing import Callable, Union

from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint import URL_PREFIXES, load_checkpoint_file
from ..utils.errors import CheckpointError


def load_from_local_safely(filename: str, map_location: Union[str, Callable, None] = None) -> dict:
    """Load a local checkpoint with ``weights_only=True``.

    Args:
        filename (str): Checkpoint file (``~`` is expanded).
        map_location (str | callable, optional): As in ``torch.load``.

    Raises:
        CheckpointError: Missing, truncated or unsafe file.
    """
    return load_checkpoint_file(osp.expanduser(filename), map_location=map_location)


def load_from_url_safely(filename: str, map_location: Union[str, Callable, None] = None,
                         **kwargs) -> dict:
    """Download an ``http(s)://`` checkpoint into torch's hub cache and load it with
    ``weights_only=True``.

    Raises:
        CheckpointError: Downloads are off, the download failed, or the file is unsafe.
    """
    return load_checkpoint_file(filename, map_location=map_location)


def refuse_scheme(filename: str, map_location=None, **kwargs) -> dict:
    """MMEngine's remote schemes other than http(s) load without ``weights_only``: refused."""
    raise CheckpointError(f'{filename}: this kind of checkpoint location is not supported (it '
                          'would load without weights_only=True); download the file and give '
                          'its local path')


CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
CheckpointLoader.register_scheme(prefixes=URL_PREFIXES, loader=load_from_url_safely, force=True)
CheckpointLoader.register_scheme(
    prefixes=['pavi://', r'(\S+\:)?s3://', r'(\S+\:)?petrel://', 'modelzoo://', 'torchvision://',
              'open-mmlab://', 'openmmlab://', 'mmcls://'], loader=refuse_scheme, force=True)
