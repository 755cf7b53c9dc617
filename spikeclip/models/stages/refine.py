"""Stage 3 (refinement) and the combined model (spikes in, image and class out)."""
from typing import List, Optional, Sequence, Union

import torch

from ...pretrained import source_reference
from ...registry import ADAPTERS, ENCODERS, MODELS, REFINERS
from ...utils.errors import ConfigError
from .base import (
    StageModel,
    attach_predictions,
    build_losses,
    class_probs,
    context_spikes,
    freeze,
    load_part,
    load_stage_checkpoint,
    stack_field,
    to_plain,
)

PART_NAMES = ('encoder', 'hq_lq', 'class_prompt')


@MODELS.register_module()
class RefineModel(StageModel):
    """Stage-3 model: a refiner trained on the frozen coarse image, guided by frozen prompts.

    Args:
        refiner (dict): Refiner config (``REFINERS``), e.g. ``dict(type='UNetRefiner')``.
        clip (dict): Frozen CLIP config.
        losses (list[dict], optional): Loss configs; the context holds ``pred`` (refined),
            ``coarse``, ``target`` (the reference where the data has one, else the coarse image
            when ``fidelity_to='auto'``), ``labels``, ``clip``, ``class_features`` (learned class
            prompts) and ``prompt_features`` (learned high/low-quality prompts).
        prompt_checkpoint (str, optional): Stage-2 checkpoint (holds the frozen stage-1 encoder
            and the prompts) for training.
        parts (dict, optional): Configs of the frozen parts ``encoder``, ``hq_lq``,
            ``class_prompt`` (rebuilding from a checkpoint that holds their weights).
        class_names (list[str] | str, optional): Defaults to the stage-2 checkpoint's.
        prompt_names (list[str] | str, optional): Prompt text per class. Defaults to the
            stage-2 checkpoint's.
        fidelity_to (str): ``'auto'`` (reference if present, else coarse), ``'target'`` or
            ``'coarse'``: what the ``target`` context entry is. Defaults to ``'auto'``.
        classify_on (str): ``'refined'`` or ``'coarse'`` image for class scores.
        classify_crop (int, optional): See :class:`CoarseModel`. Defaults to the stage-2
            checkpoint's.
        clip_identity (dict, optional): The CLIP the frozen prompts were learned with. Read from
            the stage-2 checkpoint when training, stored in this model's checkpoint config; a
            CLIP of another architecture, activation or set of weights is refused
            (:func:`~spikeclip.models.clip.frozen_clip.check_clip_identity`).
        data_preprocessor (dict, optional): Defaults to the stage-2 model's.
    """
    stage = 'refine'

    def __init__(self,
                 refiner: dict,
                 clip: dict,
                 losses: Optional[Sequence[dict]] = None,
                 prompt_checkpoint: Optional[str] = None,
                 parts: Optional[dict] = None,
                 class_names: Union[List[str], str, None] = None,
                 prompt_names: Union[List[str], str, None] = None,
                 fidelity_to: str = 'auto',
                 classify_on: str = 'refined',
                 classify_crop: Optional[int] = None,
                 clip_identity: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if (prompt_checkpoint is None) == (parts is None):
            raise ConfigError('give exactly one of prompt_checkpoint (a stage-2 checkpoint) and '
                              'parts (the frozen part configs, when rebuilding from a checkpoint)')
        state, sources = None, {}
        identity_source = 'the checkpoint this model was rebuilt from'
        if prompt_checkpoint is not None:
            prompt_cfg, state, info = load_stage_checkpoint(prompt_checkpoint, 'prompt', True)
            sources = dict(info.get('sources') or {}, prompt=source_reference(prompt_checkpoint))
            parts = dict(encoder=prompt_cfg['coarse'], hq_lq=prompt_cfg['hq_lq'],
                         class_prompt=prompt_cfg['class_prompt'])
            if class_names is None:
                class_names = prompt_cfg.get('class_names')
                prompt_names = prompt_cfg.get('prompt_names') if prompt_names is None \
                    else prompt_names
            if classify_crop is None:
                classify_crop = prompt_cfg.get('classify_crop')
            clip_identity = prompt_cfg.get('clip_identity')
            identity_source = prompt_checkpoint
            data_preprocessor = data_preprocessor or prompt_cfg.get('data_preprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if fidelity_to not in ('auto', 'target', 'coarse'):
            raise ConfigError(f"fidelity_to must be 'auto', 'target' or 'coarse', got "
                              f'{fidelity_to!r}')
        if classify_on not in ('refined', 'coarse'):
            raise ConfigError(f"classify_on must be 'refined' or 'coarse', got {classify_on!r}")
        parts = to_plain(parts)
        self.sources = sources
        # The prompts are token embeddings of one CLIP: with another they mean nothing.
        self.set_clip(clip, clip_identity, identity_source, required=True)
        self.set_classes(class_names, prompt_names, classify_crop)
        self.encoder = freeze(ENCODERS.build(parts['encoder']))
        self.hq_lq = self._build_adapter(parts.get('hq_lq'))
        self.class_prompt = self._build_adapter(parts.get('class_prompt'))
        if state is not None:
            for name in PART_NAMES:
                if getattr(self, name) is not None:
                    load_part(getattr(self, name), state, name, prompt_checkpoint)
        self.refiner = REFINERS.build(to_plain(refiner))
        self.losses = build_losses(losses)
        self.fidelity_to = fidelity_to
        self.classify_on = classify_on
        self.record_cfg(refiner=refiner, clip=clip, losses=losses, parts=parts,
                        fidelity_to=fidelity_to, classify_on=classify_on)

    def _build_adapter(self, cfg: Optional[dict]):
        if cfg is None:
            return None
        default_args = dict(clip=self.clip)
        if cfg.get('type') == 'ClassPromptLearner':
            default_args.update(class_names=self.class_names, prompt_names=self.prompt_names)
        return freeze(ADAPTERS.build(cfg, default_args=default_args))

    def train(self, mode: bool = True):
        super().train(mode)
        for name in PART_NAMES:  # frozen parts stay in eval mode
            if getattr(self, name, None) is not None:
                getattr(self, name).eval()
        return self

    def predict_images(self, inputs: torch.Tensor):
        return self.forward_tensor(inputs)

    def prompt_features(self):
        """Frozen ``(high/low-quality [2, D] or None, class [K, D] or None)`` prompt features."""
        with torch.no_grad():
            hq = self.hq_lq(self.clip) if self.hq_lq is not None else None
            cls = self.class_prompt(self.clip) if self.class_prompt is not None else None
        return hq, cls

    def forward_tensor(self, inputs: torch.Tensor, data_samples: Optional[list] = None):
        """``(refined, coarse)``, each ``[N, 1, H, W]``, of spikes ``[N, T, H, W]``."""
        with torch.no_grad():
            coarse = self.encoder(inputs)
        return self.refiner(coarse), coarse

    def loss_context(self, inputs: torch.Tensor, data_samples: Optional[list]) -> dict:
        refined, coarse = self.forward_tensor(inputs)
        hq_prompts, cls_prompts = self.prompt_features()
        target = None
        if self.fidelity_to in ('auto', 'target'):
            target = stack_field(data_samples, 'gt_img')
        if target is None and self.fidelity_to in ('auto', 'coarse'):
            target = coarse
        return dict(pred=refined, coarse=coarse, target=target, spikes=inputs,
                    labels=stack_field(data_samples, 'gt_label'), clip=self.clip,
                    class_features=cls_prompts, prompt_features=hq_prompts,
                    context_spikes=context_spikes(data_samples, inputs),
                    reconstruct=lambda spikes: self.forward_tensor(spikes)[0])

    def predict(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> list:
        """Data samples with ``pred_img`` (refined), ``pred_coarse``, ``pred_score``/
        ``pred_label`` (learned class prompts)."""
        refined, coarse = self.forward_tensor(inputs)
        _, cls_prompts = self.prompt_features()
        scores = None
        if cls_prompts is not None:
            image = refined if self.classify_on == 'refined' else coarse
            scores = class_probs(self.clip, image, cls_prompts)
        return attach_predictions(data_samples, refined, coarse, scores)


@MODELS.register_module()
class SpikeCLIP(RefineModel):
    """The combined model (stage 1 + 2 + 3 in one file): spikes in, image and class out.

    Built by ``tools/combine_checkpoints.py`` from the three stage checkpoints; same interface
    as :class:`RefineModel`, with every part frozen by default.
    """
    stage = 'pipeline'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refiner.requires_grad_(False)
