"""Reader and writer of raw spike-camera ``.dat`` recordings.

Format: a sequence of frames; each frame holds ``H * W`` bits, 8 pixels per byte, the
least-significant bit first, pixels in row-major order, and the rows stored bottom-up (the first
stored row is the bottom image row). A frame occupies ``ceil(H * W / 8)`` bytes; when ``H * W`` is
not a multiple of 8 the unused high bits of the frame's last byte are zero. 250x400 is the common
sensor size (12 500 bytes per frame); raw Vidar captures are 250x416 with a 16-column head
(``sensor='vidar-250x416'``, see :mod:`spikeclip.fileio.sensors`).

Arrays in memory are ``[T, H, W]`` uint8 with values 0/1, row 0 at the top.
"""
import os
import stat
from typing import List, Optional, Union

import numpy as np

from ..utils.atomic import atomic_write_bytes
from ..utils.errors import SpikeFormatError
from .sensors import SENSORS, Sensor, stored_size

DEFAULT_HEIGHT = 250
DEFAULT_WIDTH = 400
# Sensor sizes suggested when a file does not fit the size that was asked for.
COMMON_SIZES = ((250, 400), (256, 256), (250, 250), (224, 224), (400, 250), (1000, 1000))
# The largest frame side accepted: spike cameras are 250x400 to 1000x1000; a frame of 30000x30000
# would be 112 MB, and one window of it 22 GB.
MAX_SIDE = 4096


def check_regular_file(path: str, kind: str) -> int:
    """The size of ``path``, which must be a regular file that can be read.

    Raises:
        SpikeFormatError: Missing, a directory, a FIFO or device (which would block or never
            end), or unreadable; the message says which.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SpikeFormatError(f'{path}: no such {kind} file') from None
    except OSError as e:
        raise SpikeFormatError(f'{path}: cannot be read ({e.strerror})') from e
    if stat.S_ISDIR(st.st_mode):
        raise SpikeFormatError(f'{path}: is a directory, not a {kind} file')
    if not stat.S_ISREG(st.st_mode):
        what = 'a FIFO' if stat.S_ISFIFO(st.st_mode) else 'a device or socket'
        raise SpikeFormatError(f'{path}: is {what}, not a regular {kind} file')
    if not os.access(path, os.R_OK):
        raise SpikeFormatError(f'{path}: cannot be read (permission denied)')
    return st.st_size


def check_frame_size(height: int, width: int, path: Optional[str] = None) -> None:
    """Raise unless ``1 <= height, width <= MAX_SIDE`` (``path`` named in the message)."""
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise SpikeFormatError(f'{path + ": " if path else ""}frame size {height}x{width} '
                               f'(--height/--width) is out of range: both must be between 1 and '
                               f'{MAX_SIDE}')


def sizes_that_fit(size: int, limit: int = 4) -> List[str]:
    """Frame sizes of which a ``size``-byte file holds a whole number of frames, as
    ``'HxW (T frames)'``: the common sensor sizes that fit, else square sizes (16 to 1024, the
    ones whose frame count is closest to a 200-frame window first)."""
    fits = [(h, w) for h, w in COMMON_SIZES if size % frame_bytes(h, w) == 0]
    if not fits:
        fits = [(s, s) for s in range(16, 1025, 8) if size % frame_bytes(s, s) == 0]
        fits.sort(key=lambda hw: abs(size // frame_bytes(*hw) - 200))
    return [f'{h}x{w} ({size // frame_bytes(h, w)} frames)' for h, w in fits[:limit]]


def frame_bytes(height: int, width: int) -> int:
    """Bytes of one frame of ``height x width`` pixels."""
    return (height * width + 7) // 8


def dat_num_frames(path: str, height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH,
                   sensor: Union[str, Sensor, None] = None) -> int:
    """Number of frames in a ``.dat`` file, checking that its size is a whole number of frames.

    Args:
        sensor (str | Sensor, optional): A preset of :mod:`~spikeclip.fileio.sensors` (e.g.
            ``'vidar-250x416'``); it sets the stored frame size instead of ``height``/``width``.

    Raises:
        SpikeFormatError: The file is missing, not a regular readable file, empty, the frame size
            is out of range, or the file size is not a multiple of the frame size (the message
            names the file, both sizes, and the sensor preset or frame sizes that would fit).
    """
    height, width, _ = stored_size(height, width, sensor)
    check_frame_size(height, width, path)
    size = check_regular_file(path, '.dat')
    fb = frame_bytes(height, width)
    if size == 0:
        raise SpikeFormatError(f'{path}: the file is empty (0 bytes); expected frames of '
                               f'{height}x{width} pixels ({fb} bytes each)')
    if size % fb:
        presets = [s for s in SENSORS.values() if s.head and (s.height, s.width) != (height, width)
                   and size % frame_bytes(s.height, s.width) == 0]
        fits = sizes_that_fit(size)
        hint = (f'; sizes that would fit: {", ".join(fits)}' if fits else
                '; no common sensor size or square size fits, so the file is probably '
                'truncated')
        if presets:
            s = presets[0]
            hint = (f'; it looks like a raw {s.height}x{s.width} capture '
                    f'({size // frame_bytes(s.height, s.width)} frames): use --sensor {s.name}')
        raise SpikeFormatError(
            f'{path}: {size} bytes is not a whole number of {height}x{width} frames '
            f'({fb} bytes per frame, {size // fb} whole frames and {size % fb} bytes left over)'
            f'{hint}' + ('' if presets else '. Check --height/--width or whether the file is '
                         'truncated'))
    return size // fb


def decode_frames(raw: np.ndarray, height: int, width: int, flip: bool = True) -> np.ndarray:
    """Decode packed frames.

    Args:
        raw (np.ndarray): ``[T, frame_bytes]`` uint8 packed bits.
        height (int): Frame height H.
        width (int): Frame width W.
        flip (bool): Undo the bottom-up row order. Defaults to True.

    Returns:
        np.ndarray: ``[T, H, W]`` uint8 spikes (0/1).
    """
    bits = np.unpackbits(raw, axis=1, count=height * width, bitorder='little')
    spikes = bits.reshape(-1, height, width)
    return np.ascontiguousarray(spikes[:, ::-1]) if flip else spikes


def read_dat(path: str,
             height: int = DEFAULT_HEIGHT,
             width: int = DEFAULT_WIDTH,
             start: int = 0,
             num_frames: Optional[int] = None,
             flip: bool = True,
             sensor: Union[str, Sensor, None] = None) -> np.ndarray:
    """Read frames ``[start, start + num_frames)`` of a ``.dat`` file without decoding the rest.

    Args:
        path (str): The ``.dat`` file.
        height (int): Frame height H. Defaults to 250.
        width (int): Frame width W. Defaults to 400.
        start (int): First frame to read. Defaults to 0.
        num_frames (int, optional): Frames to read; all remaining frames if None.
        flip (bool): Undo the bottom-up row order. Defaults to True.
        sensor (str | Sensor, optional): A sensor preset: sets the stored frame size instead of
            ``height``/``width``, and its head columns are dropped.

    Returns:
        np.ndarray: ``[T, H, W]`` uint8 spikes (0/1); with a sensor, W is its image width.
    """
    height, width, sensor = stored_size(height, width, sensor)
    total = dat_num_frames(path, height, width)
    if num_frames is None:
        num_frames = total - start
    if start < 0 or num_frames <= 0 or start + num_frames > total:
        raise SpikeFormatError(f'{path}: frames [{start}, {start + num_frames}) requested but the '
                               f'file holds {total} frames of {height}x{width}')
    fb = frame_bytes(height, width)
    try:
        raw = np.fromfile(path, dtype=np.uint8, count=num_frames * fb, offset=start * fb)
    except OSError as e:
        raise SpikeFormatError(f'{path}: cannot be read ({e})') from e
    if raw.size != num_frames * fb:  # shrank since its size was checked
        raise SpikeFormatError(f'{path}: ended early while reading frames [{start}, '
                               f'{start + num_frames}); the file is truncated')
    spikes = decode_frames(raw.reshape(num_frames, fb), height, width, flip)
    return sensor.crop(spikes) if sensor is not None else spikes


def encode_frames(spikes: np.ndarray, flip: bool = True) -> bytes:
    """Pack ``[T, H, W]`` 0/1 spikes into ``.dat`` bytes (the inverse of :func:`decode_frames`)."""
    spikes = check_spike_array(spikes, 'spikes')
    t, h, w = spikes.shape
    if flip:
        spikes = spikes[:, ::-1]
    flat = np.ascontiguousarray(spikes).reshape(t, h * w)
    return np.packbits(flat, axis=1, bitorder='little').tobytes()


def write_dat(path: str, spikes: np.ndarray, flip: bool = True) -> None:
    """Write ``[T, H, W]`` 0/1 spikes to ``path`` atomically in the ``.dat`` format."""
    atomic_write_bytes(path, encode_frames(spikes, flip))


def check_spike_array(spikes: np.ndarray, name: str) -> np.ndarray:
    """Check that ``spikes`` is a ``[T, H, W]`` array of 0/1 values and return it as uint8.

    Raises:
        SpikeFormatError: Wrong number of dimensions, an empty axis, or values other than 0 and 1.
    """
    spikes = np.asarray(spikes)
    if spikes.ndim != 3 or min(spikes.shape) == 0:
        raise SpikeFormatError(f'{name}: expected spikes of shape [T, H, W] with T, H, W > 0, '
                               f'got shape {tuple(spikes.shape)}')
    if spikes.dtype == np.bool_:
        return spikes.astype(np.uint8)
    if not (np.issubdtype(spikes.dtype, np.integer) or np.issubdtype(spikes.dtype, np.floating)):
        raise SpikeFormatError(f'{name}: expected a numeric spike array, got dtype {spikes.dtype}')
    if spikes.dtype != np.uint8 or spikes.max() > 1:
        bad = (spikes != 0) & (spikes != 1)
        if bad.any():
            vals = np.unique(spikes[bad])[:5].tolist()
            raise SpikeFormatError(f'{name}: spikes must be binary (0/1), found values {vals}')
    return spikes.astype(np.uint8, copy=False)

