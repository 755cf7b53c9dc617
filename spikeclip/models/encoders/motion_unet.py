"""MotionUNet: a short-window U-Net built for moving scenes and varied light.

A short window (41 frames by default) holds little motion (a few pixels at the speeds of handheld
recordings) but few spikes, so the network has to denoise without averaging across motion. It sees
three views of the same window ``[N, T, H, W]`` around the centre frame ``c = T // 2``:

* the raw frames (``T`` channels), where it can find the spikes nearest to ``c``;
* a temporal pyramid of centred spike rates (TFP over ``windows`` frames, e.g. 5, 9, 17, 33, 41):
  short windows are sharp and noisy, long ones clean and blurred by motion;
* the inter-spike-interval estimate at ``c`` (TFI), sharp under any motion.

Light normalisation: every input is divided by the window's mean spike rate ``s`` (plus a small
constant) and ``log s`` is appended as a channel; the output is multiplied back by ``s``. Scenes a
decade apart in brightness then look alike to the convolutions, which only have to learn the
noise level that goes with the light level (from ``log s``).

Body: a U-Net with ``len(channels)`` levels (two 3x3 conv + ReLU per level, stride-2 convs down,
bilinear upsampling and concatenated skips up). Head: ``s * (base + delta)`` where ``base`` is a
1x1 conv over the rate pyramid, initialised to the longest window's rate times ``init_gain``, and
``delta`` a zero-initialised 3x3 conv, so the untrained network is TFP over the whole window.
Output clamped to [0, 1] with a straight-through gradient.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from spikeclip.registry import ENCODERS
from spikeclip.utils.errors import ConfigError

from .tfi import spike_interval
from .utils import check_spikes, clamp_unit_st, crop_to, pad_to_multiple


def _double_conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True))


@ENCODERS.register_module()
class MotionUNet(nn.Module):
    """Short-window U-Net over raw frames, a rate pyramid and inter-spike intervals.

    Works at any H, W (reflect padding to a multiple of ``2 ** (len(channels) - 1)``, cropped
    back). See the module doc for the design.

    Args:
        window (int): Frames T of the input window. Defaults to 41.
        rate_windows (Sequence[int], optional): Lengths of the centred TFP windows of the rate
            pyramid, each at most ``window``; None uses powers of two plus one up to the window
            (5, 9, 17, 33, ...) and the whole window. Defaults to None.
        channels (Sequence[int]): Widths of the U-Net levels, from full resolution down; at
            least two. Defaults to ``(32, 64, 96, 128)``.
        init_gain (float): Gain of the initial TFP output (``1 / nominal_gain`` of the data;
            1.0 when references are spike rates). Defaults to 1.0.
        eps (float): Added to the mean rate before dividing by it. Defaults to 0.01.
    """

    def __init__(self,
                 window: int = 41,
                 rate_windows: Optional[Sequence[int]] = None,
                 channels: Sequence[int] = (32, 64, 96, 128),
                 init_gain: float = 1.0,
                 eps: float = 0.01):
        super().__init__()
        if window < 2:
            raise ConfigError(f'MotionUNet window must be at least 2 frames, got {window}')
        if rate_windows is None:
            rate_windows = [w for w in (5, 9, 17, 33, 65, 129) if w < window] + [window]
        rate_windows = sorted({int(w) for w in rate_windows})
        if not rate_windows or rate_windows[0] < 1 or rate_windows[-1] > window:
            raise ConfigError(f'MotionUNet rate_windows must lie in [1, window={window}], got '
                              f'{rate_windows}')
        if len(channels) < 2 or any(c < 1 for c in channels):
            raise ConfigError(f'MotionUNet channels must list at least two positive widths, got '
                              f'{channels!r}')
        if not eps > 0:
            raise ConfigError(f'MotionUNet eps must be positive, got {eps!r}')
        self.window = int(window)
        self.rate_windows = rate_windows
        self.eps = float(eps)
        self.multiple = 2 ** (len(channels) - 1)
        channels = [int(c) for c in channels]
        # Centred window k covers frames [c - w // 2, c - w // 2 + w), c = T // 2.
        weights = torch.zeros(len(rate_windows), window)
        for k, w in enumerate(rate_windows):
            start = min(max(window // 2 - w // 2, 0), window - w)
            weights[k, start:start + w] = 1.0 / w
        self.register_buffer('rate_weights', weights, persistent=False)
        in_ch = window + len(rate_windows) + 2  # frames, pyramid, interval rate, log mean rate
        self.stem = _double_conv(in_ch, channels[0])
        self.down = nn.ModuleList(
            _double_conv(c_in, c_out, stride=2) for c_in, c_out in zip(channels[:-1],
                                                                       channels[1:]))
        self.up = nn.ModuleList(
            _double_conv(c_below + c_skip, c_skip)
            for c_below, c_skip in zip(channels[1:], channels[:-1]))
        self.delta = nn.Conv2d(channels[0], 1, 3, padding=1)
        nn.init.zeros_(self.delta.weight)
        nn.init.zeros_(self.delta.bias)
        self.base = nn.Conv2d(len(rate_windows), 1, 1)
        with torch.no_grad():
            self.base.weight.zero_()
            self.base.weight[0, -1] = float(init_gain)
            self.base.bias.zero_()

    def features(self, spikes: torch.Tensor):
        """Normalised inputs ``[N, C, H, W]``, the rate pyramid ``[N, K, H, W]`` (normalised)
        and the light scale ``s`` ``[N, 1, 1, 1]``."""
        x = spikes.float()
        rates = torch.einsum('kt,nthw->nkhw', self.rate_weights, x)
        interval_rate = 1.0 / spike_interval(x)
        s = rates[:, -1:].mean((2, 3), keepdim=True) + self.eps  # mean rate of the window
        log_s = torch.log(s).expand(-1, 1, *x.shape[-2:])
        inputs = torch.cat([x / s, rates / s, interval_rate / s, log_s], dim=1)
        return inputs, rates / s, s

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes with ``T == window``.

        Returns:
            torch.Tensor: ``[N, 1, H, W]`` float32 intensity in [0, 1].
        """
        check_spikes(spikes, 'MotionUNet', self.window)
        inputs, rates, s = self.features(spikes)
        inputs, size = pad_to_multiple(inputs, self.multiple)
        rates = pad_to_multiple(rates, self.multiple)[0]
        skips = [self.stem(inputs)]
        for down in self.down:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in reversed(self.up):
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        out = s * (self.base(rates) + self.delta(x))
        return clamp_unit_st(crop_to(out, size))

