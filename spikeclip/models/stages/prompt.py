"""Stage 2: prompt learning around a frozen CLIP, on the outputs of a frozen stage-1 encoder."""
from typing import List, Optional, Sequence, Union

import torch

from ...pretrained import source_reference
from ...registry import ADAPTERS, ENCODERS, MODELS
from ...utils.errors import ConfigError
from .base import (
    StageModel,
    attach_predictions,
    build_losses,
    class_probs,
    freeze,
    load_part,
    load_stage_checkpoint,
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

    Besides the learned class prompts (``pred_score``) it reports two baselines with the
    hand-written prompts: ``pred_score_handwritten`` on the stage-1 image (not zero-shot: stage
    1 was trained to match exactly these prompts when it used the CLIP class loss) and
    ``pred_score_zeroshot`` on a parameter-free reconstruction of the same spikes
    (``zeroshot_encoder``, TFP by default), the true zero-shot CLIP baseline.

    Args:
        clip (dict): Frozen CLIP config.
        coarse_checkpoint (str, optional): Stage-1 checkpoint (training).
        coarse (dict, optional): Stage-1 encoder config (rebuilding from a stage-2 checkpoint).
        hq_lq (dict, optional): ``HQLQPromptLearner`` config; None skips it.
        class_prompt (dict, optional): ``ClassPromptLearner`` config; None skips it.
        class_names (list[str] | str, optional): Defaults to the stage-1 checkpoint's.
        prompt_names (list[str] | str, optional): Prompt text per class (see
            :func:`~spikeclip.datasets.load_prompt_names`). Defaults to the stage-1
            checkpoint's.
        hq_source (str): Data-sample field of the high-quality images. Defaults to ``'gt_img'``.
        losses (list[dict], optional): Loss configs; the context holds ``lq_features`` (CLIP
            features of the stage-1 images), ``hq_features`` (of the high-quality images),
            ``hq_lq`` (the quality prompt learner), ``prompt_features`` (its high/low-quality
            prompts), ``class_features`` (learned class prompts), ``labels`` and ``clip``.
            Defaults to ``HQLQPromptLoss`` (with ``hq_lq``) and ``ClassPromptLoss`` (with
            ``class_prompt``).
        hq_lq_weight (float): ``loss_weight`` of the default ``HQLQPromptLoss`` (kept for
            configs and checkpoints that set it). Defaults to 1.0.
        class_weight (float): ``loss_weight`` of the default ``ClassPromptLoss``. Defaults
            to 1.0.
        prompt_template (str): Hand-written prompt of the baselines. Defaults to the stage-1
            checkpoint's, else ``'a photo of a {}.'``.
        zeroshot_encoder (dict, optional): Parameter-free encoder (``ENCODERS``) whose images
            the zero-shot baseline classifies; None skips that baseline. Defaults to
            ``dict(type='TFP')`` (mean spike rate of the whole window, the stage-1
            self-supervised target of the U-CALTECH configs).
        classify_crop (int, optional): See :class:`CoarseModel`. Defaults to the stage-1
            checkpoint's.
        clip_identity (dict, optional): The CLIP this model was trained with (stored in its
            checkpoint config); another CLIP is refused when rebuilding.
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
                 prompt_names: Union[List[str], str, None] = None,
                 hq_source: str = 'gt_img',
                 losses: Optional[Sequence[dict]] = None,
                 hq_lq_weight: float = 1.0,
                 class_weight: float = 1.0,
                 prompt_template: Optional[str] = None,
                 zeroshot_encoder: Optional[dict] = dict(type='TFP'),
                 classify_crop: Optional[int] = None,
                 clip_identity: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        encoder, encoder_cfg, coarse_cfg = build_frozen_encoder(coarse_checkpoint, coarse)
        coarse_cfg = coarse_cfg or {}
        super().__init__(data_preprocessor=data_preprocessor
                         or coarse_cfg.get('data_preprocessor'), init_cfg=init_cfg)
        if hq_lq is None and class_prompt is None:
            raise ConfigError('PromptModel needs hq_lq, class_prompt or both')
        self.encoder = encoder
        self.sources = {'coarse': source_reference(coarse_checkpoint)} if coarse_checkpoint else {}
        self.set_clip(clip, clip_identity)
        if class_names is None:
            class_names = coarse_cfg.get('class_names')
            prompt_names = coarse_cfg.get('prompt_names') if prompt_names is None \
                else prompt_names
        if prompt_template is None:
            prompt_template = coarse_cfg.get('prompt_template') or 'a photo of a {}.'
        if classify_crop is None:
            classify_crop = coarse_cfg.get('classify_crop')
        self.set_classes(class_names, prompt_names, classify_crop)
        if class_prompt is not None and not self.class_names:
            raise ConfigError('class_prompt needs class names: set model.class_names or train '
                              'stage 1 with class_names')
        self.hq_lq = ADAPTERS.build(to_plain(hq_lq), default_args=dict(
            clip=self.clip)) if hq_lq is not None else None
        self.class_prompt = ADAPTERS.build(to_plain(class_prompt), default_args=dict(
            clip=self.clip, class_names=self.class_names,
            prompt_names=self.prompt_names)) if class_prompt is not None else None
        self.zeroshot_encoder = freeze(ENCODERS.build(to_plain(zeroshot_encoder))) \
            if zeroshot_encoder is not None else None
        if self.zeroshot_encoder is not None and \
                any(True for _ in self.zeroshot_encoder.state_dict()):
            raise ConfigError(f'zeroshot_encoder must be parameter-free (TFP, TFI), got '
                              f'{zeroshot_encoder}')
        losses = default_prompt_losses(losses, hq_lq, class_prompt, hq_lq_weight, class_weight)
        self.losses = build_losses(losses)
        self.hq_source = hq_source
        self.loss_hints = dict(
            hq_features=f'clean images in the data samples field {hq_source!r} (use a dataset '
            'with references or wrap it in UnpairedImageDataset)',
            labels='gt_label in every sample')
        self.prompt_template = prompt_template
        # Hand-written prompt features [K, D]: the baselines' classifier.
        self.register_buffer('zeroshot_features', self.zero_shot_features(prompt_template),
                             persistent=False)
        self.record_cfg(clip=clip, coarse=encoder_cfg, hq_lq=hq_lq, class_prompt=class_prompt,
                        hq_source=hq_source, losses=losses, prompt_template=prompt_template,
                        zeroshot_encoder=zeroshot_encoder)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen stage 1 stays in eval mode
        return self

    def predict_images(self, inputs: torch.Tensor):
        coarse = self.encoder(inputs)
        return coarse, coarse

    def prompt_features(self):
        """``(high/low-quality [2, D] or None, class [K, D] or None)`` learned prompt features."""
        hq_prompts = self.hq_lq(self.clip) if self.hq_lq is not None else None
        cls_prompts = self.class_prompt(self.clip) if self.class_prompt is not None else None
        return hq_prompts, cls_prompts

    def _features(self, inputs: torch.Tensor, data_samples: Optional[list]):
        """Frozen ``(coarse [N, 1, H, W], its CLIP features [N, D], the features of the
        high-quality images [M, D] or None)``."""
        with torch.no_grad():
            coarse = self.encoder(inputs)
            lq_feat = self.clip.encode_image(coarse)
            hq_img = stack_field(data_samples, self.hq_source)
            hq_feat = self.clip.encode_image(hq_img) if hq_img is not None else None
        return coarse, lq_feat, hq_feat

    def forward_tensor(self, inputs: torch.Tensor, data_samples: Optional[list] = None):
        """``(coarse [N, 1, H, W], high/low-quality prompt features [2, D] or None, class prompt
        features [K, D] or None)``."""
        with torch.no_grad():
            coarse = self.encoder(inputs)
        return (coarse, *self.prompt_features())

    def loss_context(self, inputs: torch.Tensor, data_samples: Optional[list]) -> dict:
        _, lq_feat, hq_feat = self._features(inputs, data_samples)
        hq_prompts, cls_prompts = self.prompt_features()
        return dict(lq_features=lq_feat, hq_features=hq_feat, hq_lq=self.hq_lq,
                    prompt_features=hq_prompts, class_features=cls_prompts,
                    labels=stack_field(data_samples, 'gt_label'), clip=self.clip)

    def loss(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> dict:
        """The configured losses, and ``drift_*`` log entries (not losses: no ``loss`` in the
        name): the relative drift of each learned context from its initial words."""
        losses = super().loss(inputs, data_samples)
        if self.hq_lq is not None:
            losses['drift_hq'], losses['drift_lq'] = self.hq_lq.context_drift()
        if self.class_prompt is not None:
            losses['drift_class'] = self.class_prompt.context_drift()
        return {k: v for k, v in losses.items() if not (k.startswith('drift') and v.isnan())}

    def predict(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> list:
        """Data samples with ``pred_score`` (the learned class prompts),
        ``pred_score_handwritten`` (the hand-written ones on the stage-1 image),
        ``pred_score_zeroshot`` (the hand-written ones on the ``zeroshot_encoder`` image),
        ``pred_quality``/``gt_quality`` (the probability of "high quality" for the coarse and
        the clean image)."""
        coarse, lq_feat, hq_feat = self._features(inputs, data_samples)
        hq_prompts, cls_prompts = self.prompt_features()
        scores = handwritten = zeroshot = pred_q = gt_q = None
        if cls_prompts is not None:
            scores = self.clip.logits(lq_feat, cls_prompts).softmax(-1)
        if self.zeroshot_features is not None:
            handwritten = self.clip.logits(lq_feat, self.zeroshot_features).softmax(-1)
            if self.zeroshot_encoder is not None:
                zeroshot = class_probs(self.clip, self.zeroshot_encoder(inputs),
                                       self.zeroshot_features)
        if hq_prompts is not None:
            pred_q = self.hq_lq.logits(lq_feat, hq_prompts).softmax(-1)[:, 0]
            if hq_feat is not None:
                gt_q = self.hq_lq.logits(hq_feat, hq_prompts).softmax(-1)[:, 0]
        return attach_predictions(data_samples, coarse, coarse, scores,
                                  pred_score_handwritten=handwritten,
                                  pred_score_zeroshot=zeroshot, pred_quality=pred_q,
                                  gt_quality=gt_q)


def default_prompt_losses(losses: Optional[Sequence[dict]], hq_lq: Optional[dict],
                          class_prompt: Optional[dict], hq_lq_weight: float = 1.0,
                          class_weight: float = 1.0) -> List[dict]:
    """Stage 2's loss configs: ``losses`` as given, else one loss per configured prompt
    learner (``HQLQPromptLoss`` for ``hq_lq``, ``ClassPromptLoss`` for ``class_prompt``)
    weighted by ``hq_lq_weight``/``class_weight`` (the fields of configs and checkpoints
    written before stage 2 took ``losses=[...]``).

    Raises:
        ConfigError: ``losses`` together with a weight other than 1 (set ``loss_weight`` in
            the loss configs instead).
    """
    if losses is not None:
        if hq_lq_weight != 1.0 or class_weight != 1.0:
            raise ConfigError('give the loss weights in model.losses (loss_weight=...), not '
                              'hq_lq_weight/class_weight, when model.losses is set')
        return [dict(cfg) for cfg in losses]
    out = []
    if hq_lq is not None:
        out.append(dict(type='HQLQPromptLoss', loss_weight=hq_lq_weight))
    if class_prompt is not None:
        out.append(dict(type='ClassPromptLoss', loss_weight=class_weight))
    return out
