"""Lightweight reconstruction network (LRN) of SpikeCLIP (stage 1).

The ``T = 200`` frames of the paper's window are summed in bins of 4 (50 channels, fed as rates
in [0, 1]), then five 3x3 convolutions ``50 -> 64 -> 128 -> 64 -> 16 -> 1`` with ReLU between.
With the default channels this has 185,889 parameters (~0.19 M) and costs ~185 k multiply-adds
per pixel.

Initialisation (``init_gain``): channel 0 of every hidden layer is set to carry the mean spike
rate (a centre-tap average of the bins in layer 1, a centre-tap copy afterwards; ReLU passes it
unchanged since it is non-negative) and the last layer reads only that channel, times
``init_gain``. The untrained network is therefore exactly TFP over all frames with
``gain=init_gain``; the other channels keep PyTorch's default initialisation and learn the
correction, which starts at zero because the last layer's weights on them are zero.
"""
from typing import Optional, Sequence

import torch
from torch import nn

from spikeclip.registry import ENCODERS
from spikeclip.utils.errors import ConfigError

from .utils import bin_frames, check_spikes, clamp_unit_st, resolve_window


@ENCODERS.register_module()
class LRN(nn.Module):
    """Lightweight reconstruction network: binned spikes -> 3x3 conv stack -> image.

    Output range: the last conv's value clamped to [0, 1] with a straight-through gradient
    (forward is an exact clamp, backward the identity, so saturated pixels still learn). At
    initialisation the output is ``clamp(init_gain * mean spike rate, 0, 1)`` (see module doc).
    Works at any H, W (all convs are 3x3, stride 1, zero-padded).

    Args:
        window (int): Frames T of the input window. Defaults to 200 (the paper's); short windows
            (e.g. 41 with ``bin_size=1``) suit moving scenes.
        bin_size (int): Frames summed per input channel; must divide ``window``.
            Defaults to 4.
        channels (Sequence[int]): Hidden widths. Defaults to ``(64, 128, 64, 16)``.
        init_gain (float, optional): Start as TFP with this gain (see module doc); None keeps
            PyTorch's default initialisation everywhere. Defaults to 1.0.
        clamp (bool): Clamp the output to [0, 1] (see above). False returns the last conv's
            value as it is, as the official SpikeCLIP LRN does (weights converted by
            ``tools/model_converters/official_spikeclip.py``; docs/official.md). Defaults to True.
        in_frames (int, optional): Deprecated name of ``window``.
    """

    def __init__(self,
                 window: Optional[int] = None,
                 bin_size: int = 4,
                 channels: Sequence[int] = (64, 128, 64, 16),
                 init_gain: Optional[float] = 1.0,
                 clamp: bool = True,
                 in_frames: Optional[int] = None):
        super().__init__()
        window = resolve_window('LRN', window, in_frames, default=200)
        if bin_size < 1 or window % bin_size:
            raise ConfigError(f'LRN bin_size={bin_size} must be positive and divide '
                              f'window={window}')
        if len(channels) < 1 or any(c < 1 for c in channels):
            raise ConfigError(f'LRN channels must be a non-empty list of positive ints, '
                              f'got {channels!r}')
        self.window = window
        self.bin_size = bin_size
        self.clamp = bool(clamp)
        widths = [window // bin_size, *channels, 1]
        layers = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            if i < len(widths) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        if init_gain is not None:
            self._init_as_tfp(float(init_gain))

    @torch.no_grad()
    def _init_as_tfp(self, gain: float) -> None:
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for i, conv in enumerate(convs):
            first, last = i == 0, i == len(convs) - 1
            rows = slice(None) if last else slice(0, 1)
            conv.weight[rows] = 0.0
            conv.bias[rows] = 0.0
            if first:
                conv.weight[rows, :, 1, 1] = 1.0 / conv.in_channels  # mean of the bins
            else:
                conv.weight[rows, 0, 1, 1] = gain if last else 1.0

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes with ``T == window``.

        Returns:
            torch.Tensor: ``[N, 1, H, W]`` float32 intensity, in [0, 1] with ``clamp``.
        """
        check_spikes(spikes, 'LRN', self.window)
        out = self.body(bin_frames(spikes, self.bin_size))
        return clamp_unit_st(out) if self.clamp else out
