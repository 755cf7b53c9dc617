"""Moving scenes for the simulator: camera paths and the views they see.

Two ways to move the view over a still image:

* :func:`sliding_crops`: a crop whose corner slides at a constant sub-pixel velocity (the simple
  pan used by ``tools/simulate_spikes.py --speed``).
* :class:`CameraPath` + :func:`render_view`: a smooth random camera path per window, with
  translation, rotation and zoom that change over time (constant velocity, acceleration and
  shake), drawn by :func:`random_camera_path`. All poses are relative to the window's centre frame
  ``c = T // 2``: the pose at ``c`` is the identity, so the view at the centre frame is exactly the
  reference image.

Coordinates: ``(y, x)`` in pixels; an output pixel ``q`` (relative to the view's centre) of frame
``t`` samples the source at ``centre + offset_t + scale * exp(zoom_t) * R(angle_t) q``.
"""
import math
from dataclasses import dataclass, field
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def sliding_crops(image: torch.Tensor,
                  num_frames: int,
                  size: Tuple[int, int],
                  start: Sequence[float],
                  velocity: Sequence[float] = (0.0, 0.0)) -> torch.Tensor:
    """Crops of ``image`` whose top-left corner moves by ``velocity`` pixels per frame.

    Sub-pixel positions are sampled bilinearly, so slow motion is smooth.

    Args:
        image (torch.Tensor): Grey image ``[H, W]`` in [0, 1].
        num_frames (int): Frames T.
        size (tuple[int, int]): Crop ``(h, w)``.
        start (Sequence[float]): ``(y, x)`` of the top-left corner at frame 0.
        velocity (Sequence[float]): ``(vy, vx)`` pixels per frame. Defaults to static.

    Returns:
        torch.Tensor: ``[T, h, w]`` scenes; the caller keeps the crop inside the image.
    """
    img_h, img_w = image.shape[-2:]
    h, w = size
    t = torch.arange(num_frames, dtype=torch.float32, device=image.device)
    y0 = start[0] + velocity[0] * t  # [T]
    x0 = start[1] + velocity[1] * t
    ys = torch.arange(h, dtype=torch.float32, device=image.device)
    xs = torch.arange(w, dtype=torch.float32, device=image.device)
    gy = (y0[:, None] + ys[None]) / max(img_h - 1, 1) * 2 - 1  # [T, h] normalised
    gx = (x0[:, None] + xs[None]) / max(img_w - 1, 1) * 2 - 1  # [T, w]
    grid = torch.empty(num_frames, h, w, 2, device=image.device)  # (x, y) per output pixel
    grid[..., 0] = gx[:, None, :]
    grid[..., 1] = gy[:, :, None]
    src = image.float().reshape(1, 1, img_h, img_w).expand(num_frames, -1, -1, -1)
    out = F.grid_sample(src, grid, mode='bilinear', padding_mode='border', align_corners=True)
    return out[:, 0]


@dataclass
class CameraPath:
    """A camera path over a window, relative to its centre frame.

    Per frame ``t`` with ``s = t - T // 2`` (so every term is 0 at the centre frame)::

        offset_t = velocity * s + acceleration * s**2 / 2 + shake_t - shake_c   (pixels)
        angle_t  = spin * s                                                      (radians)
        zoom_t   = zoom_rate * s                                                 (log scale)

    where ``shake_t`` is a sum of sinusoids of amplitude ``shake`` pixels with periods
    ``shake_periods`` frames and random phases.

    Args:
        velocity (tuple[float, float]): ``(vy, vx)`` pixels per frame at the centre frame.
        acceleration (tuple[float, float]): Pixels per frame squared.
        spin (float): Rotation, radians per frame.
        zoom_rate (float): Change of the log scale per frame (positive zooms out).
        shake (float): Amplitude of the shake in pixels (0: none).
        shake_periods (tuple[float, float]): Periods of the y and x shake, frames.
        shake_phases (tuple[float, float]): Phases of the y and x shake, radians.
    """
    velocity: Tuple[float, float] = (0.0, 0.0)
    acceleration: Tuple[float, float] = (0.0, 0.0)
    spin: float = 0.0
    zoom_rate: float = 0.0
    shake: float = 0.0
    shake_periods: Tuple[float, float] = (20.0, 20.0)
    shake_phases: Tuple[float, float] = (0.0, 0.0)

    def poses(self, num_frames: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offsets ``[T, 2]``, angles ``[T]`` and log scales ``[T]`` of the frames (float64)."""
        s = np.arange(num_frames, dtype=np.float64) - num_frames // 2
        offset = (np.outer(s, self.velocity) + 0.5 * np.outer(s * s, self.acceleration))
        if self.shake:
            for axis in range(2):
                w = 2 * math.pi / self.shake_periods[axis]
                phase = self.shake_phases[axis]
                offset[:, axis] += self.shake * (np.sin(w * s + phase) - math.sin(phase))
        return offset, self.spin * s, self.zoom_rate * s

    def scaled(self, factor: float) -> 'CameraPath':
        """The same path with every motion term multiplied by ``factor`` (0 gives a still view)."""
        return CameraPath(velocity=tuple(factor * v for v in self.velocity),
                          acceleration=tuple(factor * a for a in self.acceleration),
                          spin=factor * self.spin, zoom_rate=factor * self.zoom_rate,
                          shake=factor * self.shake, shake_periods=self.shake_periods,
                          shake_phases=self.shake_phases)

    @property
    def is_static(self) -> bool:
        return not (any(self.velocity) or any(self.acceleration) or self.spin or self.zoom_rate
                    or self.shake)


@dataclass
class CameraMotionConfig:
    """Distribution of random camera paths (see :func:`random_camera_path`).

    Args:
        static_prob (float): Share of still windows. Defaults to 0.15.
        min_speed (float): Slowest moving speed, pixels per frame. Defaults to 0.02.
        max_speed (float): Fastest speed, pixels per frame; speeds are log-uniform between the two,
            so slow and fast motion are equally common per octave. Defaults to 1.0.
        accel_prob (float): Share of moving windows that accelerate. Defaults to 0.3.
        max_accel (float): Largest acceleration as a share of ``max_speed`` gained or lost over the
            window's half length. Defaults to 1.0.
        max_spin (float): Largest rotation, degrees per frame. Defaults to 0.1.
        max_zoom (float): Largest zoom rate, relative scale change per frame. Defaults to 0.002.
        shake_prob (float): Share of windows with camera shake. Defaults to 0.2.
        max_shake (float): Largest shake amplitude, pixels. Defaults to 1.5.
        shake_periods (tuple[float, float]): Range of shake periods, frames. Defaults to (8, 60).
    """
    static_prob: float = 0.15
    min_speed: float = 0.02
    max_speed: float = 1.0
    accel_prob: float = 0.3
    max_accel: float = 1.0
    max_spin: float = 0.1
    max_zoom: float = 0.002
    shake_prob: float = 0.2
    max_shake: float = 1.5
    shake_periods: Tuple[float, float] = field(default=(8.0, 60.0))

    def __post_init__(self):
        if not 0 <= self.static_prob <= 1 or not 0 <= self.accel_prob <= 1 \
                or not 0 <= self.shake_prob <= 1:
            raise ValueError('static_prob, accel_prob and shake_prob must be in [0, 1], got '
                             f'{self.static_prob}, {self.accel_prob}, {self.shake_prob}')
        if self.max_speed < 0 or self.min_speed < 0 or self.min_speed > max(self.max_speed, 0):
            raise ValueError(f'need 0 <= min_speed <= max_speed, got {self.min_speed}, '
                             f'{self.max_speed}')
        if min(self.max_accel, self.max_spin, self.max_zoom, self.max_shake) < 0:
            raise ValueError('max_accel, max_spin, max_zoom and max_shake must be >= 0')
        lo, hi = self.shake_periods
        if not 0 < lo <= hi:
            raise ValueError(f'shake_periods must satisfy 0 < low <= high, got '
                             f'{self.shake_periods}')


def log_uniform(u: float, lo: float, hi: float) -> float:
    """Map ``u`` in [0, 1) to a log-uniform value in ``[lo, hi]`` (``lo > 0``)."""
    if hi <= lo:
        return float(lo)
    return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))


def random_camera_path(rng: np.random.Generator, cfg: CameraMotionConfig,
                       num_frames: int) -> CameraPath:
    """Draw a smooth random camera path.

    Still with probability ``static_prob``; otherwise a velocity with a log-uniform speed in
    ``[min_speed, max_speed]`` and a uniform direction, a rotation and a zoom rate up to
    ``max_spin`` / ``max_zoom`` (both signs), plus, with their probabilities, an acceleration (the
    speed changes by up to ``max_accel * max_speed`` between the centre and either end) and a
    shake. The number of draws is fixed, so a path depends only on ``rng``'s state.
    """
    u = rng.random(14)
    if u[0] < cfg.static_prob or cfg.max_speed == 0 or num_frames < 2:
        return CameraPath()
    speed = log_uniform(u[1], cfg.min_speed, cfg.max_speed) if cfg.min_speed > 0 \
        else cfg.max_speed * u[1]
    angle = 2 * math.pi * u[2]
    velocity = (speed * math.sin(angle), speed * math.cos(angle))
    half = max(num_frames // 2, 1)
    acceleration = (0.0, 0.0)
    if u[3] < cfg.accel_prob:
        mag = cfg.max_accel * cfg.max_speed * u[4] / half
        a_angle = 2 * math.pi * u[5]
        acceleration = (mag * math.sin(a_angle), mag * math.cos(a_angle))
    spin = math.radians(cfg.max_spin) * (2 * u[6] - 1)
    zoom = cfg.max_zoom * (2 * u[7] - 1)
    shake, periods, phases = 0.0, (20.0, 20.0), (0.0, 0.0)
    if u[8] < cfg.shake_prob:
        shake = cfg.max_shake * u[9]
        lo, hi = cfg.shake_periods
        periods = (lo + (hi - lo) * u[10], lo + (hi - lo) * u[11])
        phases = (2 * math.pi * u[12], 2 * math.pi * u[13])
    return CameraPath(velocity=velocity, acceleration=acceleration, spin=spin, zoom_rate=zoom,
                      shake=shake, shake_periods=periods, shake_phases=phases)


def _pose_tensors(path: CameraPath, num_frames: int, scale: float, centre: Sequence[float]):
    offset, angle, zoom = path.poses(num_frames)
    s = scale * np.exp(zoom)
    a = torch.from_numpy(np.stack([s * np.cos(angle), s * np.sin(angle),
                                   centre[0] + offset[:, 0], centre[1] + offset[:, 1]], 1))
    return a.to(torch.float32)  # [T, 4]: s cos, s sin, y0, x0


def view_grid(num_frames: int, size: Tuple[int, int], path: CameraPath, centre: Sequence[float],
              scale: float = 1.0) -> torch.Tensor:
    """Source pixel coordinates ``[T, h, w, 2]`` (``y, x``) seen by a view along ``path``.

    Args:
        num_frames (int): Frames T.
        size (tuple[int, int]): View ``(h, w)``.
        path (CameraPath): Motion relative to the centre frame.
        centre (Sequence[float]): Source coordinates of the view's centre at the centre frame.
        scale (float): Source pixels per view pixel (> 1 sees a larger area). Defaults to 1.
    """
    h, w = size
    p = _pose_tensors(path, num_frames, scale, centre)
    sc, sn = p[:, 0, None, None], p[:, 1, None, None]
    qy = (torch.arange(h, dtype=torch.float32) - (h - 1) / 2)[None, :, None]
    qx = (torch.arange(w, dtype=torch.float32) - (w - 1) / 2)[None, None, :]
    y = p[:, 2, None, None] + sc * qy - sn * qx
    x = p[:, 3, None, None] + sn * qy + sc * qx
    return torch.stack([y, x], dim=-1)


def path_extent(path: CameraPath, num_frames: int, size: Tuple[int, int],
                scale: float = 1.0) -> Tuple[float, float, float, float]:
    """``(y_min, y_max, x_min, x_max)`` of the source area a view sees along ``path``, relative
    to its centre at the centre frame (every pose is affine, so the view's corners suffice)."""
    h, w = size
    p = _pose_tensors(path, num_frames, scale, (0.0, 0.0)).double()
    qy = torch.tensor([-(h - 1) / 2, -(h - 1) / 2, (h - 1) / 2, (h - 1) / 2], dtype=torch.float64)
    qx = torch.tensor([-(w - 1) / 2, (w - 1) / 2, -(w - 1) / 2, (w - 1) / 2], dtype=torch.float64)
    y = p[:, 2, None] + p[:, 0, None] * qy - p[:, 1, None] * qx
    x = p[:, 3, None] + p[:, 1, None] * qy + p[:, 0, None] * qx
    return float(y.min()), float(y.max()), float(x.min()), float(x.max())


def sample_grid(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` ``[H, W]`` at source coordinates ``grid`` ``[T, h, w, 2]``
    (``y, x`` in pixels); outside the image the border is repeated. Returns ``[T, h, w]``."""
    img_h, img_w = image.shape[-2:]
    scale = torch.tensor([2.0 / max(img_w - 1, 1), 2.0 / max(img_h - 1, 1)])
    norm = grid.flip(-1).float().mul_(scale).sub_(1.0)  # grid_sample wants (x, y) in [-1, 1]
    src = image.float().reshape(1, 1, img_h, img_w).expand(grid.shape[0], -1, -1, -1)
    out = F.grid_sample(src, norm.to(image.device), mode='bilinear', padding_mode='border',
                        align_corners=True)
    return out[:, 0]


def fit_path(path: CameraPath, num_frames: int, size: Tuple[int, int], scale: float,
             room: Tuple[int, int], max_halvings: int = 6) -> Tuple[CameraPath, Tuple[float, ...]]:
    """Shrink ``path`` until the view stays inside an image of ``room = (H, W)`` pixels.

    Returns:
        tuple: The path (halved as often as needed, still at last) and its
        :func:`path_extent`.
    """
    for _ in range(max_halvings + 1):
        ext = path_extent(path, num_frames, size, scale)
        if ext[1] - ext[0] <= room[0] - 1 and ext[3] - ext[2] <= room[1] - 1:
            return path, ext
        path = path.scaled(0.5)
    path = CameraPath()
    return path, path_extent(path, num_frames, size, scale)


def render_view(image: torch.Tensor, num_frames: int, size: Tuple[int, int], path: CameraPath,
                centre: Sequence[float], scale: float = 1.0) -> torch.Tensor:
    """The frames ``[T, h, w]`` a camera moving along ``path`` sees of a still ``image``
    ``[H, W]``; the frame at ``T // 2`` samples the regular grid around ``centre`` (the reference
    view)."""
    return sample_grid(image, view_grid(num_frames, size, path, centre, scale))
