"""Integrate-and-fire spike-camera simulator.

Model (per pixel ``x``, frame ``t``)::

    a_0(x) ~ U[0, theta(x))                                   initial accumulator
    e_t(x) = min(gain * I_t(x) + dark_current, theta(x))      light per frame (optionally Poisson)
    a_t(x) = a_{t-1}(x) + e_t(x)
    s_t(x) = 1 if a_t(x) >= theta(x), and then a_t(x) -= theta(x)   (subtract, not reset to 0)

so the mean spike rate is ``gain * I / theta`` spikes per frame. The light per frame is capped at
the threshold because the sensor reads each pixel once per frame (at most one spike per frame).
With that cap the recurrence has a closed form, ``N_t = floor((a_0 + sum_{k<=t} e_k) / theta)``
spikes up to frame ``t``, which this module evaluates with one cumulative sum over frames (a
product ``(t + 1) * e`` for a static scene without shot noise): it is vectorized over frames and
batched, and it runs on torch tensors (CPU or CUDA) or numpy arrays.

Reset: a spike camera pixel resets when its charge crosses the threshold, between two read-outs,
so the charge gathered after the crossing is kept: in frame time this is the subtractive reset
above (``reset='subtract'``, the default). Some simulators reset the accumulator to zero at the
read-out instead (``reset='zero'``, ``a_t = 0`` after a spike), which loses the residual charge and
quantises a static pixel's rate to ``1 / ceil(theta / e)``; it is offered so that models can be
trained and tested on both conventions. It is evaluated with a loop over frames.

Noise options:
    * ``dark_current``: light-independent charge per frame (in threshold units), giving dark spikes;
      ``dark_current_mismatch`` makes it a per-pixel offset ``dark * max(0, 1 + sigma * N(0, 1))``
      (fixed pattern of the dark rate).
    * ``threshold_mismatch``: per-pixel threshold ``theta * (1 + sigma * N(0, 1))`` (fixed-pattern
      noise), clipped to at least ``0.2 * theta``.
    * ``photons_per_frame``: photon shot noise; ``e_t`` becomes ``Poisson(e_t * p) / p`` where ``p``
      is the expected photon count of a pixel at unit light per frame (larger is less noisy).
      ``shot_noise='gaussian'`` (the default) draws the normal approximation
      ``e_t + sqrt(e_t / p) * N(0, 1)`` (clipped at 0), about 5x cheaper than exact Poisson draws
      and indistinguishable from them once a frame gathers more than a few photons;
      ``shot_noise='poisson'`` draws them exactly.
    * ``read_noise``: light-independent temporal noise, ``e_t + sigma * N(0, 1)`` per pixel and
      frame (clipped at 0), in threshold units; it matters most at low light (small ``e_t``).

The accumulator's random initial phase ``a_0 ~ U[0, theta)`` and the per-pixel threshold mismatch
are what a real sensor shows on a still scene (docs/simulation.md, "Calibration to real cameras").
"""
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass
class SpikeCameraModel:
    """Parameters of the simulated sensor.

    Args:
        gain (float): Light level: threshold units gathered per frame at intensity 1.
            Defaults to 0.5 (a white pixel fires every other frame).
        threshold (float): Firing threshold theta. Defaults to 1.0.
        dark_current (float): Light-independent charge per frame. Defaults to 0.
        dark_current_mismatch (float): Relative std of the per-pixel dark current (a fixed
            pattern). Defaults to 0.
        threshold_mismatch (float): Relative std of the per-pixel threshold. Defaults to 0.
        photons_per_frame (float, optional): Photons per frame at unit light for shot noise;
            None disables shot noise. Defaults to None.
        shot_noise (str): ``'gaussian'`` (fast normal approximation) or ``'poisson'`` (exact).
            Defaults to ``'gaussian'``.
        read_noise (float): Std of a light-independent charge noise per pixel and frame, in
            threshold units. Defaults to 0.
        reset (str): ``'subtract'`` (keep the charge above the threshold, as the sensor does) or
            ``'zero'`` (reset the accumulator to 0 at the read-out). Defaults to ``'subtract'``.
    """
    gain: float = 0.5
    threshold: float = 1.0
    dark_current: float = 0.0
    threshold_mismatch: float = 0.0
    photons_per_frame: Optional[float] = None
    shot_noise: str = 'gaussian'
    reset: str = 'subtract'
    dark_current_mismatch: float = 0.0
    read_noise: float = 0.0

    def __post_init__(self):
        if self.gain <= 0 or self.threshold <= 0:
            raise ValueError(f'gain and threshold must be positive, got gain={self.gain}, '
                             f'threshold={self.threshold}')
        if min(self.dark_current, self.threshold_mismatch, self.dark_current_mismatch,
               self.read_noise) < 0:
            raise ValueError('dark_current, dark_current_mismatch, threshold_mismatch and '
                             'read_noise must be >= 0')
        if self.photons_per_frame is not None and self.photons_per_frame <= 0:
            raise ValueError('photons_per_frame must be positive or None')
        if self.shot_noise not in ('gaussian', 'poisson'):
            raise ValueError(f"shot_noise must be 'gaussian' or 'poisson', got {self.shot_noise!r}")
        if self.reset not in ('subtract', 'zero'):
            raise ValueError(f"reset must be 'subtract' or 'zero', got {self.reset!r}")


def simulate_spikes(frames: ArrayLike,
                    num_frames: Optional[int] = None,
                    model: Optional[SpikeCameraModel] = None,
                    generator: Optional[torch.Generator] = None,
                    seed: Optional[int] = None,
                    **model_kwargs) -> ArrayLike:
    """Simulate a spike stream.

    Args:
        frames (np.ndarray | torch.Tensor): Scene intensity in [0, 1]: a static scene
            ``[H, W]`` or ``[N, H, W]`` (then ``num_frames`` is required), or per-frame scenes
            ``[N, T, H, W]`` (moving scenes, see :mod:`spikeclip.simulation.motion`).
        num_frames (int, optional): Frames to simulate for a static scene.
        model (SpikeCameraModel, optional): Sensor parameters; ``model_kwargs`` build one if None.
        generator (torch.Generator, optional): Random generator (on the frames' device).
        seed (int, optional): Seed for a fresh generator when ``generator`` is None.

    Returns:
        Spikes ``[N, T, H, W]`` (or ``[T, H, W]`` for an unbatched ``[H, W]`` scene), uint8 0/1,
        of the same kind (numpy or torch) as ``frames``.
    """
    model = model or SpikeCameraModel(**model_kwargs)
    is_numpy = isinstance(frames, np.ndarray)
    x = torch.from_numpy(np.asarray(frames)) if is_numpy else frames
    x = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    unbatched = x.ndim == 2
    if x.ndim in (2, 3):
        if num_frames is None:
            raise ValueError('num_frames is required for a static [H, W] or [N, H, W] scene')
        x = x.reshape(-1, 1, *x.shape[-2:])  # [N, 1, H, W], expanded over frames below
        t = num_frames
    elif x.ndim == 4:
        t = x.shape[1]
    else:
        raise ValueError(f'frames must be [H, W], [N, H, W] or [N, T, H, W], got {tuple(x.shape)}')
    n, _, h, w = x.shape
    # Per-pixel arithmetic in float32; the running sum over frames in float64 on the CPU for
    # long streams, so that they keep exact spike counts (float32 on accelerators, and for short
    # windows, where float32 sums are exact to ~1e-5 of a threshold).
    acc_dtype = torch.float64 if x.device.type == 'cpu' and t > 1024 else torch.float32
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(seed) if seed is not None else
                              int(torch.randint(0, 2**31 - 1, ()).item()))

    theta = torch.full((n, 1, h, w), model.threshold, device=x.device, dtype=x.dtype)
    if model.threshold_mismatch > 0:
        noise = torch.randn((n, 1, h, w), generator=generator, device=x.device, dtype=x.dtype)
        theta = (theta * (1 + model.threshold_mismatch * noise)).clamp_min(0.2 * model.threshold)
    dark = model.dark_current
    if dark > 0 and model.dark_current_mismatch > 0:  # a per-pixel dark-current offset
        z = torch.randn((n, 1, h, w), generator=generator, device=x.device, dtype=x.dtype)
        dark = dark * (1 + model.dark_current_mismatch * z).clamp_(min=0)
    light = x.clamp(0, 1) * model.gain + dark  # [N, T or 1, H, W]
    if model.photons_per_frame is not None:
        p = model.photons_per_frame
        light = light.expand(-1, t, -1, -1)
        if model.shot_noise == 'poisson':
            light = torch.poisson(light * p, generator=generator) / p
        else:
            z = torch.randn(light.shape, generator=generator, device=x.device, dtype=x.dtype)
            light = (light + (light / p).sqrt_() * z).clamp_(min=0)
    if model.read_noise > 0:
        z = torch.randn((n, t, h, w), generator=generator, device=x.device, dtype=x.dtype)
        light = (light + model.read_noise * z).clamp_(min=0)
    # Light per frame in threshold units, capped at one spike per frame: the accumulator
    # a_t / theta starts at U[0, 1) and N_t = floor(a_0 / theta + sum_k e_k / theta).
    charge = (light / theta).clamp_(max=1.0)  # [N, T or 1, H, W]
    acc0 = torch.rand((n, 1, h, w), generator=generator, device=x.device, dtype=x.dtype)
    if model.reset == 'zero':
        spikes = _reset_to_zero(charge, acc0[:, 0], t)
        if unbatched:
            spikes = spikes[0]
        return spikes.numpy() if is_numpy else spikes
    if charge.shape[1] == 1:  # static scene without shot noise: the sum is (t + 1) * charge
        k = torch.arange(1, t + 1, device=x.device, dtype=acc_dtype).view(1, t, 1, 1)
        count = (k * charge.to(acc_dtype)).add_(acc0).floor_()  # N_t
    else:
        count = torch.cumsum(charge, dim=1, dtype=acc_dtype).add_(acc0).floor_()
    spikes = torch.empty_like(count)
    spikes[:, :1] = count[:, :1]
    torch.sub(count[:, 1:], count[:, :-1], out=spikes[:, 1:])
    # N_t is non-decreasing with steps of at most 1; the clamp only guards against rounding
    # of a saturated pixel (charge == 1) ever giving a step of 2.
    spikes = spikes.clamp_(0, 1).to(torch.uint8)
    if unbatched:
        spikes = spikes[0]
    return spikes.numpy() if is_numpy else spikes


def _reset_to_zero(charge: torch.Tensor, acc: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Integrate-and-fire with the accumulator reset to 0 after each spike.

    Args:
        charge (torch.Tensor): Charge per frame in threshold units, ``[N, T or 1, H, W]`` (<= 1).
        acc (torch.Tensor): Initial accumulator in threshold units ``[N, H, W]``.
        num_frames (int): Frames T.

    Returns:
        torch.Tensor: Spikes ``[N, T, H, W]`` uint8.
    """
    acc = acc.clone()
    spikes = torch.empty((charge.shape[0], num_frames, *charge.shape[-2:]), dtype=torch.uint8,
                         device=charge.device)
    for k in range(num_frames):
        acc += charge[:, k if charge.shape[1] > 1 else 0]
        fired = acc >= 1
        spikes[:, k] = fired
        acc.masked_fill_(fired, 0.0)
    return spikes
