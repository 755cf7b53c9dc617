"""Shared machinery of the stage models: the loss context, stage checkpoints, frozen parts."""
import copy
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import nn

from ...registry import LOSSES, MODELS
from ...utils.checkpoint import load_checkpoint_file
from ...utils.errors import CheckpointError, ConfigError, NonFiniteLossError

STAGES = ('coarse', 'prompt', 'refine', 'pipeline')
STAGE_TITLES = {
    'coarse': 'stage 1 (coarse reconstruction)',
    'prompt': 'stage 2 (prompt learning)',
    'refine': 'stage 3 (refinement)',
    'pipeline': 'the combined model',
}


def freeze(module: nn.Module) -> nn.Module:
    """Turn off gradients of ``module`` and put it in eval mode."""
    module.requires_grad_(False)
    module.eval()
    return module


def build_losses(cfgs: Optional[Sequence[dict]]) -> nn.ModuleList:
    """Build loss configs.

    A config may carry ``inputs_from``, a mapping from the loss's inputs to other context entries,
    e.g. ``dict(type='L1Loss', name='loss_identity', inputs_from=dict(target='coarse'))`` compares
    the refined image with the coarse one (an identity term that keeps a refiner from drifting).

    Raises:
        ConfigError: Duplicate ``loss_*`` names, or ``inputs_from`` naming an input the loss lacks.
    """
    losses = nn.ModuleList()
    for cfg in cfgs or []:
        cfg = dict(cfg)
        mapping = dict(cfg.pop('inputs_from', None) or {})
        loss = LOSSES.build(cfg)
        unknown = set(mapping) - set(loss.inputs)
        if unknown:
            raise ConfigError(f'{cfg["type"]}: inputs_from names {sorted(unknown)}, but its '
                              f'inputs are {list(loss.inputs)}')
        loss.inputs_from = mapping
        losses.append(loss)
    names = [loss.name for loss in losses]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f'two losses share the name(s) {sorted(dup)}; give them name=...')
    return losses


def compute_losses(losses: Iterable[nn.Module], ctx: Dict[str, object]) -> Dict[str, torch.Tensor]:
    """Call each loss with the context entries it declares in ``inputs`` (renamed by its
    ``inputs_from``).

    Raises:
        ConfigError: A loss needs an entry the data cannot provide (e.g. ``target`` on data
            without reference images).
    """
    # Loss inputs are float32 even when the forward pass ran under bf16 autocast; the CLIP losses
    # also normalise their features and compute their logits in float32 (FrozenCLIP), with
    # CLIP's towers in the ambient precision.
    ctx = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
           for k, v in ctx.items()}
    out = {}
    for loss in losses:
        keys = {k: loss.inputs_from.get(k, k) for k in loss.inputs}
        missing = [v for v in keys.values() if ctx.get(v) is None]
        if missing:
            raise ConfigError(f'{type(loss).__name__} ({loss.name}) needs {missing}, which this '
                              f'model/data does not provide (available: '
                              f'{sorted(k for k, v in ctx.items() if v is not None)})')
        out[loss.name] = loss(**{k: ctx[v] for k, v in keys.items()})
    return out


def stack_field(data_samples: Optional[Sequence], field: str) -> Optional[torch.Tensor]:
    """Stack ``field`` of all data samples, or None if any sample lacks it."""
    if not data_samples or not all(field in s for s in data_samples):
        return None
    return torch.stack([getattr(s, field) for s in data_samples])


def load_stage_checkpoint(path: str, expected: Union[str, Tuple[str, ...]] = STAGES,
                          with_info: bool = False, resolve: bool = False,
                          cfg_options: Optional[dict] = None) -> tuple:
    """Load a SpikeCLIP checkpoint, check which stage wrote it and check its stored model config.

    Every path that builds a model from a checkpoint goes through here (``init_model``, the
    stage-2/3 models, ``combine_checkpoints``, the benchmarks, ``tools/test.py``): the stored
    config is checked by :func:`~.stored_config.prepare_stored_model_cfg` before anything is
    built from it.

    Args:
        path (str): Checkpoint file or ``pretrained:<name>``.
        expected (str | tuple[str]): Acceptable stage(s): ``'coarse'``, ``'prompt'``, ...
            Defaults to any stage.
        with_info (bool): Also return ``meta['spikeclip']`` (stage, sources, env, ...).
        resolve (bool): The whole stored model is to be built: apply ``cfg_options`` and resolve
            its CLIP weights (a relative file next to the checkpoint; a tag that would download
            is refused offline). Defaults to False (stages 2/3 take only the stored parts).
        cfg_options (dict, optional): With ``resolve``, ``--cfg-options`` overrides of the
            stored model config (keys ``model.<field>``), applied after it is checked.

    Returns:
        tuple: The self-contained model config (``meta['spikeclip']['model']``, checked), the
        state dict, and with ``with_info`` the ``meta['spikeclip']`` dict.

    Raises:
        CheckpointError: Missing/unsafe file, not a SpikeCLIP checkpoint, the wrong stage, or a
            stored model config that could build anything but the toolkit's registered parts.
    """
    from ...pretrained import resolve_checkpoint
    from .stored_config import prepare_stored_model_cfg
    path = resolve_checkpoint(path)  # pretrained:<name> -> its file (relative paths resolve there)
    expected = (expected, ) if isinstance(expected, str) else tuple(expected)
    ckpt = load_checkpoint_file(path)
    info = (ckpt.get('meta') or {}).get('spikeclip')
    wanted = ' or '.join(STAGE_TITLES[s] for s in expected)
    if not isinstance(info, dict) or 'stage' not in info or 'model' not in info:
        raise CheckpointError(f'{path} is not a SpikeCLIP stage checkpoint (no meta.spikeclip); '
                              f'expected {wanted}')
    if info['stage'] not in expected:
        stage = info['stage']
        title = STAGE_TITLES.get(stage, repr(stage)) if isinstance(stage, str) else repr(stage)
        raise CheckpointError(f'{path} is a checkpoint of {title}, but {wanted} is needed here')
    if not info['model']:
        raise CheckpointError(f'{path} carries no SpikeCLIP model config (meta.spikeclip.model)')
    if not isinstance(ckpt.get('state_dict'), dict):
        raise CheckpointError(f'{path} has no state_dict')
    out = (prepare_stored_model_cfg(info['model'], path, resolve=resolve, options=cfg_options),
           ckpt['state_dict'])
    return out + (info, ) if with_info else out


def sub_state_dict(state_dict: dict, prefix: str) -> dict:
    """Entries of ``state_dict`` under ``prefix.``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in state_dict.items() if k.startswith(prefix + '.')}


def load_part(module: nn.Module, state_dict: dict, prefix: str, source: str) -> None:
    """Load ``state_dict[prefix.*]`` into ``module`` strictly, with errors that name ``source``."""
    part = sub_state_dict(state_dict, prefix)
    if not part:
        raise CheckpointError(f'{source} holds no weights for {prefix!r}')
    try:
        module.load_state_dict(part, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f'{source}: the {prefix!r} weights do not fit the model '
                              f'({type(module).__name__}): {e}') from e


def to_plain(cfg):
    """A config (ConfigDict, dict, list, nested) as plain dicts and lists, so that it pickles
    into checkpoints that load with ``weights_only=True``."""
    if isinstance(cfg, (Config, ConfigDict)):
        cfg = cfg.to_dict()
    if isinstance(cfg, dict):
        return {k: to_plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(to_plain(v) for v in cfg)
    return copy.deepcopy(cfg)


def build_preprocessor(cfg: Union[dict, nn.Module]) -> nn.Module:
    """Build the data preprocessor from our registry, so that a stage model constructed directly in
    Python (outside a Runner's ``default_scope``) finds ``SpikeDataPreprocessor``."""
    return MODELS.build(to_plain(cfg)) if isinstance(cfg, dict) else cfg


class StageModel(BaseModel):
    """Base of the stage models.

    Subclasses set ``stage`` and implement :meth:`export_cfg`, the self-contained model config
    stored in every checkpoint (earlier-stage checkpoint paths replaced by the configs of the
    parts they held), so that a checkpoint alone rebuilds its model.
    """
    stage: str = ''
    # Earlier-stage checkpoints this model was built from ({'coarse': path, ...}), recorded in
    # checkpoints so that tools can find the whole chain.
    sources: Dict[str, str] = {}

    # Side of the centred spike crop the class scores were trained and tested on (the
    # datasets' crop_size); see classification_view.
    classify_crop: Optional[int] = None

    def export_cfg(self) -> dict:
        raise NotImplementedError

    def predict_images(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(pred_img, pred_coarse)`` ``[N, 1, H, W]`` of spikes ``[N, T, H, W]``."""
        raise NotImplementedError

    def classification_view(self, inputs: torch.Tensor) -> Optional[torch.Tensor]:
        """The spikes the class scores are computed on, when they are not ``inputs`` themselves.

        A model trained and tested on ``classify_crop`` x ``classify_crop`` centre crops (the
        U-CALTECH/U-CIFAR datasets crop 224 of 250) classifies the same centre crop of a larger
        recording, so that ``tools/infer.py`` on a whole ``.npz`` gives the scores
        ``tools/test.py`` gave; the images still cover the whole frame.

        Args:
            inputs (torch.Tensor): Spikes ``[N, T, H, W]``.

        Returns:
            torch.Tensor | None: ``[N, T, c, c]`` centre crop (the datasets' crop: rows
            ``(H - c) // 2`` onward), or None when there is no ``classify_crop`` or the input
            is not larger than it.
        """
        c = self.classify_crop
        h, w = inputs.shape[-2:]
        if c is None or h < c or w < c or (h, w) == (c, c):
            return None
        top, left = (h - c) // 2, (w - c) // 2
        return inputs[..., top:top + c, left:left + c]

    def predict_full_frame(self, inputs: torch.Tensor, data_samples: Optional[list]) -> list:
        """``'predict'`` on a recording larger than :meth:`classification_view`: every score
        from the view, ``pred_img``/``pred_coarse`` of the whole frame."""
        samples = self.forward(self.classification_view(inputs), data_samples, mode='predict')
        pred_img, pred_coarse = self.predict_images(inputs)
        for i, s in enumerate(samples):
            s.pred_img = pred_img[i].detach()
            s.pred_coarse = pred_coarse[i].detach()
        return samples

    def parse_losses(self, losses: Dict[str, torch.Tensor]):
        """MMEngine's loss parsing, refusing NaN/Inf terms.

        Raises:
            NonFiniteLossError: A loss term is NaN or Inf; names the term and the iteration. The
                step is not taken, so the run stops before anything corrupt can be saved.
        """
        for name, value in losses.items():
            if name.startswith('loss') and not torch.isfinite(value).all():
                it = MessageHub.get_current_instance().get_info('iter')
                raise NonFiniteLossError(
                    f'loss term {name!r} is {value.detach().float().mean().item()} at iteration '
                    f'{it}; stopping before the optimiser step, nothing corrupt was saved')
        return super().parse_losses(losses)


def build_clip(cfg: Optional[dict]):
    """Build the frozen CLIP (``dict(type='FrozenCLIP', arch=..., pretrained=...)``).

    Stage checkpoints record its :attr:`~spikeclip.models.clip.FrozenCLIP.identity` (arch,
    activation, weights fingerprint), so that later stages can refuse another CLIP.

    Its weights are left out of the enclosing model's ``state_dict`` (its config names them, and
    ViT-B/32 would add ~600 MB to every checkpoint); loading a state dict without them keeps the
    weights it was built with.
    """
    if cfg is None:
        return None
    cfg = dict(cfg)
    cfg.setdefault('type', 'FrozenCLIP')
    clip = MODELS.build(cfg)
    clip._register_state_dict_hook(_drop_frozen_state)
    clip._register_load_state_dict_pre_hook(_fill_frozen_state, with_module=True)
    return clip


def _drop_frozen_state(module, state_dict, prefix, local_metadata):
    if not getattr(module, '_export_frozen_state', False):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            del state_dict[key]


def _fill_frozen_state(module, state_dict, prefix, *args):
    module._export_frozen_state = True
    try:
        own = module.state_dict(prefix=prefix)
    finally:
        module._export_frozen_state = False
    for key, value in own.items():
        state_dict.setdefault(key, value)


def check_classify_crop(classify_crop: Optional[int]) -> Optional[int]:
    """Validate ``classify_crop`` (None or a positive int).

    Raises:
        ConfigError: Anything else.
    """
    if classify_crop is not None and (not isinstance(classify_crop, int) or classify_crop < 1):
        raise ConfigError(f'classify_crop must be None or a positive int, got {classify_crop!r}')
    return classify_crop


def resolve_class_names(class_names) -> list:
    """A list of class names from a list, a named list (``'ucaltech'``), or a text file."""
    if class_names is None:
        return []
    if isinstance(class_names, (list, tuple)):
        return [str(c) for c in class_names]
    from ...datasets import load_class_names
    return list(load_class_names(class_names))


__all__ = [
    'STAGES', 'STAGE_TITLES', 'StageModel', 'build_clip', 'build_losses', 'check_classify_crop',
    'compute_losses', 'freeze', 'load_part', 'load_stage_checkpoint', 'resolve_class_names',
    'stack_field', 'sub_state_dict', 'to_plain'
]


def attach_predictions(data_samples: Optional[Sequence], pred_img: torch.Tensor,
                       pred_coarse: Optional[torch.Tensor] = None,
                       scores: Optional[torch.Tensor] = None, **extra) -> list:
    """Write predictions into data samples (made empty ones if None) and return them.

    Args:
        data_samples (Sequence[SpikeDataSample], optional): One per batch item.
        pred_img (torch.Tensor): Final images ``[N, 1, H, W]``.
        pred_coarse (torch.Tensor, optional): Stage-1 images ``[N, 1, H, W]``.
        scores (torch.Tensor, optional): Class probabilities ``[N, K]``.
        **extra: Further ``[N, ...]`` tensors stored under their keyword.
    """
    from ...structures import SpikeDataSample
    n = pred_img.shape[0]
    samples = list(data_samples) if data_samples is not None else [
        SpikeDataSample() for _ in range(n)]
    for i, s in enumerate(samples):
        s.pred_img = pred_img[i].detach()
        if pred_coarse is not None:
            s.pred_coarse = pred_coarse[i].detach()
        if scores is not None:
            s.pred_score = scores[i].detach()
            s.pred_label = scores[i].argmax().detach()
        for k, v in extra.items():
            if v is not None:
                s.set_field(v[i].detach(), k)
    return samples


def class_probs(clip, images: torch.Tensor, class_features: torch.Tensor) -> torch.Tensor:
    """CLIP zero-shot probabilities ``[N, K]`` of images ``[N, 1, H, W]`` over class features."""
    return clip.logits(clip.encode_image(images), class_features).softmax(-1)  # float32
