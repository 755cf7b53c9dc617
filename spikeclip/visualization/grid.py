"""Side-by-side image grids of a spike window and the images made from it."""
from typing import List, Optional, Tuple

import numpy as np
import torch

PANELS = ('spike count', 'TFP', 'coarse', 'refined', 'reference')


def _to_u8(img: torch.Tensor) -> np.ndarray:
    """``[1, H, W]`` or ``[H, W]`` in [0, 1] -> ``[H, W]`` uint8."""
    img = img.detach().float().cpu().reshape(img.shape[-2:]).clamp(0, 1)
    return (img.numpy() * 255 + 0.5).astype(np.uint8)


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
    spikes = spikes.detach().float().cpu()
    t = spikes.shape[0]
    count = spikes.sum(0)
    panels = [('spike count', _to_u8(count / count.max().clamp_min(1)))]
    w = t if tfp_window is None else min(tfp_window, t)
    start = (t - w) // 2
    tfp = spikes[start:start + w].mean(0)
    panels.append(('TFP', _to_u8(tfp / tfp.max().clamp_min(1e-6))))
    if data_sample is not None:
        coarse = data_sample.get('pred_coarse')
        refined = data_sample.get('pred_img')
        if coarse is not None:
            panels.append(('coarse', _to_u8(coarse)))
        if refined is not None and (coarse is None or not torch.equal(refined, coarse)):
            panels.append(('refined', _to_u8(refined)))
        if data_sample.get('gt_img') is not None:
            panels.append(('reference', _to_u8(data_sample.gt_img)))
    return panels


def make_grid(panels: List[Tuple[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """Panels side by side on a white background, ``[H, sum(W) + gaps, 3]`` uint8 RGB."""
    h = max(p.shape[0] for _, p in panels)
    width = sum(p.shape[1] for _, p in panels) + gap * (len(panels) - 1)
    grid = np.full((h, width, 3), 255, dtype=np.uint8)
    x = 0
    for _, p in panels:
        grid[:p.shape[0], x:x + p.shape[1]] = p[..., None]
        x += p.shape[1] + gap
    return grid


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
