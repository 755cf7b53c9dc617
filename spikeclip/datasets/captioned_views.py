"""Image batches for pretraining the tiny CLIP: random views of classed photographs, clean and
degraded the way spike reconstructions degrade.

:class:`ViewSampler` draws, per image, a class, a view of that class's photograph (the split's
region only, see :func:`~spikeclip.datasets.default_images.split_region`) and a light level, as
the demo's simulated scenes do (:mod:`spikeclip.simulation.scene`): a random scale, quarter turn,
flip and contrast change (gamma), sometimes a foreground patch of another photograph, and a mean
level log-uniform over a decade, so that a clean image can be as dim as the demo's references
(expected spike rates, mean 0.1-0.6). :func:`degrade_like_spikes` turns clean images into what
spike reconstructions look like (:class:`DegradationConfig`). Everything is batched torch code
driven by one ``torch.Generator``, so a seed gives the same batches.
"""
import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.errors import ConfigError
from .default_images import load_default_images, split_region


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _log_uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return torch.exp(_uniform(n, math.log(lo), math.log(hi), g))


def _chance(n: int, p: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


@dataclass(frozen=True)
class ViewConfig:
    """How clean views are drawn (the ranges of the demo's scenes).

    Args:
        size (int): Side of the square view. Defaults to 64 (the demo's crops).
        scale_range (tuple): Source pixels per view pixel, log-uniform. Defaults to (0.7, 1.5).
        gamma_range (tuple): Contrast change ``I ** gamma``, log-uniform. Defaults to (0.7, 1.4).
        mean_range (tuple): Mean level of the view after the light gain, log-uniform (the
            demo's references are spike rates with means 0.1-0.6). Defaults to (0.05, 0.7).
        max_gain (float): Cap on the light gain of a dark view. Defaults to 4.0.
        object_prob (float): Chance of a foreground patch of another photograph (the demo's
            moving objects). Defaults to 0.3.
    """
    size: int = 64
    scale_range: Tuple[float, float] = (0.7, 1.5)
    gamma_range: Tuple[float, float] = (0.7, 1.4)
    mean_range: Tuple[float, float] = (0.05, 0.7)
    max_gain: float = 4.0
    object_prob: float = 0.3


@dataclass(frozen=True)
class DegradationConfig:
    """What a spike reconstruction does to an image, each drawn per image.

    Applied in this order: motion blur (the scene moved during the window), integrate-and-fire
    counting over a short window (quantised rates with per-pixel dither, fixed-pattern
    threshold mismatch, shot noise), smoothing (what a denoising network leaves), clipped
    highlights, extra grain.

    Args:
        motion_prob (float): Chance of motion blur. Defaults to 0.7.
        blur_length (tuple): Length of the motion blur in pixels, log-uniform.
            Defaults to (1.0, 32.0).
        window_range (tuple): Frames the rate is counted over (quantisation to ``1 / window``),
            log-uniform. Defaults to (4, 64).
        mismatch_range (tuple): Relative std of the per-pixel threshold, uniform.
            Defaults to (0.0, 0.08).
        photons_range (tuple): Photons per threshold (shot noise), log-uniform.
            Defaults to (20.0, 2000.0).
        smooth_prob (float): Chance of Gaussian smoothing. Defaults to 0.5.
        smooth_sigma (tuple): Its sigma in pixels, uniform. Defaults to (0.5, 2.0).
        clip_prob (float): Chance of clipped highlights. Defaults to 0.15.
        clip_gain (tuple): Gain before clipping to [0, 1], uniform. Defaults to (1.5, 3.0).
        grain_prob (float): Chance of extra Gaussian grain. Defaults to 0.3.
        grain_sigma (tuple): Its std, log-uniform. Defaults to (0.005, 0.05).
    """
    motion_prob: float = 0.7
    blur_length: Tuple[float, float] = (1.0, 32.0)
    window_range: Tuple[float, float] = (4.0, 64.0)
    mismatch_range: Tuple[float, float] = (0.0, 0.08)
    photons_range: Tuple[float, float] = (20.0, 2000.0)
    smooth_prob: float = 0.5
    smooth_sigma: Tuple[float, float] = (0.5, 2.0)
    clip_prob: float = 0.15
    clip_gain: Tuple[float, float] = (1.5, 3.0)
    grain_prob: float = 0.3
    grain_sigma: Tuple[float, float] = (0.005, 0.05)


def _shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """``x`` ``[N, 1, H, W]`` translated by ``(dy, dx)`` pixels per image (bilinear, border)."""
    n, _, h, w = x.shape
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * dx / w
    theta[:, 1, 2] = -2 * dy / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)


def motion_blur(x: torch.Tensor, length: torch.Tensor, angle: torch.Tensor,
                taps: int = 15) -> torch.Tensor:
    """Average of ``taps`` copies of ``x`` ``[N, 1, H, W]`` shifted along a line of ``length``
    pixels at ``angle`` (radians), per image: what a counting window sees of a moving scene."""
    out = torch.zeros_like(x)
    for t in torch.linspace(-0.5, 0.5, taps):
        out += _shift(x, t * length * torch.sin(angle), t * length * torch.cos(angle))
    return out / taps


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int = 4) -> torch.Tensor:
    """Separable Gaussian blur of ``x`` ``[N, 1, H, W]`` with a per-image ``sigma`` ``[N]``."""
    n = x.shape[0]
    r = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (r[None] / sigma[:, None].clamp_min(1e-3))**2)
    k = k / k.sum(1, keepdim=True)  # [N, 2r + 1]
    y = x.reshape(1, n, *x.shape[-2:])
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode='replicate'), k[:, None, None, :],
                 groups=n)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode='replicate'), k[:, None, :, None],
                 groups=n)
    return y.reshape(x.shape)


def degrade_like_spikes(x: torch.Tensor, generator: torch.Generator,
                        cfg: DegradationConfig = DegradationConfig()) -> torch.Tensor:
    """Degrade clean images the way spike reconstructions are degraded.

    Args:
        x (torch.Tensor): Clean images ``[N, 1, H, W]`` in [0, 1] (spike rates: the light level
            is part of the image).
        generator (torch.Generator): Source of every random draw.
        cfg (DegradationConfig): Ranges and chances. Defaults to ``DegradationConfig()``.

    Returns:
        torch.Tensor: ``[N, 1, H, W]`` in [0, 1].
    """
    g, n = generator, x.shape[0]
    y = x
    moving = _chance(n, cfg.motion_prob, g)
    length = _log_uniform(n, *cfg.blur_length, g) * moving
    angle = _uniform(n, 0, math.pi, g)
    if bool(moving.any()):
        y = y.clone()
        y[moving] = motion_blur(y[moving], length[moving], angle[moving])
    # Integrate-and-fire over `window` frames: count = floor(u + window * rate / theta) with a
    # uniform initial accumulator u, a per-pixel threshold theta and shot noise on the charge.
    window = _log_uniform(n, *cfg.window_range, g).round().view(n, 1, 1, 1)
    mismatch = _uniform(n, *cfg.mismatch_range, g).view(n, 1, 1, 1)
    photons = _log_uniform(n, *cfg.photons_range, g).view(n, 1, 1, 1)
    theta = (1 + mismatch * torch.randn(y.shape, generator=g)).clamp_min(0.2)
    charge = window * y
    charge = (charge + (charge / photons).sqrt() * torch.randn(y.shape, generator=g)).clamp_min(0)
    count = torch.floor(torch.rand(y.shape, generator=g) + charge / theta)
    y = torch.minimum(count, window) / window
    smooth = _chance(n, cfg.smooth_prob, g)
    if bool(smooth.any()):
        sigma = _uniform(n, *cfg.smooth_sigma, g)
        y = torch.where(smooth.view(n, 1, 1, 1), gaussian_blur(y, sigma), y)
    gain = torch.where(_chance(n, cfg.clip_prob, g), _uniform(n, *cfg.clip_gain, g),
                       torch.ones(n))
    y = y * gain.view(n, 1, 1, 1)
    grain = _log_uniform(n, *cfg.grain_sigma, g) * _chance(n, cfg.grain_prob, g)
    y = y + grain.view(n, 1, 1, 1) * torch.randn(y.shape, generator=g)
    return y.clamp_(0, 1)


class ViewSampler:
    """Random views of classed grey photographs, batched.

    Args:
        images (Sequence[tuple], optional): ``(class name, [H, W] float32 image)`` pairs, one
            photograph per class; None is the embedded 12-class set
            (:func:`~spikeclip.datasets.load_default_images`).
        split (str): ``'train'`` or ``'test'`` region of each photograph
            (:func:`~spikeclip.datasets.default_images.split_region`). Defaults to ``'train'``.
        cfg (ViewConfig): View ranges. Defaults to ``ViewConfig()``.

    Raises:
        ConfigError: A region is too small for the largest view.
    """

    def __init__(self, images: Optional[Sequence[Tuple[str, np.ndarray]]] = None,
                 split: str = 'train', cfg: ViewConfig = ViewConfig()):
        images = list(images) if images is not None else load_default_images()
        self.cfg = cfg
        self.split = split
        self.classes = tuple(name for name, _ in images)
        self.regions = [torch.from_numpy(np.ascontiguousarray(split_region(img, split)))
                        for _, img in images]
        need = math.ceil(cfg.size * cfg.scale_range[0]) + 1
        for name, region in zip(self.classes, self.regions):
            if min(region.shape) < need:
                raise ConfigError(f'the {split} region of {name!r} is {tuple(region.shape)} '
                                  f'pixels, too small for {cfg.size}-pixel views at scale '
                                  f'{cfg.scale_range[0]} (needs {need})')

    def config(self) -> dict:
        return dict(split=self.split, classes=list(self.classes), **asdict(self.cfg))

    def _crops(self, region: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
        """``n`` views ``[n, 1, s, s]`` of one region: random scale, position, quarter turn and
        flip (bilinear resampling, as the scene simulator's views)."""
        s, (h, w) = self.cfg.size, region.shape
        # Scales that would not fit the region are shrunk to fit, as the scene simulator does.
        scale = _log_uniform(n, *self.cfg.scale_range, g).clamp_max((min(h, w) - 1) / s)
        half = scale * s / 2  # half the source window, in pixels
        cy = half + torch.rand(n, generator=g) * (h - 2 * half)
        cx = half + torch.rand(n, generator=g) * (w - 2 * half)
        turn = torch.randint(0, 4, (n, ), generator=g).float() * (math.pi / 2)
        flip = torch.where(_chance(n, 0.5, g), -1.0, 1.0)
        cos, sin = torch.cos(turn), torch.sin(turn)
        theta = torch.zeros(n, 2, 3)
        # Output (x, y) in [-1, 1] -> source (x, y) in [-1, 1]; rows: x, then y.
        theta[:, 0, 0] = flip * cos * half * 2 / w
        theta[:, 0, 1] = -sin * half * 2 / w
        theta[:, 1, 0] = flip * sin * half * 2 / h
        theta[:, 1, 1] = cos * half * 2 / h
        theta[:, 0, 2] = cx * 2 / w - 1
        theta[:, 1, 2] = cy * 2 / h - 1
        grid = F.affine_grid(theta, [n, 1, s, s], align_corners=False)
        src = region[None, None].expand(n, -1, -1, -1)
        return F.grid_sample(src, grid, mode='bilinear', padding_mode='border',
                             align_corners=False)

    def sample(self, n: int, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        """``n`` clean views and their labels.

        Args:
            n (int): Number of views.
            generator (torch.Generator): Source of every random draw.

        Returns:
            tuple: Images ``[n, 1, s, s]`` float32 in [0, 1] and labels ``[n]`` (int64),
            classes balanced up to the remainder and shuffled.
        """
        g, cfg, k = generator, self.cfg, len(self.regions)
        labels = torch.arange(n) % k
        labels = labels[torch.randperm(n, generator=g)]
        views = torch.empty(n, 1, cfg.size, cfg.size)
        # A second draw per image gives the foreground patches (another class's texture).
        others = (labels + torch.randint(1, k, (n, ), generator=g)) % k if k > 1 else labels
        patches = torch.empty_like(views)
        for c in range(k):
            for target, chosen in ((views, labels == c), (patches, others == c)):
                m = int(chosen.sum())
                if m:
                    target[chosen] = self._crops(self.regions[c], m, g)
        x = torch.where(self._object_masks(n, g), patches, views)
        gamma = _log_uniform(n, *cfg.gamma_range, g).view(n, 1, 1, 1)
        x = x.clamp(0, 1).pow(gamma)
        mean = _log_uniform(n, *cfg.mean_range, g).view(n, 1, 1, 1)
        gain = (mean / x.mean((1, 2, 3), keepdim=True).clamp_min(1e-3)).clamp_max(cfg.max_gain)
        return (x * gain).clamp_(0, 1), labels

    def _object_masks(self, n: int, g: torch.Generator) -> torch.Tensor:
        """``[n, 1, s, s]`` masks of an ellipse covering 5-30 % of the view, for some views."""
        s = self.cfg.size
        yy, xx = torch.meshgrid(torch.arange(s) + 0.5, torch.arange(s) + 0.5, indexing='ij')
        cy, cx = (torch.rand(2, n, 1, 1, generator=g) * s).unbind(0)
        ry, rx = (_uniform(2 * n, 0.12, 0.35, g) * s).view(2, n, 1, 1).unbind(0)
        inside = ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 < 1
        return (inside & _chance(n, self.cfg.object_prob, g).view(n, 1, 1))[:, None]
