"""Display exposure: the one gain per recording that turns linear spike rates into a viewable image.

A reconstruction is a spike rate in [0, 1] (spikes per frame): a recording at 0.2 spikes/frame
gives an 8-bit image whose brightest pixels sit near grey level 50, a low-light one is nearly
black. The PNGs, videos and grids the toolkit writes therefore show ``gain * rate`` (clamped to
[0, 1], then :func:`~spikeclip.utils.image.to_uint8`), with one gain per recording:

* ``'auto'`` (the default of PNG and MP4 output): ``1 / p``, ``p`` the 99.5th percentile of the
  reconstruction (a single image; for a range of frames, :data:`SAMPLE_FRAMES` frames evenly
  spaced over the range, pooled), between 1 and :data:`MAX_AUTO_GAIN`. One gain for all frames of
  a recording, so a video does not flicker and two frames stay comparable: a scene twice as
  bright is twice as bright in the video.
* ``'linear'``: gain 1, the rate itself (``round(255 * rate)``), bit for bit what the toolkit
  wrote before exposures existed.
* a number: that fixed positive gain.

The gain is recorded (``gain`` in ``predictions.json`` and in a frame folder's ``run.json``), so
the linear rate of an unclipped pixel is ``png / 255 / gain`` (to within half a grey level);
``--save-float`` keeps the exact rates as float32 ``.npy`` files for measurement.
"""
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Union

import numpy as np
import torch

from .atomic import atomic_open
from .errors import ConfigError
from .image import to_uint8

AUTO_PERCENTILE = 99.5  # the rate shown as white by 'auto'
MAX_AUTO_GAIN = 64.0  # 'auto' never amplifies more (a black recording stays dark, not noise)
SAMPLE_FRAMES = 8  # frames of a range that 'auto' looks at, evenly spaced over it
EXPOSURE_HELP = ("brightness of the PNG/MP4 output: 'auto' (default) one gain per recording, "
                 "from the 99.5th percentile of its reconstruction; 'linear' the spike rate "
                 "itself (round(255 * rate)); or a fixed positive GAIN. The gain is recorded in "
                 "predictions.json")

ImageLike = Union[np.ndarray, torch.Tensor]


@dataclass(frozen=True)
class Exposure:
    """An exposure setting: ``'auto'``, ``'linear'`` or a fixed gain (see the module doc).

    Attributes:
        mode (str): ``'auto'``, ``'linear'`` or ``'fixed'``.
        fixed_gain (float, optional): The gain of ``'fixed'``.
    """
    mode: str
    fixed_gain: Optional[float] = None

    @classmethod
    def parse(cls, spec: Union[str, float, int, 'Exposure', None]) -> 'Exposure':
        """An exposure from ``'auto'``, ``'linear'``, a positive finite number (or its string),
        an Exposure, or None (``'auto'``).

        Raises:
            ConfigError: Anything else, naming ``--exposure`` and the accepted values.
        """
        if spec is None:
            return cls('auto')
        if isinstance(spec, Exposure):
            return spec
        if isinstance(spec, str) and spec.strip().lower() in ('auto', 'linear'):
            return cls(spec.strip().lower())
        try:
            gain = float(spec)
        except (TypeError, ValueError):
            gain = None
        if isinstance(spec, bool) or gain is None or not np.isfinite(gain) or gain <= 0:
            raise ConfigError(f'--exposure {spec!r}: expected auto, linear or a positive finite '
                              'gain (e.g. 2.5)')
        return cls('fixed', gain)

    def __str__(self) -> str:
        return repr(self.fixed_gain) if self.mode == 'fixed' else self.mode

    def gain(self, images: Optional[Callable[[], Iterable[ImageLike]]] = None) -> float:
        """The gain: 1.0 for ``'linear'``, the fixed one, or ``'auto'``'s from ``images()``
        (called only for ``'auto'``: the reconstructions to look at)."""
        if self.mode == 'linear':
            return 1.0
        if self.mode == 'fixed':
            return float(self.fixed_gain)
        if images is None:
            raise ValueError("Exposure('auto').gain needs the images to look at")
        return auto_gain(images())


def auto_gain(images: Iterable[ImageLike], percentile: float = AUTO_PERCENTILE,
              max_gain: float = MAX_AUTO_GAIN) -> float:
    """``1 / p`` with ``p`` the ``percentile`` of all pixels of ``images`` pooled, clamped to
    ``[1, max_gain]``; 1.0 for images that are black there (nothing to expose).

    Args:
        images (Iterable[np.ndarray | torch.Tensor]): Linear rates, any shapes.
    """
    values = [np.asarray(_numpy(img), np.float32).ravel() for img in images]
    if not values or sum(v.size for v in values) == 0:
        return 1.0
    level = float(np.percentile(np.concatenate(values), percentile))
    if not level > 0:
        return 1.0
    return float(min(max_gain, max(1.0, 1.0 / level)))


def sample_positions(count: int, samples: int = SAMPLE_FRAMES) -> List[int]:
    """Up to ``samples`` positions in ``range(count)``, evenly spaced, first and last included."""
    if count <= 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(samples, count))})


def to_display(img: ImageLike, gain: float) -> np.ndarray:
    """``[H, W]`` uint8 pixels of the rates ``img`` shown at ``gain``: ``to_uint8(gain * img)``
    (with gain 1, exactly ``to_uint8(img)``)."""
    return to_uint8(img if gain == 1.0 else img * gain)


def save_rates(path: str, img: ImageLike) -> None:
    """The linear rates ``img`` as an ``[H, W]`` float32 ``.npy`` file, written atomically."""
    arr = np.ascontiguousarray(np.asarray(_numpy(img), np.float32).reshape(img.shape[-2:]))
    with atomic_open(path, 'wb') as f:
        np.save(f, arr)


def _numpy(img: ImageLike) -> np.ndarray:
    if isinstance(img, torch.Tensor):
        return img.detach().float().cpu().numpy()
    return np.asarray(img)
