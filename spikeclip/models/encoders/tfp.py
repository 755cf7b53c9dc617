"""Texture from playback (TFP): the spike rate of each pixel over a window of frames.

A pixel of intensity ``I`` fires ``r = k * I`` spikes per frame (``k`` is the sensor's light gain
over its threshold, 0.5 for the default simulator), so ``I = r / k``: TFP with ``gain = 1 / k`` is
calibrated. Long windows lower the noise and blur motion; short windows do the opposite.
"""
from typing import Optional

import torch
from torch import nn

from spikeclip.registry import ENCODERS
from spikeclip.utils.errors import ConfigError, SpikeFormatError

from .utils import check_spikes


def central_frames(spikes: torch.Tensor, window: Optional[int]) -> torch.Tensor:
    """The centre ``window`` frames of a spike window (all of them if ``window`` is None).

    Args:
        spikes (torch.Tensor): ``[N, T, H, W]``.
        window (int, optional): Frames to keep, at most T; frames ``(T - window) // 2`` onward.

    Returns:
        torch.Tensor: ``[N, window, H, W]`` view of ``spikes``.
    """
    t = spikes.shape[1]
    if window is None:
        return spikes
    if window > t:
        raise SpikeFormatError(f'TFP window={window} is longer than the spike window T={t}')
    start = (t - window) // 2
    return spikes[:, start:start + window]


@ENCODERS.register_module()
class TFP(nn.Module):
    """Texture from playback: ``clamp(gain * mean spike rate, 0, 1)``.

    Output calibration: a pixel firing ``r`` spikes per frame maps to ``gain * r``, so set
    ``gain = threshold / light_gain`` of the sensor (2.0 for the default simulator, where white
    fires every other frame), or fit it with :func:`fit_gain`. No learnable parameters.

    Args:
        window (int, optional): Number of centre frames to average; None averages all T frames.
            Defaults to None.
        gain (float): Multiplier of the spike rate. Defaults to 1.0.
    """

    def __init__(self, window: Optional[int] = None, gain: float = 1.0):
        super().__init__()
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ConfigError(f'TFP window must be a positive int or None, got {window!r}')
        if not gain > 0:
            raise ConfigError(f'TFP gain must be positive, got {gain!r}')
        self.window = window
        self.gain = float(gain)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes (any real or integer dtype).

        Returns:
            torch.Tensor: ``[N, 1, H, W]`` float32 intensity in [0, 1].
        """
        check_spikes(spikes, 'TFP')
        rate = central_frames(spikes, self.window).to(torch.float32).mean(1, keepdim=True)
        return (rate * self.gain).clamp_(0.0, 1.0)

    def extra_repr(self) -> str:
        return f'window={self.window}, gain={self.gain}'


def fit_gain(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Least-squares scalar gain ``g`` minimising ``||g * pred - target||^2``.

    Closed form ``sum(pred * target) / sum(pred * pred)``; benchmarks use it to give the
    parameter-free baselines (TFP/TFI at ``gain=1``) their best calibration. Fit it on the
    *unclamped* rates (``gain=1`` keeps rates below 1, so the clamp does not bite).

    Args:
        pred (torch.Tensor): Predictions of any shape, e.g. ``[N, 1, H, W]``.
        target (torch.Tensor): References of the same shape.

    Returns:
        float: The gain; 1.0 when ``pred`` is all zero (every gain is then equally good).
    """
    if pred.shape != target.shape:
        raise ValueError(f'fit_gain: pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} differ in shape')
    p, t = pred.detach().to(torch.float64), target.detach().to(torch.float64)
    denom = (p * p).sum()
    if denom == 0:
        return 1.0
    return float((p * t).sum() / denom)
