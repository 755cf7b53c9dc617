"""What a spike recording says about its sensor: the statistics that tell a real camera from a
simulation, measured the same way on both.

:func:`sensor_stats` reads a recording (``.dat`` or ``.npz``, streamed: only a chunk of frames is
decoded at a time) or a spike array ``[T, H, W]`` and measures:

* ``rate``: the per-pixel spike rate (spikes per frame): mean, quantiles and a histogram;
* ``still``: which pixels see a still scene (their spike counts in four equal blocks of the
  recording agree within integrate-and-fire quantisation: a still pixel's counts differ by at
  most about one spike), the share of still pixels and whether the recording looks still;
* ``isi``: inter-spike-interval regularity on still pixels, the coefficient of variation (CV)
  beside the CV that frame quantisation alone gives at each pixel's rate (a pixel of rate ``r``
  fires every ``floor(1/r)`` or ``ceil(1/r)`` frames), for bright pixels (0.1-0.5 spikes per
  frame) and for all of them;
* ``consecutive``: the share of spikes followed by a spike in the next frame, on pixels below
  0.5 spikes per frame (a regular integrate-and-fire pixel never does that);
* ``fixed_pattern``: the per-pixel gain non-uniformity (relative std), estimated on still pixels
  of the flattest parts of the scene (chosen on a smoothed image, so that the estimate is not
  biased towards pixels whose own offset happens to be small), with the count quantisation
  subtracted. On a still scene a fixed pattern and the scene's own texture at the pixel scale
  look alike, so this is an upper bound; it is exact on a flat target (a white wall out of
  focus, a diffuser over the lens);
* ``dark``: the rate of the darkest pixels (1st percentile) and the share of pixels without a
  spike;
* ``defects``: hot pixels (firing far above their neighbours) and dead ones (silent among firing
  neighbours).

:func:`compare_with_simulation` simulates a recording of the same size, length and mean rate with
the toolkit's calibrated sensor model and measures it the same way, and :func:`suggestions` says
which simulation settings to change where the two differ. ``tools/sensor_stats.py`` prints both.
"""
import math
from typing import Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..fileio.stream import SpikeReader
from ..utils.errors import ConfigError
from .dead_leaves import dead_leaves
from .scene import SceneSimulator, SensorNoiseConfig

RATE_QUANTILES = (1, 5, 25, 50, 75, 95, 99)
RATE_BINS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
NUM_BLOCKS = 4
MIN_FRAMES = 32


class _Accumulator:
    """Per-pixel running statistics of a spike stream fed frame chunk by chunk."""

    def __init__(self, height: int, width: int, num_frames: int):
        shape = (height, width)
        self.t = 0
        self.num_frames = num_frames
        self.block_len = num_frames // NUM_BLOCKS
        self.count = np.zeros(shape, np.int64)
        self.blocks = np.zeros((NUM_BLOCKS, *shape), np.int64)
        self.last = np.full(shape, -1, np.int64)  # frame of the last spike, -1 before the first
        self.isi_n = np.zeros(shape, np.int64)
        self.isi_sum = np.zeros(shape, np.float64)
        self.isi_sq = np.zeros(shape, np.float64)
        self.pairs = np.zeros(shape, np.int64)  # spikes in two consecutive frames
        self.prev = np.zeros(shape, bool)

    def add(self, chunk: np.ndarray) -> None:
        for frame in chunk.astype(bool):
            t = self.t
            self.pairs += frame & self.prev
            self.count += frame
            block = min(t // self.block_len, NUM_BLOCKS - 1) if self.block_len else 0
            self.blocks[block] += frame
            fired = frame & (self.last >= 0)
            isi = (t - self.last)[fired]
            self.isi_n[fired] += 1
            self.isi_sum[fired] += isi
            self.isi_sq[fired] += isi.astype(np.float64) ** 2
            self.last[frame] = t
            self.prev = frame
            self.t += 1


def _box(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over ``k x k`` neighbourhoods (edges replicated), ``[H, W]``."""
    t = torch.from_numpy(np.ascontiguousarray(x, np.float64))[None, None]
    t = F.pad(t, (k // 2, ) * 4, mode='replicate')
    return F.avg_pool2d(t, k, stride=1)[0, 0].numpy()


def _neighbour_range(x: np.ndarray):
    """Per pixel, the smallest and largest of its 8 neighbours (edges replicated)."""
    t = torch.from_numpy(np.ascontiguousarray(x, np.float64))[None, None]
    t = F.pad(t, (1, 1, 1, 1), mode='replicate')
    shifts = [t[..., 1 + dy:t.shape[-2] - 1 + dy, 1 + dx:t.shape[-1] - 1 + dx]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    stack = torch.cat(shifts, 1)[0]
    return stack.min(0).values.numpy(), stack.max(0).values.numpy()


def quantisation_cv(rate: np.ndarray) -> np.ndarray:
    """The inter-spike-interval CV of a perfectly regular pixel of ``rate`` spikes per frame read
    out once a frame: its intervals are ``floor(1/r)`` and ``ceil(1/r)`` frames, with mean
    ``1/r``, so the CV is ``sqrt(f (1 - f)) * r`` for the fractional part ``f`` of ``1/r``."""
    period = 1.0 / np.maximum(rate, 1e-9)
    f = period - np.floor(period)
    return np.sqrt(f * (1 - f)) / period


def _iter_chunks(source, max_frames: Optional[int], chunk: int = 256):
    if isinstance(source, (np.ndarray, torch.Tensor)):
        spikes = np.asarray(source)
        if spikes.ndim != 3:
            raise ConfigError(f'sensor_stats takes spikes [T, H, W], got {tuple(spikes.shape)}')
        n = spikes.shape[0] if max_frames is None else min(max_frames, spikes.shape[0])
        yield spikes.shape[1:], n
        for s in range(0, n, chunk):
            yield spikes[s:min(n, s + chunk)]
        return
    reader = source
    n = reader.num_frames if max_frames is None else min(max_frames, reader.num_frames)
    yield (reader.height, reader.width), n
    for s in range(0, n, chunk):
        yield reader.read(s, min(chunk, n - s))


def sensor_stats(source: Union[str, np.ndarray, torch.Tensor], height: int = 250,
                 width: int = 400, max_frames: Optional[int] = None) -> Dict:
    """Measure a recording (see the module doc).

    Args:
        source (str | np.ndarray | torch.Tensor): A ``.dat`` / ``.npz`` file, or spikes
            ``[T, H, W]`` (0/1).
        height (int): Frame height of a ``.dat`` file. Defaults to 250.
        width (int): Frame width of a ``.dat`` file. Defaults to 400.
        max_frames (int, optional): Read at most the first ``max_frames`` frames. Defaults to
            all.

    Returns:
        dict: ``frames``, ``height``, ``width`` and the groups of the module doc (plain numbers,
        JSON-ready).

    Raises:
        ConfigError: A recording shorter than 32 frames, or spikes of the wrong shape.
        SpikeFormatError: An unreadable file (named).
    """
    reader = SpikeReader(source, height, width) if isinstance(source, str) else None
    try:
        chunks = _iter_chunks(reader if reader is not None else source, max_frames)
        (h, w), n = next(chunks)
        name = source if isinstance(source, str) else 'the spikes'
        if n < MIN_FRAMES:
            raise ConfigError(f'{name}: {n} frames; sensor statistics need at least '
                              f'{MIN_FRAMES} (spike timing is measured over the recording)')
        acc = _Accumulator(h, w, n)
        for chunk in chunks:
            acc.add(chunk)
    finally:
        if reader is not None:
            reader.close()
    return _summarise(acc, h, w, n)


def _summarise(acc: _Accumulator, h: int, w: int, n: int) -> Dict:
    rate = acc.count / n
    hist, _ = np.histogram(rate, bins=RATE_BINS)
    out = dict(frames=n, height=h, width=w)
    out['rate'] = dict(mean=float(rate.mean()),
                       quantiles={str(q): float(v) for q, v in
                                  zip(RATE_QUANTILES, np.percentile(rate, RATE_QUANTILES))},
                       histogram=dict(bins=list(RATE_BINS),
                                      share=[float(c) / rate.size for c in hist]))
    # Still pixels: block counts agree within quantisation (+-1 spike, and 10 % for the small
    # temporal noise of a real sensor). Pixels below 0.01 spikes per frame say too little.
    blocks = acc.blocks.astype(np.float64)
    spread = blocks.max(0) - blocks.min(0)
    tol = np.maximum(2.0, 0.1 * blocks.mean(0))
    measurable = rate >= 0.01
    still = (spread <= tol) & measurable
    still_share = float(still.sum() / max(1, measurable.sum()))
    out['still'] = dict(share=still_share, looks_still=still_share >= 0.9,
                        measurable_share=float(measurable.mean()))
    # Interval regularity on still pixels with enough intervals.
    enough = still & (acc.isi_n >= 4)
    mean_isi = acc.isi_sum / np.maximum(acc.isi_n, 1)
    var_isi = np.maximum(acc.isi_sq / np.maximum(acc.isi_n, 1) - mean_isi ** 2, 0)
    cv = np.sqrt(var_isi) / np.maximum(mean_isi, 1e-9)
    qcv = quantisation_cv(rate)
    bright = enough & (rate >= 0.1) & (rate <= 0.5)

    def median(x, mask):
        return float(np.median(x[mask])) if mask.any() else None

    # What the timing varies beyond quantisation: sqrt(CV^2 - CV_quantisation^2), per pixel.
    excess = np.sqrt(np.maximum(cv ** 2 - qcv ** 2, 0))
    out['isi'] = dict(cv_bright=median(cv, bright), quantisation_cv_bright=median(qcv, bright),
                      excess_cv_bright=median(excess, bright),
                      cv_all=median(cv, enough), quantisation_cv_all=median(qcv, enough),
                      excess_cv_all=median(excess, enough),
                      pixels_bright=int(bright.sum()), pixels_all=int(enough.sum()))
    below = rate < 0.5
    spikes_below = int(acc.count[below].sum())
    out['consecutive'] = dict(
        share_below_half=float(acc.pairs[below].sum() / spikes_below) if spikes_below else None,
        share_all=float(acc.pairs.sum() / max(1, acc.count.sum())))
    out['fixed_pattern'] = _fixed_pattern(rate, still, n)
    # The darkest pixels show the dark rate only where the scene has black parts: pixels at a
    # tenth of the median rate or less.
    p1 = float(np.percentile(rate, 1))
    has_dark = p1 <= 0.1 * float(np.median(rate))
    out['dark'] = dict(rate_p1=p1, scene_has_dark_parts=bool(has_dark),
                       silent_share=float((acc.count == 0).mean()))
    # A defect stands out against all eight neighbours: a silent pixel among neighbours that
    # each fired at least 10 times, or a pixel above 0.9 spikes per frame among neighbours that
    # all stay below half of that.
    low, high = _neighbour_range(rate)
    out['defects'] = dict(hot=int(((rate > 0.9) & (high < 0.45)).sum()),
                          dead=int(((acc.count == 0) & (low * n >= 10)).sum()))
    return out


def _fixed_pattern(rate: np.ndarray, still: np.ndarray, n: int) -> Dict:
    """Relative per-pixel gain non-uniformity on still, lit, flat pixels.

    Flatness is judged on a 5x5-smoothed image (texture shows there, the per-pixel pattern is
    averaged away); on the flattest tenth, the residual of each pixel against its 3x3 mean has
    the variance ``8/9 sigma^2`` for independent offsets of std ``sigma``, plus the count
    quantisation of an integrate-and-fire pixel with a random phase (variance about ``1/6`` spike
    over the recording).
    """
    smooth = _box(rate, 5)
    gy, gx = np.gradient(smooth)
    texture = np.hypot(gx, gy) / np.maximum(smooth, 1e-6)
    lit = still & (rate >= 0.05)
    # keep away from the border, where the replicated edge biases the local means
    lit[:2], lit[-2:], lit[:, :2], lit[:, -2:] = False, False, False, False
    if lit.sum() < 50:
        return dict(relative_std=None, pixels=int(lit.sum()))
    flat = lit & (texture <= np.percentile(texture[lit], 10))
    local = _box(rate, 3)
    resid = (rate - local)[flat] / local[flat]
    total = float(np.var(resid)) * 9 / 8
    quantisation = float(np.mean((1 / 6) / (rate[flat] * n) ** 2))
    return dict(relative_std=math.sqrt(max(0.0, total - quantisation)), pixels=int(flat.sum()))


def simulate_like(stats: Dict, seed: int = 0, max_side: int = 128,
                  max_frames: int = 1000) -> np.ndarray:
    """Spikes ``[T, h, w]`` of the calibrated sensor model (the simulator's default noise) at the
    recording's mean rate and length, still or moving as the recording looks; a dead-leaves
    image (natural-image statistics) as the scene. The size is capped at ``max_side`` pixels a
    side and ``max_frames`` frames, which the statistics do not depend on."""
    h, w = min(stats['height'], max_side), min(stats['width'], max_side)
    t = min(stats['frames'], max_frames)
    motion = None if stats['still']['looks_still'] else dict(static_prob=0.0, max_speed=0.5)
    sim = SceneSimulator(t, (h, w), motion=motion, objects=None,
                         light=dict(mean_rate=max(1e-3, min(0.9, stats['rate']['mean']))),
                         noise={}, reference='rate')
    rng = np.random.default_rng(seed)
    image = dead_leaves(2 * max(h, w), np.random.default_rng([seed, 1]))
    generator = torch.Generator().manual_seed(seed)
    return sim.sample(image, rng, generator).spikes.numpy()


def compare_with_simulation(stats: Dict, seed: int = 0) -> Dict:
    """:func:`sensor_stats` of :func:`simulate_like` for ``stats``."""
    return sensor_stats(simulate_like(stats, seed=seed))


def suggestions(real: Dict, sim: Optional[Dict] = None,
                model: Optional[SensorNoiseConfig] = None) -> List[str]:
    """Which simulation settings (``noise=...``, ``light=...`` of the realistic recipe) to change
    so that the simulation resembles the recording; empty where the two agree.

    Spike timing is compared with ``sim`` (a simulation measured the same way), the fixed pattern
    and the dark rate with the ranges of ``model`` (the calibrated defaults when None), since
    their estimates depend on the scene.
    """
    model = model or SensorNoiseConfig()
    out = []
    excess = real['isi']['excess_cv_bright']
    sim_excess = sim['isi']['excess_cv_bright'] if sim else None
    if excess is not None and sim_excess is not None and excess > sim_excess + 0.02:
        out.append(f'spike timing is less regular than the simulation (interval CV beyond '
                   f'quantisation {excess:.3f} vs {sim_excess:.3f}): lower '
                   f'noise.photons_per_frame to about {1 / excess ** 2:.0f} (shot noise varies '
                   'an interval by 1/sqrt(photons)) or raise noise.read_noise')
    fp = real['fixed_pattern']['relative_std']
    fp_hi = model.threshold_mismatch[1]
    if fp is not None and fp > 1.5 * fp_hi:
        out.append(f'fixed pattern up to {fp:.3f}, above the simulation\'s range (0, {fp_hi:g}) '
                   '(an upper bound: the scene\'s own fine texture adds to it; a recording of a '
                   'flat target measures it): if it holds, set noise.threshold_mismatch to about '
                   f'(0, {2 * fp:.3f})')
    dark = real['dark']['rate_p1']
    dark_hi = model.dark_current[1]
    if real['dark']['scene_has_dark_parts'] and dark > 2 * dark_hi:
        out.append(f'the darkest pixels fire at {dark:.4f} spikes per frame, above the '
                   f'simulation\'s dark current (0, {dark_hi:g}): set noise.dark_current to about '
                   f'({dark / 2:.4f}, {dark:.4f})')
    lo, hi = real['rate']['quantiles']['5'], real['rate']['quantiles']['95']
    if real['rate']['mean'] < 0.02 or hi > 0.6:
        out.append(f'rates {lo:.3f}-{hi:.3f} spikes per frame (mean {real["rate"]["mean"]:.3f}) '
                   'lie partly outside the realistic recipe\'s light.mean_rate=(0.02, 0.6)')
    cons = real['consecutive']['share_below_half']
    if cons is not None and cons > 0.01:
        out.append(f'{100 * cons:.1f} % of spikes below 0.5 spikes per frame follow a spike in the '
                   'previous frame (a regular sensor: none): strong temporal noise, raise '
                   'noise.read_noise')
    if real['defects']['hot'] or real['defects']['dead']:
        out.append(f'{real["defects"]["hot"]} hot and {real["defects"]["dead"]} dead pixels, '
                   'which the simulation has none of')
    return out


def format_stats(real: Dict, sim: Optional[Dict] = None, name: str = 'recording') -> str:
    """A two-column table of :func:`sensor_stats` (and the simulation's beside it)."""
    def fmt(v, spec='.4f'):
        return '-' if v is None else format(v, spec)

    rows = [
        ('frames x height x width', lambda s: f'{s["frames"]}x{s["height"]}x{s["width"]}'),
        ('mean rate (spikes/frame)', lambda s: fmt(s['rate']['mean'])),
        ('rate 5 / 50 / 95 %', lambda s: ' / '.join(fmt(s['rate']['quantiles'][q], '.3f')
                                                    for q in ('5', '50', '95'))),
        ('still pixels (share)', lambda s: fmt(s['still']['share'], '.3f')),
        ('looks still', lambda s: 'yes' if s['still']['looks_still'] else 'no'),
        ('interval CV, bright still', lambda s: fmt(s['isi']['cv_bright'], '.3f')),
        ('  quantisation alone', lambda s: fmt(s['isi']['quantisation_cv_bright'], '.3f')),
        ('  beyond quantisation', lambda s: fmt(s['isi']['excess_cv_bright'], '.3f')),
        ('interval CV, all still', lambda s: fmt(s['isi']['cv_all'], '.3f')),
        ('consecutive spikes (<0.5/frame)',
         lambda s: fmt(s['consecutive']['share_below_half'], '.5f')),
        ('fixed pattern, at most', lambda s: fmt(s['fixed_pattern']['relative_std'], '.4f')),
        ('dark rate (1st percentile)', lambda s: fmt(s['dark']['rate_p1'], '.4f')
         if s['dark']['scene_has_dark_parts'] else 'no dark parts'),
        ('silent pixels (share)', lambda s: fmt(s['dark']['silent_share'], '.4f')),
        ('hot / dead pixels', lambda s: f'{s["defects"]["hot"]} / {s["defects"]["dead"]}'),
    ]
    width = max(len(r[0]) for r in rows)
    head = f'{"":<{width}}  {name:>18}' + (f'  {"simulation":>18}' if sim else '')
    lines = [head]
    for title, get in rows:
        line = f'{title:<{width}}  {get(real):>18}'
        if sim:
            line += f'  {get(sim):>18}'
        lines.append(line)
    return '\n'.join(lines)
