"""Image reading and writing: the one grey-image reader and the one float-to-8-bit rule.

Every image the toolkit reads (reference PNGs, image folders, the embedded and packaged
photographs) becomes ``[H, W]`` float32 grey in [0, 1] through :func:`to_grey`; every image it
writes (PNGs, video frames, grids, simulated references) becomes 8-bit through
:func:`to_uint8`, ``round(255 * clamp(x, 0, 1))``.
"""
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image

# File types read as images (lower case); folders are scanned for these.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')

# PIL modes of 16-bit grey images (a 16-bit grey PNG opens in one of them).
_16BIT_MODES = ('I', 'I;16', 'I;16B', 'I;16L')


def to_uint8(img: Union[torch.Tensor, np.ndarray], keep_shape: bool = False) -> np.ndarray:
    """An image in [0, 1] as 8 bits: ``round(255 * clamp(img, 0, 1))`` (halves round up).

    Every PNG, video frame and grid the toolkit writes goes through this rule. It is computed in
    float32 (float64 arrays in float64).

    Args:
        img (torch.Tensor | np.ndarray): A grey model image ``[..., H, W]`` with one channel
            (``[1, H, W]``, ``[1, 1, H, W]``, ...), or with ``keep_shape`` any image.
        keep_shape (bool): Keep the shape (e.g. ``[H, W, 3]`` colour) instead of returning
            ``[H, W]``. Defaults to False.

    Returns:
        np.ndarray: ``[H, W]`` uint8 (or ``img``'s shape with ``keep_shape``).
    """
    if isinstance(img, torch.Tensor):
        img = img.detach().float().cpu().numpy()
    img = np.asarray(img)
    if img.dtype not in (np.float32, np.float64):
        img = img.astype(np.float32)
    if not keep_shape:
        img = img.reshape(img.shape[-2:])
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_grey(image, short_side: Optional[int] = None,
            resample: Image.Resampling = Image.Resampling.LANCZOS,
            square: bool = False) -> np.ndarray:
    """An image as grey float32 in [0, 1], optionally resized and cropped.

    Colour is converted with PIL's ``'L'`` weights; 16-bit grey images keep their 16 bits
    (``/ 65535``).

    Args:
        image (np.ndarray | PIL.Image.Image): A PIL image, or an ``[H, W]``, ``[H, W, 3]`` or
            ``[H, W, 4]`` array (uint8, bool, or float in [0, 1]).
        short_side (int, optional): Resize so that the short side has this many pixels; None
            keeps the size. Defaults to None.
        resample (PIL.Image.Resampling): Resampling filter of the resize. Defaults to LANCZOS.
        square (bool): Then crop the centre ``short_side`` x ``short_side`` square. Defaults to
            False.

    Returns:
        np.ndarray: ``[H', W']`` float32 in [0, 1].
    """
    if not isinstance(image, Image.Image):
        arr = np.asarray(image)
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype != np.uint8:
            arr = to_uint8(arr.astype(np.float64), keep_shape=True)
        image = Image.fromarray(arr)
    if image.mode in _16BIT_MODES:
        image, full_scale = Image.fromarray(np.asarray(image, dtype=np.float32)), 65535.0
    else:
        image, full_scale = image.convert('L'), 255.0
    if short_side is not None:
        w, h = image.size
        factor = short_side / min(h, w)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        if size != (w, h):
            image = image.resize(size, resample)
        if square:
            left, top = (image.width - short_side) // 2, (image.height - short_side) // 2
            image = image.crop((left, top, left + short_side, top + short_side))
    return np.asarray(image, dtype=np.float32) / full_scale


def read_grey(path: str, short_side: Optional[int] = None,
              resample: Image.Resampling = Image.Resampling.LANCZOS,
              square: bool = False) -> np.ndarray:
    """An image file as grey float32 ``[H', W']`` in [0, 1] (see :func:`to_grey`).

    Raises:
        OSError: PIL's errors for a missing or undecodable file (``UnidentifiedImageError``, ...).
    """
    with Image.open(path) as im:
        return to_grey(im, short_side, resample, square)
