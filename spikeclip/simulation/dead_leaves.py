"""Procedural dead-leaves images: occluding shapes at all scales.

Dead-leaves images (Matheron; Lee, Mumford and Huang, 2001) stack random shapes whose radii follow
a power law ``p(r) ~ r^-3``: like natural images they are scale invariant, full of sharp occlusion
edges and flat or smoothly varying regions, and image-restoration networks trained on them
generalise well to photographs (e.g. Achddou et al., "Synthetic images as a regularity prior for
image restoration neural networks", 2021). Here shapes are discs, rotated rectangles and
triangles, each flat, with a linear gradient, a sinusoidal grating or smooth noise; they are drawn
front to back until the canvas is covered, at twice the resolution and then averaged 2x2 (an
anti-aliased edge).
"""
import math
from typing import Optional

import numpy as np


def _power_law_radius(rng: np.random.Generator, r_min: float, r_max: float) -> float:
    """A radius with density ``~ r^-3`` on ``[r_min, r_max]`` (inverse CDF)."""
    a, b = r_min ** -2, r_max ** -2
    return float((a - rng.random() * (a - b)) ** -0.5)


def _texture(rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray,
             radius: float) -> np.ndarray:
    """Values of one shape over its bounding box (broadcast ``ys [h, 1]``, ``xs [1, w]``)."""
    base = rng.random()
    kind = rng.random()
    if kind < 0.55:  # flat
        return np.full(np.broadcast_shapes(ys.shape, xs.shape), base, dtype=np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    along = (ys * math.sin(angle) + xs * math.cos(angle)) / max(radius, 1.0)
    if kind < 0.8:  # linear gradient across the shape
        return (base + rng.uniform(-0.5, 0.5) * along).astype(np.float32)
    if kind < 0.92:  # grating
        period = rng.uniform(3.0, 12.0)
        amp = rng.uniform(0.05, 0.3)
        return (base + amp * np.sin(2 * math.pi * along * max(radius, 1.0) / period)).astype(
            np.float32)
    # smooth noise: a few random sinusoids
    out = np.full(np.broadcast_shapes(ys.shape, xs.shape), base, dtype=np.float32)
    for _ in range(3):
        a2 = rng.uniform(0, 2 * math.pi)
        period = rng.uniform(4.0, 20.0)
        out += rng.uniform(0.02, 0.12) * np.sin(
            2 * math.pi * (ys * math.sin(a2) + xs * math.cos(a2)) / period + rng.uniform(0, 6.3))
    return out


def dead_leaves(size: int, rng: np.random.Generator, r_min: float = 1.0,
                r_max: Optional[float] = None, max_shapes: int = 20000,
                coverage: float = 0.999) -> np.ndarray:
    """A ``size x size`` dead-leaves image.

    Args:
        size (int): Side in pixels.
        rng (np.random.Generator): Random numbers (the image depends only on its state).
        r_min (float): Smallest radius, pixels. Defaults to 1.
        r_max (float, optional): Largest radius; None uses ``size / 3``.
        max_shapes (int): Stop after this many shapes; pixels left uncovered take the mean value.
            Defaults to 20000.
        coverage (float): Stop once this share of the canvas is covered. Defaults to 0.999.

    Returns:
        np.ndarray: ``[size, size]`` float32 in [0, 1].
    """
    n = 2 * size  # drawn at twice the resolution, then averaged 2x2
    lo, hi = 2 * r_min, 2 * (r_max if r_max is not None else size / 3)
    canvas = np.zeros((n, n), dtype=np.float32)
    free = np.ones((n, n), dtype=bool)
    left = n * n
    target = (1 - coverage) * n * n
    for _ in range(max_shapes):
        if left <= target:
            break
        r = _power_law_radius(rng, lo, hi)
        cy, cx = rng.uniform(-r, n + r, size=2)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 2, n)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 2, n)
        if y0 >= y1 or x0 >= x1:
            continue
        window = free[y0:y1, x0:x1]
        if not window.any():
            continue
        ys = (np.arange(y0, y1, dtype=np.float32) - cy)[:, None]
        xs = (np.arange(x0, x1, dtype=np.float32) - cx)[None, :]
        kind = rng.random()
        if kind < 0.6:  # disc
            inside = ys * ys + xs * xs <= r * r
        else:
            angle = rng.uniform(0, math.pi)
            c, s = math.cos(angle), math.sin(angle)
            u, v = c * xs + s * ys, -s * xs + c * ys
            if kind < 0.85:  # rectangle
                aspect = rng.uniform(0.3, 1.0)
                inside = (np.abs(u) <= r) & (np.abs(v) <= r * aspect)
            else:  # triangle: three half-planes
                inside = np.ones(np.broadcast_shapes(u.shape, v.shape), dtype=bool)
                for k in range(3):
                    a = 2 * math.pi * k / 3
                    inside &= (u * math.cos(a) + v * math.sin(a)) <= r / 2
        paint = inside & window
        if not paint.any():
            continue
        values = _texture(rng, ys, xs, r)
        canvas[y0:y1, x0:x1][paint] = values[paint] if values.shape == paint.shape else \
            np.broadcast_to(values, paint.shape)[paint]
        window[paint] = False
        left -= int(paint.sum())
    if left:
        canvas[free] = canvas[~free].mean() if (~free).any() else 0.5
    image = canvas.reshape(size, 2, size, 2).mean(axis=(1, 3))
    return np.clip(image, 0.0, 1.0).astype(np.float32)
