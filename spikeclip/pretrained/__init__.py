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
    'real': ('coarse_real_adaptive.pth',
             'stage-1 AdaptiveWindow (up to 251 frames, at least 41) for real recordings, still '
             'or moving: long spike averages where the scene is still, pretrained:real-short '
             'where it moves'),
    'real-short': ('coarse_real.pth',
                   'stage-1 MotionUNet (41-frame window) for real recordings of moving scenes, '
                   'trained on realistic simulation (configs/coarse_real.py); faster video'),
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


def source_reference(path: str) -> str:
    """How a model records the checkpoint it was built from: ``pretrained:<name>`` as it is
    (valid on every installation), a file as an absolute path."""
    return path if is_pretrained_name(path) else osp.abspath(path)




def export_pretrained(checkpoint: str, out: str, provenance: dict, half: bool = True) -> dict:
    """Write a stage checkpoint as a small, self-contained model file to ship.

    Keeps the weights (float16 with ``half``; they load into float32 models unchanged apart from
    the rounding) and ``meta.spikeclip`` (stage, model config, class names, versions), drops the
    optimiser, scheduler and message-hub state, and adds ``meta.spikeclip.provenance``.

    Args:
        checkpoint (str): A SpikeCLIP stage checkpoint (e.g. ``coarse_best.pth``).
        out (str): Output file, written atomically.
        provenance (dict): How the model was made: config, command, training time, figures.
        half (bool): Store floating-point weights as float16. Defaults to True.

    Returns:
        dict: The saved ``meta.spikeclip``.

    Raises:
        CheckpointError: Not a SpikeCLIP stage checkpoint.
    """
    from ..models.stages.checkpoint_meta import read_meta, save_model_file
    from ..utils.checkpoint import load_checkpoint_file
    from ..utils.errors import CheckpointError
    ckpt = load_checkpoint_file(checkpoint)
    info = dict(read_meta(ckpt))
    if not info.get('model') or 'state_dict' not in ckpt:
        raise CheckpointError(f'{checkpoint} is not a SpikeCLIP stage checkpoint '
                              '(no meta.spikeclip.model or state_dict)')
    state = {k: v.half() if half and v.is_floating_point() else v
             for k, v in ckpt['state_dict'].items()}
    info['provenance'] = dict(provenance)
    save_model_file(out, state, info)
    return info


def export_adaptive(short: str, out: str, provenance: dict, window: int = 251,
                    **options) -> dict:
    """Write a model file that wraps a short-window stage-1 model in
    :class:`~spikeclip.models.encoders.AdaptiveWindow` (no retraining: the short model's weights
    are kept as they are, under ``encoder.short``).

    Args:
        short (str): A stage-1 checkpoint or ``pretrained:<name>`` of a short-window encoder.
        out (str): Output file, written atomically.
        provenance (dict): How it was made (recorded with the short model's own provenance
            under ``short``).
        window (int): The longest window. Defaults to 251.
        **options: Further :class:`AdaptiveWindow` arguments (``levels``, ``threshold``, ...).

    Returns:
        dict: The saved ``meta.spikeclip``.

    Raises:
        CheckpointError: Not a stage-1 checkpoint.
    """
    from ..models.stages.checkpoint_meta import read_meta, save_model_file
    from ..utils.checkpoint import load_checkpoint_file
    from ..utils.errors import CheckpointError
    ckpt = load_checkpoint_file(resolve_checkpoint(short))
    info = dict(read_meta(ckpt))
    model = dict(info.get('model') or {})
    if info.get('stage') != 'coarse' or 'encoder' not in model or 'state_dict' not in ckpt:
        raise CheckpointError(f'{short} is not a SpikeCLIP stage-1 checkpoint')
    encoder = model['encoder']
    short_window = encoder.get('window')
    model['encoder'] = dict(type='AdaptiveWindow', short=encoder, window=window, **options)
    model['data_preprocessor'] = dict(model.get('data_preprocessor') or {},
                                      type='SpikeDataPreprocessor', window=window,
                                      min_window=short_window)
    info['model'] = model
    info['provenance'] = dict(provenance,
                              short=dict(source=short, **(info.get('provenance') or {})))
    state = {(f'encoder.short.{k[len("encoder."):]}' if k.startswith('encoder.') else k): v
             for k, v in ckpt['state_dict'].items()}
    save_model_file(out, state, info)
    return info


__all__ = ['PRETRAINED_DIR', 'export_adaptive', 'PRETRAINED_MODELS', 'PREFIX', 'export_pretrained',
           'is_pretrained_name', 'pretrained_path', 'resolve_checkpoint', 'source_reference']
