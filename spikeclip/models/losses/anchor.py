"""Anchor loss: keep a model being fine-tuned close to the model it started from."""
from typing import Tuple

import torch
from torch import nn

from spikeclip.registry import LOSSES, MODELS
from spikeclip.utils.checkpoint import load_weights
from spikeclip.utils.errors import ConfigError

from ..stages.base import freeze, load_stage_checkpoint
from .base import BaseLoss
from .pixel_losses import CharbonnierLoss, L1Loss, MSELoss

_CRITERIA = {'l1': L1Loss, 'mse': MSELoss, 'charbonnier': CharbonnierLoss}


@LOSSES.register_module()
class AnchorLoss(BaseLoss):
    """Pixel loss between ``pred`` and a frozen copy of a checkpoint's image of the same spikes.

    Self-supervised fine-tuning (:class:`TemporalBlindSpotLoss`) learns what a user's recordings
    teach; this term keeps what they cannot teach (the pretrained model's handling of motion and
    of scenes the recordings lack) by penalising departures from the starting model's output.

    The frozen model is loaded on the first call (training only): a model rebuilt from an adapted
    checkpoint for inference never reads ``teacher``, and its weights are not part of the
    enclosing model's ``state_dict`` (so checkpoints do not carry them twice).

    Args:
        teacher (str): Checkpoint of any stage or ``pretrained:<name>``; its
            ``predict_images`` image of the input spikes is the target.
        criterion (str): ``'charbonnier'``, ``'l1'`` or ``'mse'``. Defaults to ``'charbonnier'``.
        relative (bool): Divide by the light level of each image (see :class:`~.base.BaseLoss`).
            Defaults to True.
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_anchor'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'spikes')

    def __init__(self,
                 teacher: str,
                 criterion: str = 'charbonnier',
                 relative: bool = True,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 name: str = None):
        super().__init__(loss_weight, reduction, name, relative=relative)
        if not isinstance(teacher, str) or not teacher:
            raise ConfigError(f'AnchorLoss teacher must be a checkpoint path or '
                              f'pretrained:<name>, got {teacher!r}')
        if criterion not in _CRITERIA:
            raise ConfigError(f'AnchorLoss criterion must be one of {sorted(_CRITERIA)}, got '
                              f'{criterion!r}')
        self.teacher = teacher
        self.criterion = _CRITERIA[criterion](reduction=reduction)
        self._frozen = []  # [model], outside the module tree: no state_dict, no optimiser

    def frozen_model(self, device: torch.device) -> nn.Module:
        """The frozen teacher model on ``device`` (loaded on first use).

        Raises:
            CheckpointError: Missing or refused checkpoint, weights that do not fit.
        """
        if not self._frozen:
            cfg, state = load_stage_checkpoint(self.teacher, resolve=True)
            model = MODELS.build(cfg)
            load_weights(model, state, self.teacher, f'the AnchorLoss teacher '
                         f'({type(model).__name__})')
            self._frozen.append(freeze(model))
        model = self._frozen[0]
        return model.to(device)

    def forward(self, pred: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred [N, 1, H, W]`` against the teacher's image of ``spikes [N, T, H, W]``."""
        with torch.no_grad():
            target = self.frozen_model(pred.device).predict_images(spikes)[0].float()
        pred, target = self.scale_pair(pred, target)
        return self.loss_weight * self.criterion(pred, target)

    def extra_repr(self) -> str:
        return f'teacher={self.teacher!r}'
