"""Stage 2: prompt learning around a frozen CLIP, on the outputs of a frozen stage-1 encoder."""
import os.path as osp
from typing import List, Optional, Union

import torch
import torch.nn.functional as F

from ...registry import ADAPTERS, ENCODERS, MODELS
from ...utils.errors import ConfigError
from .base import (
    StageModel,
    attach_predictions,
    build_clip,
    build_preprocessor,
    class_probs,
    freeze,
    load_part,
    load_stage_checkpoint,
    resolve_class_names,
    stack_field,
    to_plain,
)


def build_frozen_encoder(checkpoint: Optional[str], encoder: Optional[dict]):
    """The stage-1 encoder, frozen: from a stage-1 checkpoint, or from ``encoder`` (weights then
    come with the enclosing checkpoint).

    Returns:
        tuple: ``(encoder module, encoder cfg, stage-1 model cfg or None)``.

    Raises:
        ConfigError: Neither or both of ``checkpoint`` and ``encoder`` given.
        CheckpointError: Missing file, a checkpoint of another stage, or weights that do not fit.
    """
    if (checkpoint is None) == (encoder is None):
        raise ConfigError('give exactly one of coarse_checkpoint (a stage-1 checkpoint) and '
                          'coarse (the encoder config, used when rebuilding from a checkpoint)')
    coarse_cfg = None
    if checkpoint is not None:
        coarse_cfg, state = load_stage_checkpoint(checkpoint, 'coarse')
        encoder = coarse_cfg['encoder']
    module = ENCODERS.build(to_plain(encoder))
    if checkpoint is not None:
        load_part(module, state, 'encoder', checkpoint)
    return freeze(module), to_plain(encoder), coarse_cfg


@MODELS.register_module()
class PromptModel(StageModel):
    """Stage-2 model: learns high/low-quality prompts and class prompts on frozen stage-1 output.

    The high-quality set is the unpaired clean images in the data samples' ``hq_source`` field
    (the reference images ``gt_img`` by default, or ``hq_img`` from an
    :class:`UnpairedImageDataset` wrapper); the low-quality set is the frozen stage-1 output.

    Args:
        clip (dict): Frozen CLIP config.
        coarse_checkpoint (str, optional): Stage-1 checkpoint (training).
        coarse (dict, optional): Stage-1 encoder config (rebuilding from a stage-2 checkpoint).
        hq_lq (dict, optional): ``HQLQPromptLearner`` config; None skips it.
        class_prompt (dict, optional): ``ClassPromptLearner`` config; None skips it.
        class_names (list[str] | str, optional): Defaults to the stage-1 checkpoint's.
        hq_source (str): Data-sample field of the high-quality images. Defaults to ``'gt_img'``.
        hq_lq_weight (float): Weight of ``loss_hq_lq``. Defaults to 1.0.
        class_weight (float): Weight of ``loss_class_prompt``. Defaults to 1.0.
        prompt_template (str): Hand-written zero-shot prompt, the baseline that the learned class
            prompts are compared with. Defaults to ``'a photo of a {}.'``.
        data_preprocessor (dict, optional): Defaults to the stage-1 model's.
    """
    stage = 'prompt'

    def __init__(self,
                 clip: dict,
                 coarse_checkpoint: Optional[str] = None,
                 coarse: Optional[dict] = None,
                 hq_lq: Optional[dict] = dict(type='HQLQPromptLearner'),
                 class_prompt: Optional[dict] = dict(type='ClassPromptLearner'),
                 class_names: Union[List[str], str, None] = None,
                 hq_source: str = 'gt_img',
                 hq_lq_weight: float = 1.0,
                 class_weight: float = 1.0,
                 prompt_template: str = 'a photo of a {}.',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        encoder, encoder_cfg, coarse_cfg = build_frozen_encoder(coarse_checkpoint, coarse)
        if data_preprocessor is None:
            data_preprocessor = (coarse_cfg or {}).get('data_preprocessor') or dict(
                type='SpikeDataPreprocessor')
        super().__init__(data_preprocessor=build_preprocessor(data_preprocessor),
                         init_cfg=init_cfg)
        if hq_lq is None and class_prompt is None:
            raise ConfigError('PromptModel needs hq_lq, class_prompt or both')
        self.encoder = encoder
        self.sources = {'coarse': osp.abspath(coarse_checkpoint)} if coarse_checkpoint else {}
        self.clip = build_clip(clip)
        if class_names is None and coarse_cfg is not None:
            class_names = coarse_cfg.get('class_names')
        self.class_names = resolve_class_names(class_names)
        if class_prompt is not None and not self.class_names:
            raise ConfigError('class_prompt needs class names: set model.class_names or train '
                              'stage 1 with class_names')
        self.hq_lq = ADAPTERS.build(to_plain(hq_lq), default_args=dict(
            clip=self.clip)) if hq_lq is not None else None
        self.class_prompt = ADAPTERS.build(to_plain(class_prompt), default_args=dict(
            clip=self.clip, class_names=self.class_names)) if class_prompt is not None else None
        self.hq_source = hq_source
        self.hq_lq_weight = hq_lq_weight
        self.class_weight = class_weight
        self.prompt_template = prompt_template
        feats = None  # hand-written prompt features [K, D]: the zero-shot baseline
        if self.class_names:
            with torch.no_grad():
                feats = self.clip.encode_text([prompt_template.format(c) for c in self.class_names])
        self.register_buffer('zeroshot_features', feats, persistent=False)
        self._cfg = dict(type='PromptModel', clip=to_plain(clip), coarse=encoder_cfg,
                         hq_lq=to_plain(hq_lq), class_prompt=to_plain(class_prompt),
                         class_names=list(self.class_names), hq_source=hq_source,
                         hq_lq_weight=hq_lq_weight, class_weight=class_weight,
                         prompt_template=prompt_template,
                         data_preprocessor=to_plain(data_preprocessor))

    def export_cfg(self) -> dict:
        return dict(self._cfg)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen stage 1 stays in eval mode
        return self

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """Args:
            inputs (torch.Tensor): Spike window ``[N, T, H, W]``.
            data_samples (list[SpikeDataSample], optional): With ``gt_label`` and the
                high-quality images (``hq_source``) for training.
            mode (str): ``'tensor'`` -> ``(coarse [N, 1, H, W], prompt features)``; ``'loss'``;
                ``'predict'`` (``pred_score`` from the learned prompts, ``pred_score_zeroshot``
                from the hand-written ones, ``pred_quality``/``gt_quality``: the probability of
                "high quality" for the coarse and the clean image).
        """
        with torch.no_grad():
            coarse = self.encoder(inputs)
            lq_feat = self.clip.encode_image(coarse)
        hq_prompts = self.hq_lq(self.clip) if self.hq_lq is not None else None
        cls_prompts = self.class_prompt(self.clip) if self.class_prompt is not None else None
        if mode == 'tensor':
            return coarse, hq_prompts, cls_prompts
        hq_img = stack_field(data_samples, self.hq_source)
        hq_feat = None
        if hq_img is not None:
            with torch.no_grad():
                hq_feat = self.clip.encode_image(hq_img)
        if mode == 'loss':
            return self._losses(lq_feat, hq_feat, hq_prompts, cls_prompts, data_samples)
        if mode == 'predict':
            scores = zeroshot = pred_q = gt_q = None
            if cls_prompts is not None:
                scores = (self.clip.logit_scale * lq_feat @ cls_prompts.t()).softmax(-1)
            if self.zeroshot_features is not None:
                zeroshot = class_probs(self.clip, coarse, self.zeroshot_features)
            if hq_prompts is not None:
                pred_q = self.hq_lq.logits(lq_feat, hq_prompts).softmax(-1)[:, 0]
                if hq_feat is not None:
                    gt_q = self.hq_lq.logits(hq_feat, hq_prompts).softmax(-1)[:, 0]
            return attach_predictions(data_samples, coarse, coarse, scores,
                                      pred_score_zeroshot=zeroshot, pred_quality=pred_q,
                                      gt_quality=gt_q)
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")

    def _losses(self, lq_feat, hq_feat, hq_prompts, cls_prompts, data_samples) -> dict:
        losses = {}
        if hq_prompts is not None:
            if hq_feat is None:
                raise ConfigError(f'the HQ/LQ prompt loss needs clean images in the data samples '
                                  f'field {self.hq_source!r}; use a dataset with references or '
                                  'wrap it in UnpairedImageDataset')
            feats = torch.cat([hq_feat, lq_feat])
            target = torch.cat([torch.zeros(len(hq_feat)), torch.ones(len(lq_feat))]).long()
            logits = self.hq_lq.logits(feats, hq_prompts)
            losses['loss_hq_lq'] = self.hq_lq_weight * F.cross_entropy(
                logits, target.to(logits.device))
        if cls_prompts is not None:
            labels = stack_field(data_samples, 'gt_label')
            if labels is None:
                raise ConfigError('the class prompt loss needs gt_label in every sample')
            logits = self.clip.logit_scale * lq_feat @ cls_prompts.t()
            losses['loss_class_prompt'] = self.class_weight * F.cross_entropy(logits, labels)
        return losses
