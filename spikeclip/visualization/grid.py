"""Titled side-by-side panels of a spike window and the images made from it, compared fairly.

Every panel that is a spike rate (spike count, TFP, TFI, the model's coarse and refined images)
is drawn at one display gain: the least-squares gain of the model's image to the reference where
the sample has one (the panels then show the reference's brightness), else the automatic exposure
of the model's image (:mod:`spikeclip.utils.exposure`); the reference is drawn as it is. Every
PSNR title is computed after a least-squares gain per panel, the rule of
``tools/benchmark_quality.py`` (:func:`spikeclip.benchmarks.quality.fitted_score`), so a panel's
title matches the benchmark's figure for that image; the caption line says so.
"""
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..benchmarks.quality import fitted_score
from ..models.encoders import fit_gain
from ..utils.exposure import auto_gain, to_display
from ..utils.image import to_uint8

PANELS = ('spike count', 'TFP', 'coarse', 'refined', 'reference')
TITLE_HEIGHT = 28  # px of the title strip above each panel
NOTE_HEIGHT = 22  # px of the caption line below the panels
PSNR_RULE = 'PSNR after a least-squares gain per panel (as tools/benchmark_quality.py)'


def _panel_images(spikes: torch.Tensor, data_sample=None,
                  tfp_window: Optional[int] = 32) -> List[Tuple[str, torch.Tensor]]:
    """``(title, [H, W] float image)`` of each panel (see :func:`spike_panels`): the rates
    unclamped (spike count: spikes per frame over the whole window), then the reference."""
    spikes = spikes.detach().float().cpu()
    t = spikes.shape[0]
    panels = [('spike count', spikes.mean(0))]
    w = t if tfp_window is None else min(tfp_window, t)
    start = (t - w) // 2
    panels.append(('TFP', spikes[start:start + w].mean(0)))
    if data_sample is not None:
        coarse = data_sample.get('pred_coarse')
        refined = data_sample.get('pred_img')
        if coarse is not None:
            panels.append(('coarse', coarse))
        if refined is not None and (coarse is None or not torch.equal(refined, coarse)):
            panels.append(('refined', refined))
        if data_sample.get('gt_img') is not None:
            panels.append(('reference', data_sample.gt_img))
    return [(title, img.detach().float().cpu().reshape(img.shape[-2:])) for title, img in panels]


def display_gain(rates: Sequence[Tuple[str, torch.Tensor]],
                 reference: Optional[torch.Tensor] = None, main: Optional[str] = None) -> float:
    """The one gain at which the rate panels are drawn: the least-squares gain of the ``main``
    panel (default: the last, the model's image) to ``reference`` where there is one, else the
    automatic exposure of the ``main`` panel."""
    images = dict(rates)
    image = images[main] if main is not None else rates[-1][1]
    if reference is not None and image.shape == reference.shape:
        gain = fit_gain(image, reference)
        if gain > 0:
            return gain
    return auto_gain([image])


def calibrated_panels(rates: Sequence[Tuple[str, torch.Tensor]],
                      reference: Optional[torch.Tensor] = None, main: Optional[str] = None,
                      gain: Optional[float] = None
                      ) -> Tuple[List[Tuple[str, np.ndarray]], List[str], str]:
    """Grey panels drawn fairly (see the module doc).

    Args:
        rates (Sequence[tuple[str, torch.Tensor]]): ``(name, [H, W] rates)``, unclamped.
        reference (torch.Tensor, optional): ``[H, W]`` reference image in [0, 1].
        main (str, optional): The panel that sets the display gain; default the last.
        gain (float, optional): A display gain to use instead (the titles are unchanged).

    Returns:
        tuple: ``(name, [H, W] uint8)`` panels (the reference last), their titles (with the
        fitted-gain PSNR where there is a reference) and the caption line saying how.
    """
    fitted = gain is None
    gain = display_gain(rates, reference, main) if fitted else float(gain)
    panels = [(name, to_display(img, gain)) for name, img in rates]
    titles = []
    for name, img in rates:
        if reference is not None and img.shape == reference.shape:
            value = fitted_score(img[None, None], reference[None, None],
                                 ssim=False)['psnr']
            name = f'{name} {value:.2f} dB'
        titles.append(name)
    note = f'rate panels at one display gain x{gain:.3g}'
    if reference is not None:
        panels.append(('reference', to_uint8(reference)))
        titles.append('reference')
        note = f'{PSNR_RULE}; {note}' + (', fitted to the reference' if fitted else '')
    return panels, titles, note


def sample_panels(spikes: torch.Tensor, data_sample=None, tfp_window: Optional[int] = 32
                  ) -> Tuple[List[Tuple[str, np.ndarray]], List[str], str]:
    """:func:`calibrated_panels` of one sample: panels, titles and caption line (arguments as
    :func:`spike_panels`)."""
    images = _panel_images(spikes, data_sample, tfp_window)
    reference = dict(images).get('reference')
    return calibrated_panels([(n, i) for n, i in images if n != 'reference'], reference)


def spike_panels(spikes: torch.Tensor, data_sample=None,
                 tfp_window: Optional[int] = 32) -> List[Tuple[str, np.ndarray]]:
    """Named grey panels of one sample, the rates at one display gain (see the module doc).

    Args:
        spikes (torch.Tensor): Spike window ``[T, H, W]`` (0/1).
        data_sample (SpikeDataSample, optional): With any of ``pred_coarse``, ``pred_img``,
            ``gt_img``.
        tfp_window (int, optional): Frames of the TFP panel, centred; all if None.

    Returns:
        list[tuple[str, np.ndarray]]: ``(title, [H, W] uint8)`` in the order of ``PANELS``.
    """
    return sample_panels(spikes, data_sample, tfp_window)[0]


def panel_titles(spikes: torch.Tensor, data_sample=None,
                 tfp_window: Optional[int] = 32) -> List[str]:
    """The title of each panel of :func:`spike_panels`: its name, and where the sample has a
    reference its PSNR against it after a least-squares gain of its own (dB), as
    ``tools/benchmark_quality.py`` scores."""
    return sample_panels(spikes, data_sample, tfp_window)[1]


def panel_note(spikes: torch.Tensor, data_sample=None, tfp_window: Optional[int] = 32) -> str:
    """The caption line of :func:`spike_panels`: the display gain and the PSNR rule."""
    return sample_panels(spikes, data_sample, tfp_window)[2]


def make_grid(panels: List[Tuple[str, np.ndarray]], titles: Optional[Sequence[str]] = None,
              min_size: int = 256, gap: int = 8, note: Optional[str] = None) -> np.ndarray:
    """Panels side by side on a white background, each under its title.

    Panels are enlarged by a whole factor (nearest neighbour, so that every pixel stays a
    visible square) until their shorter side is at least ``min_size``.

    Args:
        panels (list[tuple[str, np.ndarray]]): ``(name, [H, W] uint8)``.
        titles (Sequence[str], optional): One per panel. Defaults to the names.
        min_size (int): Smallest shown side in pixels; 0 keeps the size. Defaults to 256.
        gap (int): White pixels between panels. Defaults to 8.
        note (str, optional): A caption line drawn below the panels (``NOTE_HEIGHT`` pixels).

    Returns:
        np.ndarray: ``[TITLE_HEIGHT + s * H (+ NOTE_HEIGHT), sum(s * W) + gaps, 3]`` uint8 RGB,
        ``s`` the enlargement.
    """
    titles = list(titles) if titles is not None else [name for name, _ in panels]
    side = min(min(p.shape[:2]) for _, p in panels)
    scale = max(1, math.ceil(min_size / side)) if min_size else 1
    shown = [np.repeat(np.repeat(p, scale, 0), scale, 1) for _, p in panels]
    h = max(p.shape[0] for p in shown)
    width = sum(p.shape[1] for p in shown) + gap * (len(shown) - 1)
    grid = np.full((TITLE_HEIGHT + h + (NOTE_HEIGHT if note else 0), width, 3), 255,
                   dtype=np.uint8)
    x = 0
    for title, p in zip(titles, shown):
        grid[TITLE_HEIGHT:TITLE_HEIGHT + p.shape[0], x:x + p.shape[1]] = p[..., None]
        _put_title(grid, title, x, p.shape[1])
        x += p.shape[1] + gap
    if note:
        _put_title(grid, note, 0, width, top=TITLE_HEIGHT + h, height=NOTE_HEIGHT, scale=0.45,
                   centre=False)
    return grid


def _put_title(grid: np.ndarray, text: str, x: int, width: int, top: int = 0,
               height: int = TITLE_HEIGHT, scale: float = 0.6, centre: bool = True) -> None:
    """Black text, shrunk to fit ``width``, in the strip of ``height`` rows from ``top`` above
    (or, for the note, below) the panels, from column ``x``."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, 1
    (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    if w > width - 4:
        scale *= (width - 4) / w
        (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    left = x + max(0, (width - w) // 2) if centre else x + 2
    cv2.putText(grid, text, (left, top + (height + h) // 2), font, scale, (0, 0, 0), thick,
                cv2.LINE_AA)


def grid_caption(panels: List[Tuple[str, np.ndarray]], data_sample=None,
                 class_names=None, note: Optional[str] = None) -> str:
    """One line naming the panels, the true class and the predicted class, and ``note`` (how
    the panels are drawn and scored, :func:`calibrated_panels`)."""
    text = ' | '.join(n for n, _ in panels)
    if data_sample is not None:
        if data_sample.get('label_name') is not None:
            text += f'; class: {data_sample.label_name}'
        if data_sample.get('pred_label') is not None and class_names:
            text += f'; predicted: {class_names[int(data_sample.pred_label)]}'
    return f'{text}; {note}' if note else text
