"""Independently moving foreground objects over a (moving) background.

An object is a textured shape (a superellipse: from a diamond through an ellipse to a rounded
rectangle) that moves across the view in screen coordinates with its own velocity, acceleration
and spin, occluding what lies behind it. Objects are composited back to front with an
anti-aliased (one-pixel soft) edge. As for the camera path, all poses are relative to the centre
frame ``T // 2``, so the composite at the centre frame is the reference.
"""
import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch

from .motion import log_uniform, sample_grid


@dataclass
class ObjectsConfig:
    """Distribution of foreground objects (see :func:`random_objects`).

    Args:
        prob (float): Share of windows with moving objects. Defaults to 0.4.
        max_count (int): Most objects in a window (at least one when there are any).
            Defaults to 3.
        size_range (tuple[float, float]): Object radius as a share of the view's shorter side.
            Defaults to (0.1, 0.45).
        min_speed (float): Slowest object speed, pixels per frame. Defaults to 0.05.
        max_speed (float): Fastest object speed (log-uniform in between). Defaults to 1.5.
        max_spin (float): Largest spin, degrees per frame. Defaults to 0.5.
        contrast_range (tuple[float, float]): Range of the gain applied to an object's texture
            (around its mean), so that objects stand out or blend in. Defaults to (0.5, 1.5).
        max_shift (float): Largest change of an object's mean brightness (either sign).
            Defaults to 0.3.
    """
    prob: float = 0.4
    max_count: int = 3
    size_range: Tuple[float, float] = (0.1, 0.45)
    min_speed: float = 0.05
    max_speed: float = 1.5
    max_spin: float = 0.5
    contrast_range: Tuple[float, float] = (0.5, 1.5)
    max_shift: float = 0.3

    def __post_init__(self):
        if not 0 <= self.prob <= 1 or self.max_count < 1:
            raise ValueError(f'objects need 0 <= prob <= 1 and max_count >= 1, got {self.prob}, '
                             f'{self.max_count}')
        lo, hi = self.size_range
        if not 0 < lo <= hi:
            raise ValueError(f'objects size_range must satisfy 0 < low <= high, got '
                             f'{self.size_range}')
        if not 0 < self.min_speed <= self.max_speed or self.max_spin < 0:
            raise ValueError(f'objects need 0 < min_speed <= max_speed and max_spin >= 0, got '
                             f'{self.min_speed}, {self.max_speed}, {self.max_spin}')


@dataclass
class MovingObject:
    """One foreground object.

    Args:
        texture (torch.Tensor): Grey texture image ``[H, W]`` in [0, 1].
        texture_centre (tuple[float, float]): Texture pixel at the object's centre.
        radii (tuple[float, float]): Half sizes ``(a_y, a_x)`` in view pixels.
        exponent (float): Superellipse exponent (1: diamond, 2: ellipse, large: rectangle).
        position (tuple[float, float]): View coordinates of the centre at the centre frame.
        velocity (tuple[float, float]): Pixels per frame.
        acceleration (tuple[float, float]): Pixels per frame squared.
        angle (float): Orientation at the centre frame, radians.
        spin (float): Radians per frame.
    """
    texture: torch.Tensor
    texture_centre: Tuple[float, float]
    radii: Tuple[float, float]
    exponent: float
    position: Tuple[float, float]
    velocity: Tuple[float, float] = (0.0, 0.0)
    acceleration: Tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    spin: float = 0.0

    def render(self, num_frames: int, size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Texture values and coverage (alpha) of the object over the view, both ``[T, h, w]``."""
        h, w = size
        s = torch.arange(num_frames, dtype=torch.float64) - num_frames // 2
        py = (self.position[0] + self.velocity[0] * s + 0.5 * self.acceleration[0] * s * s)
        px = (self.position[1] + self.velocity[1] * s + 0.5 * self.acceleration[1] * s * s)
        ang = self.angle + self.spin * s
        cos = torch.cos(ang).float()[:, None, None]
        sin = torch.sin(ang).float()[:, None, None]
        ys = torch.arange(h, dtype=torch.float32)[None, :, None] - py.float()[:, None, None]
        xs = torch.arange(w, dtype=torch.float32)[None, None, :] - px.float()[:, None, None]
        ly = cos * ys + sin * xs  # object coordinates (rotate by -angle)
        lx = cos * xs - sin * ys
        a_y, a_x = self.radii
        n = self.exponent
        f = ((ly.abs() / a_y).pow_(n) + (lx.abs() / a_x).pow_(n)).pow_(1.0 / n)  # < 1 inside
        alpha = f.neg_().add_(1.0).mul_(min(a_y, a_x)).add_(0.5).clamp_(0.0, 1.0)  # soft edge
        grid = torch.stack([ly.add_(self.texture_centre[0]), lx.add_(self.texture_centre[1])],
                           dim=-1)
        return sample_grid(self.texture, grid), alpha


def random_objects(rng: np.random.Generator, cfg: ObjectsConfig, size: Tuple[int, int],
                   textures: Sequence[np.ndarray]) -> List[MovingObject]:
    """Draw the foreground objects of one window (none with probability ``1 - prob``).

    Args:
        rng (np.random.Generator): Random numbers.
        cfg (ObjectsConfig): Distribution.
        size (tuple[int, int]): View ``(h, w)``.
        textures (Sequence[np.ndarray]): Grey images ``[H, W]`` to cut textures from.

    Returns:
        list[MovingObject]: Back to front.
    """
    if not textures or rng.random() >= cfg.prob:
        return []
    h, w = size
    side = min(h, w)
    objects = []
    for _ in range(int(rng.integers(1, cfg.max_count + 1))):
        u = rng.random(14)
        tex = textures[int(rng.integers(len(textures)))]
        radius = side * (cfg.size_range[0] + (cfg.size_range[1] - cfg.size_range[0]) * u[0])
        aspect = math.exp((2 * u[1] - 1) * math.log(2.0))  # 1/2 .. 2
        radii = (max(radius * math.sqrt(aspect), 1.5), max(radius / math.sqrt(aspect), 1.5))
        exponent = math.exp(math.log(1.2) + u[2] * (math.log(8.0) - math.log(1.2)))
        speed = log_uniform(u[3], cfg.min_speed, cfg.max_speed)
        heading = 2 * math.pi * u[4]
        velocity = (speed * math.sin(heading), speed * math.cos(heading))
        acceleration = (0.0, 0.0)
        if u[5] < 0.3:
            acceleration = tuple(0.02 * speed * (2 * v - 1) for v in u[6:8])
        position = (h * u[8], w * u[9])
        th, tw = tex.shape
        margin = max(radii) * 1.5
        tc = (margin + (th - 2 * margin) * u[10] if th > 2 * margin else th / 2,
              margin + (tw - 2 * margin) * u[11] if tw > 2 * margin else tw / 2)
        contrast = cfg.contrast_range[0] + (cfg.contrast_range[1] - cfg.contrast_range[0]) * u[12]
        t = torch.tensor(tex, dtype=torch.float32)  # a copy: the source arrays are read-only
        shift = cfg.max_shift * float(2 * rng.random() - 1)
        t = ((t - t.mean()) * contrast + t.mean() + shift).clamp_(0, 1)
        spin = math.radians(cfg.max_spin) * (2 * u[13] - 1)
        objects.append(MovingObject(texture=t, texture_centre=tc, radii=radii, exponent=exponent,
                                    position=position, velocity=velocity,
                                    acceleration=acceleration, angle=2 * math.pi * rng.random(),
                                    spin=spin))
    return objects


def composite(frames: torch.Tensor, objects: Sequence[MovingObject]) -> torch.Tensor:
    """Paint ``objects`` (back to front) over ``frames`` ``[T, h, w]``; returns new frames."""
    out = frames
    for obj in objects:
        values, alpha = obj.render(frames.shape[0], tuple(frames.shape[-2:]))
        out = out * (1 - alpha) + values * alpha
    return out
