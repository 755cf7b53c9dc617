"""Spiking U-Net: a LIF-neuron encoder over time bins and a conventional decoder.

Pipeline for a window ``[N, T, H, W]`` (defaults: ``num_bins=5``, ``channels=(16, 32, 64, 128)``,
``decoder_channels=(32, 32, 64)``, ``skip_bin_size=4``):

1. Bin the frames: ``T / skip_bin_size`` fine spike rates ``[N, 50, H, W]`` for the decoder and
   ``B = num_bins`` coarse ones ``[N, B, H, W]`` for the SNN (bins of nearly equal length where
   the sizes do not divide T, e.g. for a 41-frame window); reflect-pad H, W to a multiple of
   ``2 ** (levels - 1)``. The coarse bins are the SNN's time steps ``[B, N, 1, H, W]``.
2. Spiking encoder, multi-step: per level, ``Conv3x3 (stride 2 below the top) -> BatchNorm ->
   LIF`` applied to every time step (``SeqToANNContainer``), giving spike trains
   ``[B, N, C_k, H / 2^k, W / 2^k]`` that feed the next level; surrogate gradients (ATan) make it
   trainable. LIF: tau 2, threshold 1, soft reset (subtract the threshold, which keeps the spike
   count proportional to the integrated input).
3. Temporal readout per level: a 1x1 conv over the spikes and membrane potentials of all ``B``
   time steps (``2 * B * C_k`` maps -> ``C_k``), a learned weighting of the time steps. The
   membrane potentials carry the sub-threshold (analog) part that binary spikes over a few steps
   would quantise away.
4. Conventional decoder: bilinear upsampling, concatenation with the readout of the level
   (skip connections; the full-resolution level also gets the fine bins, so it can pick a short
   window around the centre frame under motion), two 3x3 conv + ReLU per level.
5. Global residual: ``clamp(gain * mean rate + delta)`` where ``gain`` is a learned scalar
   initialised to ``init_gain`` and the last conv (``delta``) is zero-initialised, so the
   untrained network is TFP and training only has to learn the correction.

Design notes, with the measurements that chose these defaults: ``docs/architecture.md``
(SNNUNet).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from spikeclip.registry import ENCODERS
from spikeclip.utils.errors import ConfigError

from .utils import (
    bin_frames_even,
    check_spikes,
    clamp_unit_st,
    crop_to,
    pad_to_multiple,
    resolve_window,
)


class SpikingConvBlock(nn.Module):
    """``Conv3x3 -> BatchNorm -> LIF`` on a multi-step input.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Conv stride (2 halves H and W). Defaults to 1.
        tau (float): LIF membrane time constant (> 1). Defaults to 2.0.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, tau: float = 2.0):
        super().__init__()
        self.conv = layer.SeqToANNContainer(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels))
        self.lif = neuron.LIFNode(tau=tau, v_reset=None, surrogate_function=surrogate.ATan(),
                                  detach_reset=True, step_mode='m', store_v_seq=True)

    def forward(self, x_seq: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run all time steps.

        Args:
            x_seq (torch.Tensor): ``[T, N, C_in, H, W]``.

        Returns:
            tuple[torch.Tensor, torch.Tensor]: Spikes and membrane potentials (after reset),
            both ``[T, N, C_out, H / stride, W / stride]``.
        """
        spikes = self.lif(self.conv(x_seq))
        return spikes, self.lif.v_seq


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two ``Conv3x3 + ReLU`` (the decoder's unit)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))


@ENCODERS.register_module()
class SpikingUNet(nn.Module):
    """Spiking U-Net encoder (see the module doc for the architecture).

    Output range: ``gain * mean rate + delta`` clamped to [0, 1] with a straight-through
    gradient; untrained, it equals ``TFP(gain=init_gain)``. Works at any H, W (reflect padding to
    a multiple of ``2 ** (len(channels) - 1)``, cropped back). LIF states are reset with
    ``functional.reset_net`` at the start of every forward, so calls are independent.

    Args:
        window (int): Frames T of the input window. Defaults to 200.
        num_bins (int): Time steps of the SNN (at most ``window``; bins of nearly equal length
            where it does not divide the window). Defaults to 5.
        channels (Sequence[int]): Widths of the spiking encoder levels, from full resolution
            down; each level below the first halves H and W; at least two levels.
            Defaults to ``(16, 32, 64, 128)``.
        decoder_channels (Sequence[int], optional): Widths of the decoder levels, from full
            resolution down (one fewer than ``channels``); None uses
            ``(32, *channels[1:-1])``. Defaults to None.
        skip_bin_size (int): Frames per bin of the rates fed to the full-resolution decoder
            level (``round(window / skip_bin_size)`` bins). Defaults to 4.
        tau (float): LIF membrane time constant. Defaults to 2.0.
        init_gain (float): Initial value of the learned gain of the residual TFP path
            (``threshold / light_gain`` of the sensor calibrates it). Defaults to 1.0.
        in_frames (int, optional): Deprecated name of ``window``.
    """

    # Inference (spikeclip.engine.fast_inference) keeps it contiguous under channels_last: its
    # LIF neurons run elementwise over [T, N, C, H, W] sequences, and channels_last gained
    # nothing (docs/architecture.md, "Measurements behind defaults").
    supports_channels_last = False

    def __init__(self,
                 window: Optional[int] = None,
                 num_bins: int = 5,
                 channels: Sequence[int] = (16, 32, 64, 128),
                 decoder_channels: Optional[Sequence[int]] = None,
                 skip_bin_size: int = 4,
                 tau: float = 2.0,
                 init_gain: float = 1.0,
                 in_frames: Optional[int] = None):
        super().__init__()
        window = resolve_window('SpikingUNet', window, in_frames, default=200)
        for name, value in (('num_bins', num_bins), ('skip_bin_size', skip_bin_size)):
            if not 1 <= value <= window:
                raise ConfigError(f'SpikingUNet {name}={value} must be in [1, window={window}]')
        if len(channels) < 2 or any(c < 1 for c in channels):
            raise ConfigError(f'SpikingUNet channels must list at least two positive widths, '
                              f'got {channels!r}')
        channels = [int(c) for c in channels]
        if decoder_channels is None:
            decoder_channels = [32, *channels[1:-1]]
        decoder_channels = [int(c) for c in decoder_channels]
        if len(decoder_channels) != len(channels) - 1 or any(c < 1 for c in decoder_channels):
            raise ConfigError(f'SpikingUNet decoder_channels must list {len(channels) - 1} '
                              f'positive widths (one fewer than channels), got '
                              f'{decoder_channels!r}')
        if not tau > 1:
            raise ConfigError(f'SpikingUNet tau must be > 1, got {tau!r}')
        self.window = window
        self.num_bins = num_bins
        self.skip_bin_size = skip_bin_size
        self.num_fine = max(1, round(window / skip_bin_size))
        self.multiple = 2 ** (len(channels) - 1)

        self.encoder = nn.ModuleList(
            SpikingConvBlock(c_in, c_out, stride=1 if k == 0 else 2, tau=float(tau))
            for k, (c_in, c_out) in enumerate(zip([1, *channels[:-1]], channels)))
        self.readouts = nn.ModuleList(nn.Conv2d(2 * num_bins * c, c, 1) for c in channels)
        # decoders[k] fuses the upsampled level k + 1 with the readout of level k.
        below = [*decoder_channels[1:], channels[-1]]
        skip = self.num_fine
        self.decoders = nn.ModuleList(
            _conv_block(below[k] + channels[k] + (skip if k == 0 else 0), decoder_channels[k])
            for k in range(len(decoder_channels)))
        self.head = nn.Conv2d(decoder_channels[0], 1, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.gain = nn.Parameter(torch.tensor(float(init_gain)))

    @staticmethod
    def _read_out(readout: nn.Conv2d, x_seq: torch.Tensor, v_seq: torch.Tensor) -> torch.Tensor:
        """Readout: 1x1 conv on the spikes and membranes ``[B, N, C, H, W]`` -> ``[N, C', H, W]``.

        The conv is split over its input channels (spikes, then membranes) instead of run on a
        concatenation, which would copy the largest tensors of the network once more.
        """
        t, n, c, h, w = x_seq.shape
        w_spikes, w_membrane = (w.contiguous() for w in readout.weight.split(t * c, dim=1))
        out = F.conv2d(x_seq.transpose(0, 1).reshape(n, t * c, h, w), w_spikes, readout.bias)
        return out + F.conv2d(v_seq.transpose(0, 1).reshape(n, t * c, h, w), w_membrane)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes with ``T == window``.

        Returns:
            torch.Tensor: ``[N, 1, H, W]`` float32 intensity in [0, 1].
        """
        check_spikes(spikes, 'SpikingUNet', self.window)
        functional.reset_net(self)
        fine, size = pad_to_multiple(bin_frames_even(spikes, self.num_fine), self.multiple)
        n, f, h, w = fine.shape
        if f % self.num_bins == 0 and self.window % f == 0:
            # coarse bins as means of equal fine ones: one pass over the spikes
            bins = fine.reshape(n, self.num_bins, f // self.num_bins, h, w).mean(2)
        else:
            bins = pad_to_multiple(bin_frames_even(spikes, self.num_bins), self.multiple)[0]
        x_seq = bins.transpose(0, 1).unsqueeze(2)  # [B, N, 1, H, W]

        features = []
        for block, readout in zip(self.encoder, self.readouts):
            x_seq, v_seq = block(x_seq)  # both [B, N, C_k, H_k, W_k]
            features.append(self._read_out(readout, x_seq, v_seq))

        x = F.relu(features[-1])
        for k in range(len(self.decoders) - 1, -1, -1):
            x = F.interpolate(x, size=features[k].shape[-2:], mode='bilinear',
                              align_corners=False)
            skips = [x, features[k], fine] if k == 0 else [x, features[k]]
            x = self.decoders[k](torch.cat(skips, dim=1))
        rate = pad_to_multiple(spikes.to(torch.float32).mean(1, keepdim=True), self.multiple)[0]
        out = self.gain * rate + self.head(x)
        return clamp_unit_st(crop_to(out, size))
