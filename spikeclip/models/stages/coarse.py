"""Stage 1: coarse reconstruction of an image from a spike window."""
from typing import List, Optional, Sequence, Union

import torch

from ...datasets.base import load_prompt_names
from ...registry import ENCODERS, MODELS
from ..adapters.class_prompt import zero_shot_class_features
from ..clip.frozen_clip import check_clip_identity
from .base import (
    StageModel,
    attach_predictions,
    build_clip,
    build_losses,
    build_preprocessor,
    check_classify_crop,
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
        prompt_template (str): Hand-written class prompt. Defaults to ``'a photo of a {}.'``
            (the official SpikeCLIP evaluation uses ``'image of a {}'``).
        prompt_names (str | list[str], optional): Prompt text of each class, index-aligned
            with ``class_names`` (see :func:`~spikeclip.datasets.load_prompt_names`; e.g.
            ``'ucaltech'``); None reads ``_`` in a class name as a space. Defaults to None.
        classify_crop (int, optional): Side of the centre crop of the spikes the class scores
            are computed on when the input is larger (the datasets' ``crop_size``), so that
            inference on a whole recording scores the view the model was trained and tested on
            (see :meth:`~StageModel.classification_view`). Defaults to None (the whole input).
        clip_identity (dict, optional): The :attr:`FrozenCLIP.identity` this model was trained
            with (stored in its checkpoint config); another CLIP is refused when rebuilding.
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
                 prompt_names: Union[List[str], str, None] = None,
                 classify_crop: Optional[int] = None,
                 clip_identity: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = data_preprocessor or dict(type='SpikeDataPreprocessor')
        super().__init__(data_preprocessor=build_preprocessor(data_preprocessor),
                         init_cfg=init_cfg)
        self.classify_crop = check_classify_crop(classify_crop)
        self.encoder = ENCODERS.build(encoder)
        self.losses = build_losses(losses)
        self.clip = build_clip(clip)
        self.class_names = resolve_class_names(class_names)
        self.prompt_names = list(load_prompt_names(self.class_names, prompt_names)) \
            if prompt_names is not None else None
        feats = None  # hand-written class prompt features [K, D], where CLIP and classes are set
        if self.clip is not None and self.class_names:
            feats = zero_shot_class_features(self.clip, self.class_names, prompt_template,
                                             self.prompt_names)
        self.register_buffer('class_features', feats, persistent=False)
        self._cfg = dict(type='CoarseModel', encoder=to_plain(encoder), losses=to_plain(losses),
                         clip=to_plain(clip), class_names=list(self.class_names),
                         prompt_template=prompt_template, prompt_names=self.prompt_names,
                         classify_crop=classify_crop,
                         data_preprocessor=to_plain(data_preprocessor))
        if self.clip is not None:
            if clip_identity is not None:
                check_clip_identity(clip_identity, self.clip.identity, 'this stage-1 model',
                                    'its checkpoint')
            self._cfg['clip_identity'] = self.clip.identity

    def export_cfg(self) -> dict:
        return dict(self._cfg)

    def predict_images(self, inputs: torch.Tensor):
        pred = self.encoder(inputs)
        return pred, pred

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
        if mode == 'predict' and self.classification_view(inputs) is not None:
            return self.predict_full_frame(inputs, data_samples)
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
