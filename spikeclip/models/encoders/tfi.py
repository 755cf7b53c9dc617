"""Texture from inter-spike interval (TFI): intensity from the interval around the centre frame.

A pixel firing every ``d`` frames has a spike rate of ``1 / d`` spikes per frame, so TFI shares
TFP's calibration (``gain = threshold / light_gain``, 2.0 for the default simulator) while using
only the two spikes that bracket the centre frame: it is sharp under motion but noisy.
"""
from typing import Optional

import torch
from torch import nn

from spikeclip.registry import ENCODERS
from spikeclip.utils.errors import ConfigError, SpikeFormatError

from .utils import check_spikes


@ENCODERS.register_module()
class TFI(nn.Module):
    """Texture from inter-spike interval: ``clamp(gain / (next - prev), 0, 1)``.

    For the centre frame ``c``, ``prev`` is the index of the last spike at or before ``c`` and
    ``next`` that of the first spike after ``c``. Edge rule: a pixel with no spike in
    ``[0, c]`` uses ``prev = -1`` and one with no spike in ``[c + 1, T - 1]`` uses ``next = T``,
    i.e. the missing spike is put just outside the window. The interval is then a lower bound of
    the true one, and a pixel with no spike at all gets ``gain / (T + 1)``, close to black.
    No learnable parameters; computed with two weighted max-reductions over T (no loop).

    Args:
        gain (float): Multiplier of ``1 / interval`` (``gain = 1`` gives spikes per frame).
            Defaults to 1.0.
        center (int, optional): Centre frame index ``c`` in ``[0, T - 1]``; None uses
            ``T // 2``. Defaults to None.
    """

    def __init__(self, gain: float = 1.0, center: Optional[int] = None):
        super().__init__()
        if not gain > 0:
            raise ConfigError(f'TFI gain must be positive, got {gain!r}')
        if center is not None and (not isinstance(center, int) or center < 0):
            raise ConfigError(f'TFI center must be a non-negative int or None, got {center!r}')
        self.gain = float(gain)
        self.center = center

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes (any real or integer dtype).

        Returns:
            torch.Tensor: ``[N, 1, H, W]`` float32 intensity in [0, 1].
        """
        check_spikes(spikes, 'TFI')
        return (self.gain / spike_interval(spikes, self.center)).clamp_(0.0, 1.0)

    def extra_repr(self) -> str:
        return f'gain={self.gain}, center={self.center}'


def spike_interval(spikes: torch.Tensor, center: Optional[int] = None) -> torch.Tensor:
    """Frames between the spikes bracketing the centre frame (edge rule as in :class:`TFI`).

    Args:
        spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes.
        center (int, optional): Centre frame; None uses ``T // 2``.

    Returns:
        torch.Tensor: ``[N, 1, H, W]`` float32 intervals in ``[1, T + 1]``.
    """
    t = spikes.shape[1]
    c = t // 2 if center is None else center
    if not 0 <= c < t:
        raise SpikeFormatError(f'TFI center={c} is outside the spike window of T={t} frames')
    fired = spikes > 0
    # Integer frame weights: half the memory traffic of float32 (the reductions are memory-bound).
    kw = dict(device=spikes.device, dtype=torch.int16 if t < 2**15 - 1 else torch.int32)
    # Weight frame i <= c by i + 1: the max is (last spike index + 1), or 0 if there is none.
    w_prev = torch.arange(1, c + 2, **kw).view(1, -1, 1, 1)
    prev = (fired[:, :c + 1] * w_prev).amax(1, keepdim=True).float() - 1
    if c + 1 < t:
        # Weight frame i > c by T - i: the max is (T - first spike index), or 0 if there is none.
        w_next = torch.arange(t - c - 1, 0, -1, **kw).view(1, -1, 1, 1)
        nxt = t - (fired[:, c + 1:] * w_next).amax(1, keepdim=True).float()
    else:
        nxt = torch.full_like(prev, float(t))
    return nxt - prev
