"""The embedded default image set: scikit-image's bundled photographs, one class each.

They ship inside scikit-image, so the demo runs offline. Each image is converted to grey
(ITU-R 601 luma, as PIL's ``'L'`` mode) and resized so that its short side is 256 pixels.

Train, validation and test crops never overlap: every image is cut across its longer side (its
width for a square image); the first 70 % (left or top part) gives training crops, and the last
30 % (right or bottom part) is cut in two along its own longer side: the first half gives
validation crops, the second half test crops. See :func:`split_region`.
"""
import functools
import warnings
from typing import List, Tuple

import numpy as np

from ..utils.errors import ConfigError
from ..utils.image import to_grey

# (class name, scikit-image loader). Images that need a network download (eagle, lily, kidney,
# skin, ...) are left out.
DEFAULT_IMAGES = (
    ('astronaut', 'astronaut'),
    ('cameraman', 'camera'),
    ('cat', 'chelsea'),
    ('clock', 'clock'),
    ('coffee', 'coffee'),
    ('coins', 'coins'),
    ('rocket', 'rocket'),
    ('moon', 'moon'),
    ('brick', 'brick'),
    ('galaxy', 'hubble_deep_field'),
    ('grass', 'grass'),
    ('gravel', 'gravel'),
)
DEFAULT_CLASSES = tuple(name for name, _ in DEFAULT_IMAGES)
SHORT_SIDE = 256
TRAIN_FRACTION = 0.7


@functools.lru_cache(maxsize=4)
def _load(short_side: int) -> Tuple[Tuple[str, np.ndarray], ...]:
    import skimage.data
    images = []
    for name, loader in DEFAULT_IMAGES:
        try:
            raw = getattr(skimage.data, loader)()
        except Exception as e:  # a scikit-image that needs a download for it, or lacks it
            warnings.warn(f'default image {name!r} (skimage.data.{loader}) is unavailable and '
                          f'skipped: {type(e).__name__}: {e}')
            continue
        grey = to_grey(raw, short_side)
        grey.flags.writeable = False  # shared by every caller of the cache
        images.append((name, grey))
    if not images:
        raise ConfigError('none of the default scikit-image photographs could be loaded; '
                          'check the scikit-image installation or use image_dir=...')
    return tuple(images)


def load_default_images(short_side: int = SHORT_SIDE) -> List[Tuple[str, np.ndarray]]:
    """The default images as ``(class name, [H, W] float32 grey in [0, 1])`` pairs.

    Loaded once per process and cached (read-only arrays).

    Args:
        short_side (int): Short side after resizing. Defaults to 256.
    """
    return list(_load(short_side))


def split_region(image: np.ndarray, split: str,
                 train_fraction: float = TRAIN_FRACTION) -> np.ndarray:
    """The part of ``image`` that a split draws its crops from (a view).

    The image is cut across its longer side (width if square): ``train`` is the first
    ``train_fraction`` of it; the rest, the held-out strip, is cut in two along its own longer
    side: ``val`` is the first half, ``test`` the second. The three parts are disjoint, so a
    checkpoint selected on ``val`` is reported on pixels it was not selected on.

    Args:
        image (np.ndarray): ``[H, W]``.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        train_fraction (float): Share of the longer side used for training. Defaults to 0.7.

    Returns:
        np.ndarray: A view of ``image``.
    """
    if split not in ('train', 'val', 'test'):
        raise ConfigError(f'split must be "train", "val" or "test", got {split!r}')
    h, w = image.shape[-2:]
    along_width = w >= h
    cut = round((w if along_width else h) * train_fraction)
    part = slice(0, cut) if split == 'train' else slice(cut, None)
    strip = image[..., :, part] if along_width else image[..., part, :]
    if split == 'train':
        return strip
    sh, sw = strip.shape[-2:]
    half = (sh if sh >= sw else sw) // 2
    part = slice(0, half) if split == 'val' else slice(half, None)
    return strip[..., part, :] if sh >= sw else strip[..., :, part]
