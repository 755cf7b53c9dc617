"""Moving scenes for the simulator: a crop window that slides across an image over time.

The reference image of a window is the scene at its centre frame, ``frames[T // 2]``.
"""
from typing import Sequence, Tuple

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


def motion_extent(num_frames: int, velocity: Sequence[float]) -> Tuple[float, float]:
    """Pixels ``(dy, dx)`` the crop travels over ``num_frames`` frames (to choose start points)."""
    return abs(velocity[0]) * (num_frames - 1), abs(velocity[1]) * (num_frames - 1)
