"""Shared machinery of the stage models: the loss context, stage checkpoints, frozen parts."""
import copy
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import nn

from ...registry import LOSSES, MODELS
from ...utils.checkpoint import load_checkpoint_file, load_weights
from ...utils.errors import CheckpointError, ConfigError, NonFiniteLossError

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


def compute_losses(losses: Iterable[nn.Module], ctx: Dict[str, object],
                   hints: Optional[Dict[str, str]] = None) -> Dict[str, torch.Tensor]:
    """Call each loss with the context entries it declares in ``inputs`` (renamed by its
    ``inputs_from``).

    Args:
        losses (Iterable[BaseLoss]): Built by :func:`build_losses`.
        ctx (dict): The stage's loss context.
        hints (dict[str, str], optional): Context entry -> what provides it, added to the error
            of a loss that lacks the entry.

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
            how = ''.join(f'; {k}: {hints[k]}' for k in missing if k in (hints or {}))
            raise ConfigError(f'{type(loss).__name__} ({loss.name}) needs {missing}, which this '
                              f'model/data does not provide (available: '
                              f'{sorted(k for k, v in ctx.items() if v is not None)}){how}')
        out[loss.name] = loss(**{k: ctx[v] for k, v in keys.items()})
    return out


def stack_field(data_samples: Optional[Sequence], field: str) -> Optional[torch.Tensor]:
    """Stack ``field`` of all data samples, or None if any sample lacks it."""
    if not data_samples or not all(field in s for s in data_samples):
        return None
    return torch.stack([getattr(s, field) for s in data_samples])


def context_spikes(data_samples: Optional[Sequence], inputs: torch.Tensor) -> torch.Tensor:
    """The ``context_spikes`` loss-context entry: the data samples' longer clips ``[N, L, H, W]``
    (0/1 floats) where every sample has one, else the input window ``inputs`` itself."""
    clips = stack_field(data_samples, 'context_spikes')
    return inputs if clips is None else clips.to(inputs.device, torch.float32)


def load_stage_checkpoint(path: str, expected: Union[str, Tuple[str, ...]] = tuple(STAGE_TITLES),
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
    from .checkpoint_meta import read_meta
    from .stored_config import prepare_stored_model_cfg
    path = resolve_checkpoint(path)  # pretrained:<name> -> its file (relative paths resolve there)
    expected = (expected, ) if isinstance(expected, str) else tuple(expected)
    ckpt = load_checkpoint_file(path)
    info = read_meta(ckpt)
    wanted = ' or '.join(STAGE_TITLES[s] for s in expected)
    if 'stage' not in info or 'model' not in info:
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
    load_weights(module, part, source, f"the model's {prefix!r} part ({type(module).__name__})")


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
    """Template of the stage models: what every stage does the same way.

    As in mmagic's ``BaseEditModel``, :meth:`forward` dispatches on ``mode`` to one method per
    mode (:meth:`forward_tensor`, :meth:`loss`, :meth:`predict`), and a recording larger than
    the classification view (:meth:`classification_view`) is predicted through
    :meth:`predict_full_frame`. The template also owns the data-preprocessor default
    (``SpikeDataPreprocessor``), the class names, the frozen CLIP and its identity check, the
    hand-written (zero-shot) class features, the loss mechanism (``losses=[...]`` configs and
    the loss context) and the config every checkpoint stores (:meth:`export_cfg`).

    A stage sets :attr:`stage`, builds its parts, calls :meth:`record_cfg` with its own fields
    at the end of ``__init__``, and implements :meth:`forward_tensor`, :meth:`predict`,
    :meth:`predict_images` and :meth:`loss_context`.

    Args:
        data_preprocessor (dict | nn.Module, optional): Defaults to ``SpikeDataPreprocessor``.
        init_cfg (dict, optional): MMEngine initialisation config.
    """
    stage: str = ''
    # Earlier-stage checkpoints this model was built from ({'coarse': path, ...}), recorded in
    # checkpoints so that tools can find the whole chain.
    sources: Dict[str, str] = {}

    # Side of the centred spike crop the class scores were trained and tested on (the
    # datasets' crop_size); see classification_view.
    classify_crop: Optional[int] = None

    # Context entry -> what provides it, appended to the error of a loss that lacks it.
    loss_hints: Dict[str, str] = {}

    def __init__(self, data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = None):
        self._preprocessor_cfg = data_preprocessor or dict(type='SpikeDataPreprocessor')
        super().__init__(data_preprocessor=build_preprocessor(self._preprocessor_cfg),
                         init_cfg=init_cfg)
        self.class_names: List[str] = []
        self.prompt_names: Optional[List[str]] = None
        self._cfg: dict = {}

    # ------------------------------------------------------------------ parts

    def set_classes(self, class_names, prompt_names=None,
                    classify_crop: Optional[int] = None) -> None:
        """Set :attr:`class_names` (a list, a named list or a text file), :attr:`prompt_names`
        (see :func:`~spikeclip.datasets.load_prompt_names`) and :attr:`classify_crop`.

        Raises:
            ConfigError: A ``classify_crop`` that is not None or a positive int.
        """
        from ...datasets.base import load_prompt_names
        self.classify_crop = check_classify_crop(classify_crop)
        self.class_names = resolve_class_names(class_names)
        self.prompt_names = list(load_prompt_names(self.class_names, prompt_names)) \
            if prompt_names is not None else None

    def set_clip(self, clip: Optional[dict], identity: Optional[dict] = None,
                 source: str = 'its checkpoint', required: bool = False) -> None:
        """Build the frozen CLIP (:func:`build_clip`) as :attr:`clip` and check it is the one
        ``identity`` records (:func:`~spikeclip.models.clip.frozen_clip.check_clip_identity`).

        Args:
            clip (dict, optional): FrozenCLIP config; None for a stage without CLIP.
            identity (dict, optional): The :attr:`FrozenCLIP.identity` the learned parts were
                made with.
            source (str): Where ``identity`` comes from, for messages.
            required (bool): The model holds parts learned with one CLIP (stage 3): a missing
                ``identity`` is warned about instead of skipped. Defaults to False.

        Raises:
            CheckpointError: Another CLIP than ``identity`` records.
        """
        from ..clip.frozen_clip import check_clip_identity
        self.clip = build_clip(clip)
        if self.clip is not None and (identity is not None or required):
            check_clip_identity(identity, self.clip.identity, f'this {type(self).__name__}',
                                source)

    def zero_shot_features(self, template: str) -> Optional[torch.Tensor]:
        """Features ``[K, D]`` of the hand-written prompts ``template.format(name)`` of the
        class names (the zero-shot CLIP classifier), or None without CLIP or class names."""
        from ..adapters.class_prompt import zero_shot_class_features
        if getattr(self, 'clip', None) is None or not self.class_names:
            return None
        return zero_shot_class_features(self.clip, self.class_names, template, self.prompt_names)

    # ----------------------------------------------------------------- config

    def record_cfg(self, **fields) -> None:
        """Record the config :meth:`export_cfg` returns: ``type``, the stage's own ``fields``
        (plain copies), and what every stage stores (class and prompt names, classify crop,
        CLIP identity where there is a CLIP, data preprocessor)."""
        cfg = dict(type=type(self).__name__)
        cfg.update({k: to_plain(v) for k, v in fields.items()})
        cfg.update(class_names=list(self.class_names), prompt_names=self.prompt_names,
                   classify_crop=self.classify_crop,
                   data_preprocessor=to_plain(self._preprocessor_cfg))
        if getattr(self, 'clip', None) is not None:
            cfg['clip_identity'] = self.clip.identity
        self._cfg = cfg

    def export_cfg(self) -> dict:
        """The self-contained model config stored in every checkpoint: earlier-stage checkpoint
        paths are replaced by the configs of the parts they held, so that a checkpoint alone
        rebuilds its model."""
        return copy.deepcopy(self._cfg)

    # ----------------------------------------------------------------- modes

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """Dispatch to :meth:`forward_tensor`, :meth:`loss` or :meth:`predict`.

        Args:
            inputs (torch.Tensor): Spike window ``[N, T, H, W]`` (0/1 floats).
            data_samples (list[SpikeDataSample], optional): Annotations.
            mode (str): ``'tensor'`` (raw outputs), ``'loss'`` (dict of ``loss_*`` terms and
                log entries) or ``'predict'`` (data samples with ``pred_*`` fields).

        Raises:
            ValueError: Another mode.
        """
        if mode == 'tensor':
            return self.forward_tensor(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            if self.classification_view(inputs) is not None:
                return self.predict_full_frame(inputs, data_samples)
            return self.predict(inputs, data_samples)
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")

    def forward_tensor(self, inputs: torch.Tensor, data_samples: Optional[list] = None):
        """Raw outputs of spikes ``[N, T, H, W]`` (see each stage)."""
        raise NotImplementedError

    def predict(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> list:
        """Data samples with predictions of spikes ``[N, T, H, W]`` (see each stage)."""
        raise NotImplementedError

    def loss_context(self, inputs: torch.Tensor, data_samples: Optional[list]) -> dict:
        """The entries the configured losses may take (see :mod:`spikeclip.models.losses.base`)."""
        raise NotImplementedError

    def loss(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> dict:
        """Each configured loss on the stage's :meth:`loss_context`.

        Raises:
            ConfigError: No losses configured, or a loss needs an entry the data lacks.
        """
        if not len(self.losses):
            raise ConfigError(f'{type(self).__name__} has no losses configured; add '
                              'model.losses')
        return compute_losses(self.losses, self.loss_context(inputs, data_samples),
                              self.loss_hints)

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
        samples = self.predict(self.classification_view(inputs), data_samples)
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


def stage_of(model_type: str) -> Optional[str]:
    """The :attr:`StageModel.stage` of a registered model type name (``'CoarseModel'`` ->
    ``'coarse'``), or None for anything that is not a stage model."""
    cls = MODELS.module_dict.get(model_type) if isinstance(model_type, str) else None
    return cls.stage if isinstance(cls, type) and issubclass(cls, StageModel) else None


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
    'STAGE_TITLES', 'StageModel', 'build_clip', 'build_losses', 'check_classify_crop',
    'compute_losses', 'context_spikes', 'freeze', 'load_part', 'load_stage_checkpoint',
    'resolve_class_names', 'stack_field', 'stage_of', 'sub_state_dict', 'to_plain'
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
