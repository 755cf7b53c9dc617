"""Stage 2: prompt learning around a frozen CLIP, on the outputs of a frozen stage-1 encoder."""
from typing import List, Optional, Union

import torch
import torch.nn.functional as F

from ...datasets.base import load_prompt_names
from ...pretrained import source_reference
from ...registry import ADAPTERS, ENCODERS, MODELS
from ...utils.errors import ConfigError
from ..adapters.class_prompt import zero_shot_class_features
from ..clip.frozen_clip import check_clip_identity
from .base import (
    StageModel,
    attach_predictions,
    build_clip,
    build_preprocessor,
    check_classify_crop,
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
        hq_lq_weight (float): Weight of ``loss_hq_lq``. Defaults to 1.0.
        class_weight (float): Weight of ``loss_class_prompt``. Defaults to 1.0.
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
        if data_preprocessor is None:
            data_preprocessor = coarse_cfg.get('data_preprocessor') or dict(
                type='SpikeDataPreprocessor')
        super().__init__(data_preprocessor=build_preprocessor(data_preprocessor),
                         init_cfg=init_cfg)
        if hq_lq is None and class_prompt is None:
            raise ConfigError('PromptModel needs hq_lq, class_prompt or both')
        self.encoder = encoder
        self.sources = {'coarse': source_reference(coarse_checkpoint)} if coarse_checkpoint else {}
        self.clip = build_clip(clip)
        if clip_identity is not None:
            check_clip_identity(clip_identity, self.clip.identity, 'this stage-2 model',
                                'its checkpoint')
        if class_names is None:
            class_names = coarse_cfg.get('class_names')
            prompt_names = coarse_cfg.get('prompt_names') if prompt_names is None \
                else prompt_names
        if prompt_template is None:
            prompt_template = coarse_cfg.get('prompt_template') or 'a photo of a {}.'
        if classify_crop is None:
            classify_crop = coarse_cfg.get('classify_crop')
        self.classify_crop = check_classify_crop(classify_crop)
        self.class_names = resolve_class_names(class_names)
        self.prompt_names = list(load_prompt_names(self.class_names, prompt_names)) \
            if prompt_names is not None else None
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
        self.hq_source = hq_source
        self.hq_lq_weight = hq_lq_weight
        self.class_weight = class_weight
        self.prompt_template = prompt_template
        feats = None  # hand-written prompt features [K, D]: the baselines' classifier
        if self.class_names:
            feats = zero_shot_class_features(self.clip, self.class_names, prompt_template,
                                             self.prompt_names)
        self.register_buffer('zeroshot_features', feats, persistent=False)
        self._cfg = dict(type='PromptModel', clip=to_plain(clip), coarse=encoder_cfg,
                         hq_lq=to_plain(hq_lq), class_prompt=to_plain(class_prompt),
                         class_names=list(self.class_names), prompt_names=self.prompt_names,
                         hq_source=hq_source, hq_lq_weight=hq_lq_weight,
                         class_weight=class_weight, prompt_template=prompt_template,
                         zeroshot_encoder=to_plain(zeroshot_encoder),
                         classify_crop=classify_crop, clip_identity=self.clip.identity,
                         data_preprocessor=to_plain(data_preprocessor))

    def export_cfg(self) -> dict:
        return dict(self._cfg)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen stage 1 stays in eval mode
        return self

    def predict_images(self, inputs: torch.Tensor):
        coarse = self.encoder(inputs)
        return coarse, coarse

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """Args:
            inputs (torch.Tensor): Spike window ``[N, T, H, W]``.
            data_samples (list[SpikeDataSample], optional): With ``gt_label`` and the
                high-quality images (``hq_source``) for training.
            mode (str): ``'tensor'`` -> ``(coarse [N, 1, H, W], prompt features)``; ``'loss'``
                (with ``drift_*`` log entries: the relative drift of each learned context from
                its initial words); ``'predict'`` (``pred_score`` from the learned prompts,
                ``pred_score_handwritten`` from the hand-written ones on the stage-1 image,
                ``pred_score_zeroshot`` from the hand-written ones on the ``zeroshot_encoder``
                image, ``pred_quality``/``gt_quality``: the probability of "high quality" for
                the coarse and the clean image).
        """
        if mode == 'predict' and self.classification_view(inputs) is not None:
            return self.predict_full_frame(inputs, data_samples)
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
            drift = self.hq_lq.context_drift()
            losses['drift_hq'], losses['drift_lq'] = drift[0], drift[1]
        if cls_prompts is not None:
            labels = stack_field(data_samples, 'gt_label')
            if labels is None:
                raise ConfigError('the class prompt loss needs gt_label in every sample')
            logits = self.clip.logits(lq_feat, cls_prompts)
            losses['loss_class_prompt'] = self.class_weight * F.cross_entropy(logits, labels)
            losses['drift_class'] = self.class_prompt.context_drift()
        # drift_*: not losses (no 'loss' in the name), logged with them every interval.
        return {k: v for k, v in losses.items() if not (k.startswith('drift') and v.isnan())}
