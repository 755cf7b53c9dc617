"""The SpikeCLIP entry of a checkpoint, ``checkpoint['meta']['spikeclip']``: written and read here
only.

Every stage checkpoint (written by :class:`~spikeclip.engine.hooks.StageInfoHook`), combined
model (:func:`~spikeclip.apis.combine_checkpoints`) and shipped model file
(:func:`~spikeclip.pretrained.export_pretrained`) carries it. Fields:

* ``stage``: ``'coarse'``, ``'prompt'``, ``'refine'`` or ``'pipeline'`` (the combined model);
  stage checkpoints are recognised, and wrong-stage ones refused, through it;
* ``model``: the self-contained model config that rebuilds the model
  (:mod:`~spikeclip.models.stages.stored_config` checks it before anything is built);
* ``class_names``: the model's class list (index = label);
* ``sources``: the earlier-stage checkpoints the model was built from;
* optional: ``seed``, ``env`` (library versions, git commit), ``provenance`` (shipped models).
"""
from typing import Any, Dict, Optional, Sequence

META_KEY = 'spikeclip'  # checkpoint['meta'][META_KEY]


def stage_meta(stage: Optional[str], model: Optional[dict],
               class_names: Optional[Sequence[str]] = None,
               sources: Optional[Dict[str, Any]] = None, **extra) -> Dict[str, Any]:
    """The entry of a checkpoint of ``stage`` whose model config is ``model``.

    Args:
        stage (str, optional): The stage (see the module doc).
        model (dict, optional): The self-contained model config.
        class_names (Sequence[str], optional): The model's class names. Defaults to none.
        sources (dict, optional): Earlier-stage checkpoints it was built from. Defaults to none.
        **extra: Further fields (``seed``, ``env``, ``provenance``).
    """
    return dict(stage=stage, model=model, class_names=list(class_names or []),
                sources=dict(sources or {}), **extra)


def read_meta(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
    """The SpikeCLIP entry of a loaded checkpoint; ``{}`` when it has none (another program's
    checkpoint)."""
    meta = checkpoint.get('meta')
    info = meta.get(META_KEY) if isinstance(meta, dict) else None
    return info if isinstance(info, dict) else {}


def write_meta(checkpoint: Dict[str, Any], info: Dict[str, Any]) -> Dict[str, Any]:
    """Put ``info`` (from :func:`stage_meta`) into a checkpoint dict about to be saved (MMEngine's,
    in ``before_save_checkpoint``); returns the checkpoint."""
    if not isinstance(checkpoint.get('meta'), dict):
        checkpoint['meta'] = {}
    checkpoint['meta'][META_KEY] = info
    return checkpoint


def save_model_file(path: str, state_dict: Dict[str, Any], info: Dict[str, Any]) -> None:
    """Write a model file of weights and the SpikeCLIP entry (no optimiser or run state),
    atomically; it loads as a stage checkpoint."""
    from ...utils.atomic import atomic_torch_save
    atomic_torch_save(write_meta(dict(state_dict=state_dict), info), path)
