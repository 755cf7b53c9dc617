"""Titled side-by-side panels of a spike window and the images made from it."""
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..utils.image import to_uint8

PANELS = ('spike count', 'TFP', 'coarse', 'refined', 'reference')
TITLE_HEIGHT = 28  # px of the title strip above each panel


def _panel_images(spikes: torch.Tensor, data_sample=None,
                  tfp_window: Optional[int] = 32) -> List[Tuple[str, torch.Tensor]]:
    """``(title, [H, W] float image in [0, 1])`` of each panel (see :func:`spike_panels`)."""
    spikes = spikes.detach().float().cpu()
    t = spikes.shape[0]
    count = spikes.sum(0)
    panels = [('spike count', count / count.max().clamp_min(1))]
    w = t if tfp_window is None else min(tfp_window, t)
    start = (t - w) // 2
    tfp = spikes[start:start + w].mean(0)
    panels.append(('TFP', tfp / tfp.max().clamp_min(1e-6)))
    if data_sample is not None:
        coarse = data_sample.get('pred_coarse')
        refined = data_sample.get('pred_img')
        if coarse is not None:
            panels.append(('coarse', coarse))
        if refined is not None and (coarse is None or not torch.equal(refined, coarse)):
            panels.append(('refined', refined))
        if data_sample.get('gt_img') is not None:
            panels.append(('reference', data_sample.gt_img))
    return [(title, img.detach().float().cpu().reshape(img.shape[-2:]).clamp(0, 1))
            for title, img in panels]


def spike_panels(spikes: torch.Tensor, data_sample=None,
                 tfp_window: Optional[int] = 32) -> List[Tuple[str, np.ndarray]]:
    """Named grey panels of one sample.

    Args:
        spikes (torch.Tensor): Spike window ``[T, H, W]`` (0/1).
        data_sample (SpikeDataSample, optional): With any of ``pred_coarse``, ``pred_img``,
            ``gt_img``.
        tfp_window (int, optional): Frames of the TFP panel, centred; all if None.

    Returns:
        list[tuple[str, np.ndarray]]: ``(title, [H, W] uint8)`` in the order of ``PANELS``.
    """
    return [(title, to_uint8(img)) for title, img in _panel_images(spikes, data_sample, tfp_window)]


def panel_titles(spikes: torch.Tensor, data_sample=None,
                 tfp_window: Optional[int] = 32) -> List[str]:
    """The title of each panel of :func:`spike_panels`: its name, and where the sample has a
    reference its PSNR against it (dB, images clamped to [0, 1] as the PSNR metric does; the
    spike-count and TFP panels as shown, scaled to their maximum)."""
    from ..evaluation.metrics.image_quality import psnr
    images = _panel_images(spikes, data_sample, tfp_window)
    ref = dict(images).get('reference')
    titles = []
    for title, img in images:
        if ref is not None and title != 'reference' and img.shape == ref.shape:
            title = f'{title} {float(psnr(img[None, None], ref[None, None])[0]):.2f} dB'
        titles.append(title)
    return titles


def make_grid(panels: List[Tuple[str, np.ndarray]], titles: Optional[Sequence[str]] = None,
              min_size: int = 256, gap: int = 8) -> np.ndarray:
    """Panels side by side on a white background, each under its title.

    Panels are enlarged by a whole factor (nearest neighbour, so that every pixel stays a
    visible square) until their shorter side is at least ``min_size``.

    Args:
        panels (list[tuple[str, np.ndarray]]): ``(name, [H, W] uint8)``.
        titles (Sequence[str], optional): One per panel. Defaults to the names.
        min_size (int): Smallest shown side in pixels; 0 keeps the size. Defaults to 256.
        gap (int): White pixels between panels. Defaults to 8.

    Returns:
        np.ndarray: ``[TITLE_HEIGHT + s * H, sum(s * W) + gaps, 3]`` uint8 RGB, ``s`` the
        enlargement.
    """
    titles = list(titles) if titles is not None else [name for name, _ in panels]
    side = min(min(p.shape[:2]) for _, p in panels)
    scale = max(1, math.ceil(min_size / side)) if min_size else 1
    shown = [np.repeat(np.repeat(p, scale, 0), scale, 1) for _, p in panels]
    h = max(p.shape[0] for p in shown)
    width = sum(p.shape[1] for p in shown) + gap * (len(shown) - 1)
    grid = np.full((TITLE_HEIGHT + h, width, 3), 255, dtype=np.uint8)
    x = 0
    for title, p in zip(titles, shown):
        grid[TITLE_HEIGHT:TITLE_HEIGHT + p.shape[0], x:x + p.shape[1]] = p[..., None]
        _put_title(grid, title, x, p.shape[1])
        x += p.shape[1] + gap
    return grid


def _put_title(grid: np.ndarray, text: str, x: int, width: int) -> None:
    """Black text, shrunk to fit ``width``, in the title strip above column ``x``."""
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1
    (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    if w > width - 4:
        scale *= (width - 4) / w
        (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    org = (x + max(0, (width - w) // 2), (TITLE_HEIGHT + h) // 2)
    cv2.putText(grid, text, org, font, scale, (0, 0, 0), thick, cv2.LINE_AA)


def grid_caption(panels: List[Tuple[str, np.ndarray]], data_sample=None,
                 class_names=None) -> str:
    """One line naming the panels, the true class and the predicted class."""
    text = ' | '.join(n for n, _ in panels)
    if data_sample is not None:
        if data_sample.get('label_name') is not None:
            text += f'; class: {data_sample.label_name}'
        if data_sample.get('pred_label') is not None and class_names:
            text += f'; predicted: {class_names[int(data_sample.pred_label)]}'
    return text
