"""Self-supervised reconstruction loss: fit the image to a TFP or TFI image of the same spikes."""
from typing import Optional, Tuple

import torch

from spikeclip.registry import LOSSES
from spikeclip.utils.errors import ConfigError

from ..encoders.tfi import TFI
from ..encoders.tfp import TFP
from .base import BaseLoss
from .pixel_losses import CharbonnierLoss, L1Loss, MSELoss

_CRITERIA = {'l1': L1Loss, 'mse': MSELoss, 'charbonnier': CharbonnierLoss}


@LOSSES.register_module()
class SelfSupervisedLoss(BaseLoss):
    """Pixel loss between ``pred`` and a parameter-free reconstruction of the input spikes.

    The target is computed without gradient from the same spike window:
    ``TFP(window, gain)`` or ``TFI(gain)`` (see their docs for the calibration of ``gain``).

    Args:
        target (str): ``'tfp'`` or ``'tfi'``. Defaults to ``'tfp'``.
        window (int, optional): Centre frames averaged by TFP; None uses all. Only valid with
            ``target='tfp'``. Defaults to None.
        gain (float): Gain of the target encoder. Defaults to 1.0.
        criterion (str): ``'charbonnier'``, ``'l1'`` or ``'mse'``. Defaults to
            ``'charbonnier'``.
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'`` (``[N, 1, H, W]``).
            Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_self_supervised'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'spikes')

    def __init__(self,
                 target: str = 'tfp',
                 window: Optional[int] = None,
                 gain: float = 1.0,
                 criterion: str = 'charbonnier',
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 name: str = None):
        super().__init__(loss_weight, reduction, name)
        if target == 'tfp':
            self.target_encoder = TFP(window=window, gain=gain)
        elif target == 'tfi':
            if window is not None:
                raise ConfigError(f"SelfSupervisedLoss: window={window} only applies to "
                                  f"target='tfp', not 'tfi'")
            self.target_encoder = TFI(gain=gain)
        else:
            raise ConfigError(f"SelfSupervisedLoss target must be 'tfp' or 'tfi', got {target!r}")
        if criterion not in _CRITERIA:
            raise ConfigError(f'SelfSupervisedLoss criterion must be one of '
                              f'{sorted(_CRITERIA)}, got {criterion!r}')
        self.criterion = _CRITERIA[criterion](reduction=reduction)

    def forward(self, pred: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred [N, 1, H, W]`` against the target made from ``spikes [N, T, H, W]``."""
        with torch.no_grad():
            target = self.target_encoder(spikes).to(pred.dtype)
        return self.loss_weight * self.criterion(pred, target)
