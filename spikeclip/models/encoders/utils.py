"""Helpers shared by the stage-1 encoders: input checks, frame binning and size padding.

Naming: an encoder's ``window`` is the number of frames T it reads (the data preprocessor cuts a
window of that length, centred on the reference frame, out of a longer recording); a recording's
``num_frames`` is its length.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from spikeclip.utils.errors import SpikeFormatError


def resolve_window(owner: str, window: Optional[int], in_frames: Optional[int],
                   default: int) -> int:
    """The window length of an encoder, accepting the old ``in_frames`` name (deprecated; stored
    in configs of older checkpoints).

    Raises:
        ConfigError: Both names given with different values, or a window below 1.
    """
    from spikeclip.utils.deprecation import renamed_argument
    from spikeclip.utils.errors import ConfigError
    window = renamed_argument(owner, 'window', window, 'in_frames', in_frames)
    window = default if window is None else int(window)
    if window < 1:
        raise ConfigError(f'{owner}: window must be at least 1 frame, got {window}')
    return window


def check_spikes(spikes: torch.Tensor, owner: str, window: int = None) -> None:
    """Raise :class:`SpikeFormatError` unless ``spikes`` is a ``[N, T, H, W]`` window.

    Args:
        spikes (torch.Tensor): Spike window ``[N, T, H, W]``.
        owner (str): Name of the caller, used in the message.
        window (int, optional): Required T; None accepts any T >= 1. Defaults to None.
    """
    if not isinstance(spikes, torch.Tensor) or spikes.ndim != 4:
        shape = tuple(spikes.shape) if isinstance(spikes, torch.Tensor) else type(spikes).__name__
        raise SpikeFormatError(f'{owner} expects spikes [N, T, H, W], got {shape}')
    if spikes.shape[1] < 1 or spikes.shape[2] < 1 or spikes.shape[3] < 1:
        raise SpikeFormatError(f'{owner} got an empty spike window {tuple(spikes.shape)}')
    if window is not None and spikes.shape[1] != window:
        raise SpikeFormatError(
            f'{owner} was built for window={window} frames but the spike window has '
            f'T={spikes.shape[1]} frames ({tuple(spikes.shape)}); set window={spikes.shape[1]} '
            f'or change the window length of the data preprocessor')


def bin_frames(spikes: torch.Tensor, bin_size: int) -> torch.Tensor:
    """Spike rate per bin of ``bin_size`` consecutive frames.

    Args:
        spikes (torch.Tensor): ``[N, T, H, W]`` with ``T % bin_size == 0``.
        bin_size (int): Frames per bin.

    Returns:
        torch.Tensor: ``[N, T // bin_size, H, W]`` float32, spike counts divided by
        ``bin_size`` (so in [0, 1]).
    """
    n, t, h, w = spikes.shape
    binned = spikes.to(torch.float32).reshape(n, t // bin_size, bin_size, h, w).sum(2)
    return binned.div_(bin_size)


def bin_frames_even(spikes: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Spike rate in ``num_bins`` contiguous bins of (nearly) equal length, for any T.

    Bin ``k`` covers frames ``[e_k, e_{k+1})`` with ``e = round(linspace(0, T, num_bins + 1))``;
    an odd ``num_bins`` centres the middle bin on frame ``T // 2``.

    Args:
        spikes (torch.Tensor): ``[N, T, H, W]``, ``T >= num_bins``.
        num_bins (int): Bins B.

    Returns:
        torch.Tensor: ``[N, B, H, W]`` float32 rates in [0, 1].
    """
    t = spikes.shape[1]
    if t % num_bins == 0:
        return bin_frames(spikes, t // num_bins)
    edges = torch.linspace(0, t, num_bins + 1).round().long().tolist()
    x = spikes.to(torch.float32)
    return torch.stack([x[:, a:b].mean(1) for a, b in zip(edges[:-1], edges[1:])], dim=1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad the bottom and right of ``x`` so that H and W are multiples of ``multiple``.

    Reflect padding where the image is large enough for it, replicate padding otherwise (reflect
    needs the pad to be smaller than the side).

    Args:
        x (torch.Tensor): ``[N, C, H, W]``.
        multiple (int): Required divisor of H and W, e.g. ``2 ** levels``.

    Returns:
        tuple: The padded tensor and the original ``(H, W)`` for :func:`crop_to`.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    mode = 'reflect' if pad_h < h and pad_w < w else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def crop_to(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: keep the top-left ``size = (H, W)``."""
    return x[..., :size[0], :size[1]]


class _StraightThroughClamp(torch.autograd.Function):
    """Clamp to [0, 1] forward, identity backward (gradients survive out-of-range outputs)."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad


def clamp_unit_st(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] with a straight-through (identity) gradient.

    A plain clamp has zero gradient outside [0, 1], so a pixel pushed there early in training could
    never come back; the straight-through version keeps the gradient of the unclamped value.
    """
    return _StraightThroughClamp.apply(x)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
