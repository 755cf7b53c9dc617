"""Pretrained models shipped inside the package, addressed as ``pretrained:<name>``.

Every tool that takes a checkpoint accepts ``pretrained:<name>`` as well as a path
(``python tools/infer.py pretrained:real rec.dat --out-dir out``), and so do configs
(``coarse_checkpoint='pretrained:real'``). Each file is an ordinary SpikeCLIP stage checkpoint
(weights in float16, ``meta.spikeclip`` with the self-contained model config) plus a ``provenance``
entry: the config and command that trained it, the training time and its figures. See
``docs/pretrained.md``.
"""
import os.path as osp
from typing import Dict

PRETRAINED_DIR = osp.dirname(osp.abspath(__file__))
PREFIX = 'pretrained:'

# name -> (file in this folder, one-line description)
PRETRAINED_MODELS: Dict[str, tuple] = {
    'real': ('coarse_real.pth',
             'stage-1 MotionUNet (41-frame window) for real recordings of moving scenes, '
             'trained on realistic simulation (configs/coarse_real.py)'),
}


def is_pretrained_name(path: str) -> bool:
    """Whether ``path`` is a ``pretrained:<name>`` reference."""
    return isinstance(path, str) and path.startswith(PREFIX)


def pretrained_path(name: str) -> str:
    """The file of a shipped model, from ``'real'`` or ``'pretrained:real'``.

    Raises:
        CheckpointError: An unknown name (the message lists the known ones) or a missing file.
    """
    from ..utils.errors import CheckpointError
    key = name[len(PREFIX):] if is_pretrained_name(name) else name
    if key not in PRETRAINED_MODELS:
        known = ', '.join(f'{PREFIX}{k}' for k in sorted(PRETRAINED_MODELS))
        raise CheckpointError(f'unknown pretrained model {name!r}; shipped: {known}')
    path = osp.join(PRETRAINED_DIR, PRETRAINED_MODELS[key][0])
    if not osp.isfile(path):
        raise CheckpointError(f'{PREFIX}{key}: {path} is missing from this installation '
                              '(reinstall the package, or retrain it: docs/pretrained.md)')
    return path


def resolve_checkpoint(path: str) -> str:
    """``path`` itself, or the file behind a ``pretrained:<name>`` reference."""
    return pretrained_path(path) if is_pretrained_name(path) else path


__all__ = ['PRETRAINED_DIR', 'PRETRAINED_MODELS', 'PREFIX', 'is_pretrained_name',
           'pretrained_path', 'resolve_checkpoint']
