"""Stage 1: coarse reconstruction of an image from a spike window."""
from typing import List, Optional, Sequence, Union

import torch

from ...pretrained import source_reference
from ...registry import ENCODERS, MODELS
from ...utils.errors import ConfigError
from .base import (
    StageModel,
    attach_predictions,
    build_losses,
    class_probs,
    context_spikes,
    load_part,
    load_stage_checkpoint,
    stack_field,
)


def check_min_window(preprocessor, encoder) -> None:
    """Refuse a data preprocessor that passes inputs shorter than its window (``min_window``)
    to an encoder that does not declare it accepts them (its own ``min_window``).

    Raises:
        ConfigError: The encoder declares no ``min_window``, or a larger one.
    """
    wanted = getattr(preprocessor, 'min_window', None)
    if wanted is None:
        return
    declared = getattr(encoder, 'min_window', None)
    if declared is None or wanted < declared:
        raise ConfigError(
            f'data_preprocessor.min_window={wanted}: the encoder {type(encoder).__name__} '
            + ('reads a fixed window' if declared is None else
               f'needs at least {declared} frames') + '; remove min_window or raise it')


@MODELS.register_module()
class CoarseModel(StageModel):
    """Stage-1 model: an encoder (spikes -> image) trained with configurable losses.

    Args:
        encoder (dict, optional): Encoder config (``ENCODERS``), e.g. ``dict(type='LRN')``.
            Exactly one of ``encoder`` and ``coarse_checkpoint`` is given.
        coarse_checkpoint (str, optional): A stage-1 checkpoint or ``pretrained:<name>`` to
            fine-tune (``configs/adapt_real.py``): its encoder (config and weights), and where not
            given here its data preprocessor, class names and classify crop. The model's stored
            config keeps the encoder config, not the path. Defaults to None.
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
                 encoder: Optional[dict] = None,
                 losses: Optional[Sequence[dict]] = None,
                 clip: Optional[dict] = None,
                 class_names: Union[List[str], str, None] = None,
                 prompt_template: str = 'a photo of a {}.',
                 prompt_names: Union[List[str], str, None] = None,
                 classify_crop: Optional[int] = None,
                 clip_identity: Optional[dict] = None,
                 coarse_checkpoint: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if (encoder is None) == (coarse_checkpoint is None):
            raise ConfigError('CoarseModel: give exactly one of encoder (a config) and '
                              'coarse_checkpoint (a stage-1 checkpoint to fine-tune)')
        state, sources = None, {}
        if coarse_checkpoint is not None:
            start_cfg, state, info = load_stage_checkpoint(coarse_checkpoint, 'coarse', True)
            encoder = start_cfg['encoder']
            data_preprocessor = data_preprocessor or start_cfg.get('data_preprocessor')
            if class_names is None:
                class_names = start_cfg.get('class_names')
                prompt_names = start_cfg.get('prompt_names') if prompt_names is None \
                    else prompt_names
            if classify_crop is None:
                classify_crop = start_cfg.get('classify_crop')
            sources = dict(info.get('sources') or {},
                           fine_tuned_from=source_reference(coarse_checkpoint))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.sources = sources
        self.set_classes(class_names, prompt_names, classify_crop)
        self.encoder = ENCODERS.build(encoder)
        if state is not None:
            load_part(self.encoder, state, 'encoder', coarse_checkpoint)
        check_min_window(self.data_preprocessor, self.encoder)
        self.losses = build_losses(losses)
        self.set_clip(clip, clip_identity)
        # Hand-written class prompt features [K, D], where CLIP and classes are set.
        self.register_buffer('class_features', self.zero_shot_features(prompt_template),
                             persistent=False)
        self.record_cfg(encoder=encoder, losses=losses, clip=clip,
                        prompt_template=prompt_template)

    def forward_tensor(self, inputs: torch.Tensor, data_samples: Optional[list] = None):
        """The image ``[N, 1, H, W]`` of spikes ``[N, T, H, W]``."""
        return self.encoder(inputs)

    def predict_images(self, inputs: torch.Tensor):
        pred = self.encoder(inputs)
        return pred, pred

    def loss_context(self, inputs: torch.Tensor, data_samples: Optional[list]) -> dict:
        return dict(pred=self.encoder(inputs), target=stack_field(data_samples, 'gt_img'),
                    spikes=inputs, labels=stack_field(data_samples, 'gt_label'), clip=self.clip,
                    class_features=self.class_features,
                    context_spikes=context_spikes(data_samples, inputs), reconstruct=self.encoder)

    def predict(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> list:
        """Data samples with ``pred_img`` (and ``pred_score`` where CLIP and class names are
        configured)."""
        pred = self.encoder(inputs)
        scores = None
        if self.class_features is not None:
            scores = class_probs(self.clip, pred, self.class_features)
        return attach_predictions(data_samples, pred, pred, scores)
