"""Stage 1: coarse reconstruction of an image from a spike window."""
from typing import List, Optional, Sequence, Union

import torch

from ...registry import ENCODERS, MODELS
from .base import (
    StageModel,
    attach_predictions,
    build_clip,
    build_losses,
    build_preprocessor,
    class_probs,
    compute_losses,
    resolve_class_names,
    stack_field,
    to_plain,
)


@MODELS.register_module()
class CoarseModel(StageModel):
    """Stage-1 model: an encoder (spikes -> image) trained with configurable losses.

    Args:
        encoder (dict): Encoder config (``ENCODERS``), e.g. ``dict(type='LRN')``.
        losses (list[dict], optional): Loss configs (``LOSSES``); supervised, self-supervised
            and CLIP class losses may be mixed. Required for training.
        clip (dict, optional): Frozen CLIP config (``dict(type='FrozenCLIP', arch=...,
            pretrained=...)``) used by the CLIP class loss and for zero-shot classification of
            the reconstruction.
        class_names (list[str] | str, optional): Class names, a named list (``'ucaltech'``,
            ``'ucifar'``, ``'demo'``) or a text file with one name per line.
        prompt_template (str): Hand-written class prompt. Defaults to ``'a photo of a {}.'``.
        data_preprocessor (dict, optional): Defaults to ``SpikeDataPreprocessor``.
        init_cfg (dict, optional): MMEngine initialisation config.
    """
    stage = 'coarse'

    def __init__(self,
                 encoder: dict,
                 losses: Optional[Sequence[dict]] = None,
                 clip: Optional[dict] = None,
                 class_names: Union[List[str], str, None] = None,
                 prompt_template: str = 'a photo of a {}.',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = data_preprocessor or dict(type='SpikeDataPreprocessor')
        super().__init__(data_preprocessor=build_preprocessor(data_preprocessor),
                         init_cfg=init_cfg)
        self._cfg = dict(type='CoarseModel', encoder=to_plain(encoder), losses=to_plain(losses),
                         clip=to_plain(clip), prompt_template=prompt_template,
                         data_preprocessor=to_plain(data_preprocessor))
        self.encoder = ENCODERS.build(encoder)
        self.losses = build_losses(losses)
        self.clip = build_clip(clip)
        self.class_names = resolve_class_names(class_names)
        self._cfg['class_names'] = list(self.class_names)
        feats = None  # hand-written class prompt features [K, D], where CLIP and classes are set
        if self.clip is not None and self.class_names:
            with torch.no_grad():
                feats = self.clip.encode_text([prompt_template.format(c) for c in self.class_names])
        self.register_buffer('class_features', feats, persistent=False)

    def export_cfg(self) -> dict:
        return dict(self._cfg)

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """Run the encoder.

        Args:
            inputs (torch.Tensor): Spike window ``[N, T, H, W]`` (0/1 floats).
            data_samples (list[SpikeDataSample], optional): Annotations.
            mode (str): ``'tensor'`` -> image ``[N, 1, H, W]``; ``'loss'`` -> dict of ``loss_*``;
                ``'predict'`` -> data samples with ``pred_img`` (and ``pred_score`` where CLIP
                and class names are configured).
        """
        pred = self.encoder(inputs)
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            if not len(self.losses):
                raise RuntimeError('CoarseModel has no losses configured; add model.losses')
            ctx = dict(pred=pred, target=stack_field(data_samples, 'gt_img'), spikes=inputs,
                       labels=stack_field(data_samples, 'gt_label'), clip=self.clip,
                       class_features=self.class_features)
            return compute_losses(self.losses, ctx)
        if mode == 'predict':
            scores = None
            if self.class_features is not None:
                scores = class_probs(self.clip, pred, self.class_features)
            return attach_predictions(data_samples, pred, pred, scores)
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")
