"""AdaptiveWindow: a long spike average where the scene is still, a short-window model where it
moves, chosen per pixel.

A short-window network (e.g. :class:`~spikeclip.models.encoders.MotionUNet` over 41 frames)
handles motion, but on a still scene it holds less light than a long average: over 250 frames a
plain spike rate is several dB cleaner. This wrapper reads a long window ``[N, T, H, W]``
(``short.window <= T <= window``) centred on frame ``c = T // 2`` and builds nested centred
windows ``L_0 < L_1 < ... < L_K`` (the short window, the ``levels`` that fit, and the whole
input). For each level ``k >= 1`` it tests whether the scene stayed still: the spike rates of the
two new outer segments (left and right of ``L_{k-1}``) are compared with the rate over
``L_{k-1}``. Under a constant rate an integrate-and-fire pixel's count over ``L`` frames is
``r * L`` within about one spike (the phase), plus temporal noise; the squared difference is
divided by that expected variance,

    z^2 = (r_seg - r_in)^2 / (q (1 / L_seg + 1 / L_in)^2 + fano r (1 / L_seg + 1 / L_in)),
    q = min(quant_var, r L_seg)   (the phase error, shared at the windows' boundary),

and ``z^2`` is averaged over a ``pool x pool`` neighbourhood (so that one noisy pixel neither
starts nor stops a long window, and the selection map has no speckle). A pixel is still up to
level ``k`` while every test up to ``k`` passes (``mean z^2 < threshold`` for both segments; the
test also runs on rates box-averaged over ``scales``, for coarse structure in low light). Moving
areas are grown by ``dilate`` pixels, and where more than ``camera_share`` of the view moves (the
camera does) the whole view stays on the short model.

Output: the short model's image where the test at level 1 fails, the rate over ``L_k`` where the
pixel is still up to level ``k`` (``mode='hard'``), or a blend by the per-level pass
probabilities ``1 - sigmoid((z^2 - threshold) / softness)`` (``mode='soft'``: level ``k``
replaces the image so far with weight ``P_k``, the product of the pass probabilities up to
``k``). No learned parameters besides the short model's.

A shorter input than ``window`` (a 200-frame U-CALTECH file, a 100-frame clip) uses the levels
that fit; it must hold at least the short window.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from spikeclip.registry import ENCODERS
from spikeclip.utils.errors import ConfigError, SpikeFormatError

from .utils import check_spikes


def _box(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.avg_pool2d(x, size, stride=1, padding=size // 2, count_include_pad=False)[
        ..., :x.shape[-2], :x.shape[-1]]


def _identity(x: torch.Tensor, size: int) -> torch.Tensor:
    return x


def centred_bounds(num_frames: int, length: int) -> Tuple[int, int]:
    """``(start, stop)`` of the ``length``-frame window centred on frame ``num_frames // 2``
    (the convention of :func:`spikeclip.fileio.window_bounds`), kept inside the input."""
    start = min(max(num_frames // 2 - length // 2, 0), num_frames - length)
    return start, start + length


@ENCODERS.register_module()
class AdaptiveWindow(nn.Module):
    """Per-pixel choice between a short-window model and longer spike averages.

    See the module doc for the test. The short model reads the centre ``short.window`` frames.

    Args:
        short (dict): Config of the short-window encoder (``ENCODERS``); it must declare its
            ``window``.
        window (int): Longest input T (the data preprocessor's window). Defaults to 251.
        levels (Sequence[int]): Intermediate window lengths between the short window and
            ``window``; those not shorter than the input are skipped. Defaults to (81, 161).
        threshold (float): Largest mean ``z^2`` of a still neighbourhood. Defaults to 2.0.
        pool (int): Side of the neighbourhood ``z^2`` is averaged over (odd). Defaults to 9.
        fano (float): Temporal count noise of the sensor, as a fraction of Poisson noise
            (0 for a noise-free integrate-and-fire pixel). Defaults to 0.02.
        quant_var (float): Variance of a window's count from the integrate-and-fire phase
            (spikes^2). Defaults to 0.25.
        mode (str): ``'hard'`` (the longest still window) or ``'soft'`` (a blend by pass
            probabilities). Defaults to ``'soft'``.
        softness (float): Width of the soft pass probability in ``z^2``. Defaults to 0.5.
        scales (Sequence[int]): Spatial scales of the test: rates are also compared after a
            ``scale x scale`` box average (coarse structure in low light). Defaults to (1, 4).
        dilate (int): Side of the max filter that grows every moving area (odd; 1 for none), so
            that the blur of a long window never reaches the edge of a moving object.
            Defaults to 7.
        camera_share (float): Where more than this share of the view fails a level's test,
            the camera moves, and no pixel of that view uses the level or longer ones (1 turns
            this off). Defaults to 1.0.
    """

    def __init__(self,
                 short: dict,
                 window: int = 251,
                 levels: Sequence[int] = (81, 161),
                 threshold: float = 2.0,
                 pool: int = 9,
                 fano: float = 0.02,
                 quant_var: float = 0.25,
                 mode: str = 'soft',
                 softness: float = 0.5,
                 scales: Sequence[int] = (1, 4),
                 dilate: int = 7,
                 camera_share: float = 1.0):
        super().__init__()
        if not isinstance(short, dict):
            raise ConfigError(f'AdaptiveWindow short must be an encoder config dict, got '
                              f'{type(short).__name__}')
        self.short = ENCODERS.build(short)
        min_window = getattr(self.short, 'window', None)
        if not isinstance(min_window, int) or min_window < 1:
            raise ConfigError(f'AdaptiveWindow short encoder {short.get("type")} declares no '
                              'window length (attribute window)')
        if not isinstance(window, int) or window < min_window:
            raise ConfigError(f'AdaptiveWindow window must be an int of at least the short '
                              f'window ({min_window}), got {window!r}')
        levels = sorted({int(v) for v in levels})
        if any(not min_window < v < window for v in levels):
            raise ConfigError(f'AdaptiveWindow levels must lie strictly between the short window '
                              f'({min_window}) and window ({window}), got {levels}')
        if mode not in ('hard', 'soft'):
            raise ConfigError(f"AdaptiveWindow mode must be 'hard' or 'soft', got {mode!r}")
        for name, value in (('pool', pool), ('dilate', dilate)):
            if not (isinstance(value, int) and value >= 1 and value % 2 == 1):
                raise ConfigError(f'AdaptiveWindow {name} must be an odd positive int, got '
                                  f'{value!r}')
        scales = sorted({int(v) for v in scales})
        if not scales or scales[0] < 1:
            raise ConfigError(f'AdaptiveWindow scales must be positive ints, got {scales}')
        for name, value in (('threshold', threshold), ('softness', softness)):
            if not value > 0:
                raise ConfigError(f'AdaptiveWindow {name} must be positive, got {value!r}')
        for name, value in (('fano', fano), ('quant_var', quant_var)):
            if not value >= 0:
                raise ConfigError(f'AdaptiveWindow {name} must be >= 0, got {value!r}')
        self.window = window
        self.min_window = min_window  # inputs from min_window to window frames are accepted
        self.levels = levels
        self.threshold, self.pool, self.softness = float(threshold), pool, float(softness)
        self.fano, self.quant_var, self.mode = float(fano), float(quant_var), mode
        self.scales, self.dilate = scales, dilate
        if not 0 < camera_share <= 1:
            raise ConfigError(f'AdaptiveWindow camera_share must be in (0, 1], got '
                              f'{camera_share!r}')
        self.camera_share = float(camera_share)

    def lengths(self, num_frames: int) -> List[int]:
        """The nested window lengths ``L_0 < ... < L_K`` used for an input of ``num_frames``."""
        top = min(num_frames, self.window)
        return [self.min_window] + [v for v in self.levels if v < top] + \
            ([top] if top > self.min_window else [])

    def _variance(self, rate: torch.Tensor, len_seg: int, len_in: int) -> torch.Tensor:
        """Expected variance of ``r_seg - r_in`` at a constant ``rate`` (spikes^2 / frame^2)
        for adjacent windows of ``len_seg`` and ``len_in`` frames.

        The integrate-and-fire phase error is shared at the boundary (a spike early in one
        window is a spike missing from the other), so it enters as
        ``q * (1 / len_seg + 1 / len_in)^2``, not as the sum of two independent variances;
        the temporal noise as ``fano * rate * (1 / len_seg + 1 / len_in)``.
        """
        inv = 1.0 / len_seg + 1.0 / len_in
        q = torch.clamp(rate * len_seg, max=self.quant_var)
        return q * inv ** 2 + self.fano * rate * inv

    def _dilate(self, moving: torch.Tensor) -> torch.Tensor:
        """Grow the moving areas by ``dilate // 2`` pixels (a max filter)."""
        if self.dilate == 1:
            return moving
        return F.max_pool2d(moving, self.dilate, stride=1, padding=self.dilate // 2)

    def _pooled(self, z2: torch.Tensor) -> torch.Tensor:
        return z2 if self.pool == 1 else _box(z2, self.pool)

    def select(self, spikes: torch.Tensor):
        """The nested-window rates and per-level motion tests.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes.

        Returns:
            tuple: ``lengths`` (list of ``L_k``), ``rates`` (list of ``[N, 1, H, W]`` spike rates
            over each ``L_k``) and ``stats`` (list of ``[N, 1, H, W]`` pooled ``z^2`` for levels
            ``1..K``: the largest over the two segments and the spatial scales).
        """
        t = spikes.shape[1]
        lengths = self.lengths(t)
        x = spikes.float()
        bounds = [centred_bounds(t, length) for length in lengths]
        a, b = bounds[0]
        count = x[:, a:b].sum(1, keepdim=True)
        rates, stats = [count / lengths[0]], []
        for (a_in, b_in), (a, b) in zip(bounds[:-1], bounds[1:]):
            len_in = b_in - a_in
            segments = [(s, e) for s, e in ((a, a_in), (b_in, b)) if e > s]
            seg_counts = [x[:, s:e].sum(1, keepdim=True) for s, e in segments]
            total = count + sum(seg_counts)
            rate = total / (b - a)  # the null hypothesis: one rate over the whole window
            z2 = torch.zeros_like(rate)
            for scale in self.scales:
                # Rates averaged over scale x scale pixels: more spikes, so more power against
                # the motion of coarse structure; the count variance falls by scale^2.
                blur = _box if scale > 1 else _identity
                r_hat = blur(rate, scale)
                r_in = blur(count, scale) / len_in
                for (s, e), n in zip(segments, seg_counts):
                    v = self._variance(r_hat, e - s, len_in) / scale ** 2
                    d = blur(n, scale) / (e - s) - r_in
                    z2 = torch.maximum(z2, self._pooled(d ** 2 / v.clamp_min(1e-8)))
            stats.append(z2)
            rates.append(rate)
            count = total
        return lengths, rates, stats

    def forward(self, spikes: torch.Tensor, return_level: bool = False):
        """Reconstruct.

        Args:
            spikes (torch.Tensor): ``[N, T, H, W]`` 0/1 spikes, ``min_window <= T <= window``.
            return_level (bool): Also return the selected window per pixel ``[N, 1, H, W]``
                (frames; 0 where the short model is used; the expected length in soft mode).

        Returns:
            torch.Tensor: ``[N, 1, H, W]`` float32 intensity in [0, 1] (and the level map).
        """
        check_spikes(spikes, 'AdaptiveWindow')
        t = spikes.shape[1]
        if not self.min_window <= t <= self.window:
            raise SpikeFormatError(
                f'AdaptiveWindow takes {self.min_window} to {self.window} frames, but the spike '
                f'window has T={t} frames ({tuple(spikes.shape)})')
        a, b = centred_bounds(t, self.min_window)
        out = self.short(spikes[:, a:b])
        lengths, rates, stats = self.select(spikes)
        level = torch.zeros_like(out)
        passed = torch.ones_like(out)
        for length, rate, z2 in zip(lengths[1:], rates[1:], stats):
            if self.mode == 'hard':
                moving = self._dilate((z2 >= self.threshold).float())
            else:
                moving = self._dilate(torch.sigmoid((z2 - self.threshold) / self.softness))
            passed = passed * (1 - moving)
            if self.camera_share < 1:  # most of the view moves: the camera does
                share = moving.mean((1, 2, 3), keepdim=True)
                passed = passed * (share <= self.camera_share)
            out = out + passed * (rate - out)
            level = level + passed * (length - level)
        out = out.clamp(0.0, 1.0)
        return (out, level) if return_level else out

    def extra_repr(self) -> str:
        return (f'window={self.window}, min_window={self.min_window}, levels={self.levels}, '
                f'threshold={self.threshold}, pool={self.pool}, fano={self.fano}, '
                f'scales={self.scales}, dilate={self.dilate}, camera_share={self.camera_share}, '
                f'mode={self.mode!r}')


__all__ = ['AdaptiveWindow', 'centred_bounds']
