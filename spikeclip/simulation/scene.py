"""Random moving scenes watched by a simulated spike camera: one call gives a spike window and its
reference image.

:class:`SceneSimulator` draws, per window:

1. a view of a background image: a random scale (source pixels per view pixel), flip and
   quarter turn, a contrast change (a gamma), and a camera path (:func:`random_camera_path`:
   translation up to about a pixel per frame, rotation, zoom, acceleration, shake), shrunk where it
   would leave the image and placed at random inside it;
2. foreground objects that move on their own and occlude the background
   (:func:`random_objects`);
3. a light level: the mean spike rate of the reference view, log-uniform over a decade by default
   (or a light gain, uniform);
4. sensor noise: dark current and its per-pixel pattern, per-pixel threshold mismatch, photon shot
   noise and read noise, each drawn from a range (calibrated to physical cameras by default), and
   the reset convention (subtract, or with some probability reset to zero);
5. the spikes (:func:`simulate_spikes`) and the reference: the scene at the centre frame
   ``T // 2`` times ``gain / nominal_gain``, clipped to [0, 1] (``reference='rate'``). With
   ``nominal_gain=1`` the reference is the expected spike rate per frame (never clipped, as a
   pixel fires at most once per frame); with ``nominal_gain=0.5`` a white pixel at light gain 0.5
   maps to 1. ``reference='scene'`` gives the scene itself whatever the light level, as a
   reference photograph of a real recording would be (test sets scored with a fitted gain).
"""
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .motion import (
    CameraMotionConfig,
    CameraPath,
    fit_path,
    log_uniform,
    random_camera_path,
    render_view,
)
from .objects import ObjectsConfig, composite, random_objects
from .simulator import SpikeCameraModel, simulate_spikes

Range = Union[float, Tuple[float, float]]


def _uniform(u: float, bounds: Tuple[float, float]) -> float:
    """The point ``u`` in [0, 1) of the way from ``bounds[0]`` to ``bounds[1]``."""
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _range(value: Optional[Range], name: str) -> Optional[Tuple[float, float]]:
    if value is None:
        return None
    lo, hi = (value, value) if isinstance(value, (int, float)) else value
    if not lo <= hi:
        raise ValueError(f'{name} must be a number or a (low, high) range, got {value!r}')
    return float(lo), float(hi)


@dataclass
class LightConfig:
    """Light level of a window: give ``mean_rate`` or ``gain``.

    Args:
        mean_rate (float | tuple): Mean spike rate per frame of the reference view, log-uniform
            in the range (the light gain follows from the scene's brightness, capped at
            ``max_gain``). Defaults to (0.05, 0.6) when ``gain`` is not given.
        gain (float | tuple): Light gain (threshold units per frame at intensity 1), uniform in
            the range; used when ``mean_rate`` is None. Defaults to None.
        max_gain (float): Cap on the gain of a dark scene. Defaults to 4.0.
    """
    mean_rate: Optional[Range] = None
    gain: Optional[Range] = None
    max_gain: float = 4.0

    def __post_init__(self):
        if self.mean_rate is None and self.gain is None:
            self.mean_rate = (0.05, 0.6)
        elif self.mean_rate is not None and self.gain is not None:
            raise ValueError('light needs exactly one of mean_rate and gain, got '
                             f'mean_rate={self.mean_rate!r}, gain={self.gain!r}')
        self.mean_rate = _range(self.mean_rate, 'light.mean_rate')
        self.gain = _range(self.gain, 'light.gain')
        rng = self.mean_rate or self.gain
        if rng[0] <= 0 or (self.mean_rate and rng[1] > 1) or self.max_gain <= 0:
            raise ValueError(f'light levels must be positive (mean rates at most 1), got '
                             f'{rng} and max_gain={self.max_gain}')


@dataclass
class SensorNoiseConfig:
    """Sensor noise of a window; each value is a number or a ``(low, high)`` range drawn per window.

    The defaults are calibrated to what recordings of physical spike cameras show (regular spike
    timing: an inter-spike-interval coefficient of variation of about 0.1 on a bright still scene,
    what frame quantisation alone gives; practically no spikes in consecutive frames below 0.5
    spikes per frame; a per-pixel gain non-uniformity up to about 3 %; no hot or dead pixels).
    docs/simulation.md ("Calibration to real cameras") gives the reasoning behind each range, and
    ``tools/sensor_stats.py`` measures a recording the same way.

    Args:
        dark_current (float | tuple): Charge per frame without light (threshold units), uniform.
            Defaults to (0, 0.005).
        dark_current_mismatch (float | tuple): Relative std of the per-pixel dark current (its
            fixed pattern), uniform. Defaults to (0, 0.5).
        threshold_mismatch (float | tuple): Relative std of the per-pixel threshold (the gain's
            fixed pattern), uniform. Defaults to (0, 0.03).
        photons_per_frame (float | tuple, optional): Photons per threshold of charge (shot noise;
            larger is cleaner: the interval between two spikes varies by ``1 / sqrt(p)``),
            log-uniform; None turns shot noise off. Defaults to (2000, 20000).
        read_noise (float | tuple): Std of a light-independent charge noise per pixel and frame
            (threshold units), uniform; it matters most at low light. Defaults to (0, 0.004).
        reset_zero_prob (float): Share of windows simulated with the accumulator reset to zero
            instead of subtracted. Defaults to 0.
    """
    dark_current: Range = (0.0, 0.005)
    threshold_mismatch: Range = (0.0, 0.03)
    photons_per_frame: Optional[Range] = (2000.0, 20000.0)
    reset_zero_prob: float = 0.0
    dark_current_mismatch: Range = (0.0, 0.5)
    read_noise: Range = (0.0, 0.004)

    def __post_init__(self):
        self.dark_current = _range(self.dark_current, 'noise.dark_current')
        self.threshold_mismatch = _range(self.threshold_mismatch, 'noise.threshold_mismatch')
        self.photons_per_frame = _range(self.photons_per_frame, 'noise.photons_per_frame')
        self.dark_current_mismatch = _range(self.dark_current_mismatch,
                                            'noise.dark_current_mismatch')
        self.read_noise = _range(self.read_noise, 'noise.read_noise')
        if min(self.dark_current[0], self.threshold_mismatch[0], self.dark_current_mismatch[0],
               self.read_noise[0]) < 0:
            raise ValueError('noise dark_current, dark_current_mismatch, threshold_mismatch and '
                             'read_noise must be >= 0')
        if self.photons_per_frame is not None and self.photons_per_frame[0] <= 0:
            raise ValueError('noise photons_per_frame must be positive or None')
        if not 0 <= self.reset_zero_prob <= 1:
            raise ValueError(f'noise reset_zero_prob must be in [0, 1], got '
                             f'{self.reset_zero_prob}')


@dataclass
class ViewConfig:
    """How a background image is viewed.

    Args:
        scale_range (tuple[float, float]): Source pixels per view pixel, log-uniform (values
            below 1 magnify). Shrunk where the image is too small. Defaults to (0.7, 1.5).
        flip (bool): Random horizontal flips and quarter turns. Defaults to True.
        gamma_range (tuple[float, float]): Contrast change ``I ** gamma``, log-uniform.
            Defaults to (0.7, 1.4).
    """
    scale_range: Tuple[float, float] = (0.7, 1.5)
    flip: bool = True
    gamma_range: Tuple[float, float] = (0.7, 1.4)

    def __post_init__(self):
        for name in ('scale_range', 'gamma_range'):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f'view {name} must satisfy 0 < low <= high, got '
                                 f'{getattr(self, name)}')


def _build(cls, cfg, name: str):
    """A config dataclass from a dict (unknown keys are an error), an instance, or None."""
    if cfg is None or isinstance(cfg, cls):
        return cfg
    if not isinstance(cfg, dict):
        raise ValueError(f'{name} must be a dict, got {type(cfg).__name__}')
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f'{name}: unknown options {unknown}; expected some of {sorted(known)}')
    return cls(**cfg)


@dataclass
class SceneSample:
    """One simulated window: spikes ``[T, h, w]`` uint8, the reference ``[h, w]`` float32 and what
    was drawn (``info``: gain, mean rate, speeds, noise, reset, ...)."""
    spikes: torch.Tensor
    gt: torch.Tensor
    info: dict = field(default_factory=dict)


class SceneSimulator:
    """Random moving scenes and their spike windows (see the module doc).

    Args:
        num_frames (int): Frames T of a window.
        size (tuple[int, int]): View ``(h, w)``.
        motion (dict | CameraMotionConfig, optional): Camera paths (``{}`` for the defaults);
            None keeps the view still.
        objects (dict | ObjectsConfig, optional): Foreground objects; None for none.
        light (dict | LightConfig, optional): Light levels; None or ``{}`` for the defaults.
        noise (dict | SensorNoiseConfig, optional): Sensor noise; None for a noise-free sensor.
        view (dict | ViewConfig, optional): Scale, flips and contrast of the background; None
            uses the image as it is (scale 1, no flip, no gamma).
        nominal_gain (float): Light gain at which the reference equals the scene.
            Defaults to 1.0 (the reference is the expected spike rate).
        reference (str): ``'rate'`` (scene times ``gain / nominal_gain``) or ``'scene'`` (the
            scene at the centre frame, independent of the light). Defaults to ``'rate'``.
    """

    def __init__(self,
                 num_frames: int,
                 size: Tuple[int, int],
                 motion: Union[dict, CameraMotionConfig, None] = None,
                 objects: Union[dict, ObjectsConfig, None] = None,
                 light: Union[dict, LightConfig, None] = None,
                 noise: Union[dict, SensorNoiseConfig, None] = None,
                 view: Union[dict, ViewConfig, None] = None,
                 nominal_gain: float = 1.0,
                 reference: str = 'rate'):
        if num_frames < 1 or min(size) < 1:
            raise ValueError(f'num_frames and size must be positive, got {num_frames}, {size}')
        if nominal_gain <= 0:
            raise ValueError(f'nominal_gain must be positive, got {nominal_gain}')
        if reference not in ('rate', 'scene'):
            raise ValueError(f"reference must be 'rate' or 'scene', got {reference!r}")
        self.reference = reference
        self.num_frames = int(num_frames)
        self.size = (int(size[0]), int(size[1]))
        self.motion = _build(CameraMotionConfig, motion, 'motion')
        self.objects = _build(ObjectsConfig, objects, 'objects')
        self.light = _build(LightConfig, light, 'light') or LightConfig()
        self.noise = _build(SensorNoiseConfig, noise, 'noise')
        self.view = _build(ViewConfig, view, 'view')
        self.nominal_gain = float(nominal_gain)

    def config(self) -> dict:
        """The settings as plain dicts (for logs and dataset metainfo)."""
        def plain(c):
            return None if c is None else asdict(c)
        return dict(num_frames=self.num_frames, size=self.size, motion=plain(self.motion),
                    objects=plain(self.objects), light=plain(self.light),
                    noise=plain(self.noise), view=plain(self.view),
                    nominal_gain=self.nominal_gain, reference=self.reference)

    def min_image_side(self) -> int:
        """Smallest image side that holds a still view at the smallest scale."""
        lo = self.view.scale_range[0] if self.view else 1.0
        return int(math.ceil(max(self.size) * lo)) + 1

    def _background(self, image: np.ndarray, rng: np.random.Generator):
        u = rng.random(4)
        if self.view is None:
            return image, 1.0
        if self.view.flip:
            if u[0] < 0.5:
                image = image[:, ::-1]
            image = np.rot90(image, int(4 * u[1]))
        lo, hi = self.view.gamma_range
        gamma = log_uniform(u[2], lo, hi)
        image = np.ascontiguousarray(image, dtype=np.float32)
        if gamma != 1.0:
            image = np.power(np.clip(image, 0, 1), gamma, dtype=np.float32)
        lo, hi = self.view.scale_range
        fit = (min(image.shape) - 1) / max(self.size)  # largest scale that holds a still view
        scale = min(log_uniform(u[3], lo, hi), fit)
        return image, max(scale, 1e-3)

    def render(self, image: np.ndarray, rng: np.random.Generator,
               textures: Sequence[np.ndarray] = ()) -> Tuple[torch.Tensor, dict]:
        """The moving scene of one window, without light or sensor: frames ``[T, h, w]`` in
        [0, 1] (the reference view at ``T // 2``) and what was drawn (scale, speed, objects)."""
        image, scale = self._background(image, rng)
        t = self.num_frames
        path = random_camera_path(rng, self.motion, t) if self.motion else CameraPath()
        path, ext = fit_path(path, t, self.size, scale, image.shape)
        y_lo, y_hi = -ext[0], image.shape[0] - 1 - ext[1]
        x_lo, x_hi = -ext[2], image.shape[1] - 1 - ext[3]
        u = rng.random(2)
        centre = (y_lo + (y_hi - y_lo) * u[0], x_lo + (x_hi - x_lo) * u[1])
        frames = render_view(torch.from_numpy(image), t, self.size, path, centre, scale)
        objects = random_objects(rng, self.objects, self.size, textures) if self.objects else []
        if objects:
            frames = composite(frames, objects)
        info = dict(scale=scale, speed=math.hypot(*path.velocity), objects=len(objects))
        return frames.clamp_(0, 1), info

    def sample(self, image: np.ndarray, rng: np.random.Generator, generator: torch.Generator,
               textures: Sequence[np.ndarray] = ()) -> SceneSample:
        """Simulate one window over ``image``: :meth:`render`, then a light level, sensor noise
        and the spikes.

        Args:
            image (np.ndarray): Background ``[H, W]`` float32 in [0, 1], at least
                :meth:`min_image_side` on its shorter side.
            rng (np.random.Generator): Scene, light and noise draws.
            generator (torch.Generator): The simulator's draws (accumulators, noise).
            textures (Sequence[np.ndarray]): Images for the objects' textures.

        Returns:
            SceneSample: Spikes, reference and the drawn settings.
        """
        frames, info = self.render(image, rng, textures)
        reference = frames[self.num_frames // 2]
        u = rng.random(6)
        if self.light.mean_rate is not None:
            rate = log_uniform(u[0], *self.light.mean_rate)
            gain = min(rate / max(float(reference.mean()), 1e-3), self.light.max_gain)
        else:
            gain = self.light.gain[0] + (self.light.gain[1] - self.light.gain[0]) * u[0]
        noise = dict(dark_current=0.0, threshold_mismatch=0.0, photons_per_frame=None,
                     reset='subtract')
        if self.noise is not None:
            n = self.noise
            noise.update(
                dark_current=n.dark_current[0] + (n.dark_current[1] - n.dark_current[0]) * u[1],
                threshold_mismatch=n.threshold_mismatch[0] +
                (n.threshold_mismatch[1] - n.threshold_mismatch[0]) * u[2],
                photons_per_frame=None if n.photons_per_frame is None else
                log_uniform(u[3], *n.photons_per_frame),
                reset='zero' if u[4] < n.reset_zero_prob else 'subtract')
            # Drawn after the others, so that settings without them draw what they always did.
            v = rng.random(2)
            noise.update(dark_current_mismatch=_uniform(v[0], n.dark_current_mismatch),
                         read_noise=_uniform(v[1], n.read_noise))
        model = SpikeCameraModel(gain=gain, **noise)
        spikes = simulate_spikes(frames[None], model=model, generator=generator)[0]
        scale = gain / self.nominal_gain if self.reference == 'rate' else 1.0
        gt = (reference * scale).clamp_(0, 1).to(torch.float32)
        info.update(gain=gain, mean_rate=float((reference * gain).clamp_(max=1.0).mean()), **noise)
        return SceneSample(spikes=spikes, gt=gt, info=info)
