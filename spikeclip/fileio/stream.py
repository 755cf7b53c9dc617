"""Streaming reads of whole recordings: the windows of many centre frames, in order, with only the
frames of the current window decoded and held in memory.

``SpikeReader`` reads frames ``[start, start + count)`` of a ``.dat`` or ``.npz`` recording on
demand (``.dat``: a seek and a read of those frames' bytes; ``.npz``: the ``spk`` member is
decompressed forward from where the last read stopped, so reading a whole recording in order
decompresses it once). ``WindowStream`` serves the windows of increasing centre frames from a
reader, keeping only the frames that the current window still needs.

Window convention (as :func:`spikeclip.fileio.window_bounds`): the ``w``-frame window of centre
frame ``c`` is ``[c - w // 2, c - w // 2 + w)``; a full window fits around ``c`` for
``w // 2 <= c <= T - w + w // 2``. With ``pad='reflect'`` every frame of the recording is a
valid centre: indices outside ``[0, T)`` are mirrored at the ends (``-1 -> 1``, ``T -> T - 2``),
so the spike statistics near an end are those of the frames next to it.
"""
import os
import zipfile
from typing import Optional, Tuple, Union

import numpy as np

from ..utils.errors import SpikeFormatError
from .dat import check_spike_array, dat_num_frames, decode_frames, frame_bytes
from .npz import _open_npz, _spk_member
from .sensors import Sensor, stored_size

PAD_MODES = ('reflect', )


class SpikeReader:
    """Frames of a ``.dat`` or ``.npz`` recording, read on demand without decoding the rest.

    The recording's length is checked from the file's size (``.dat``) or the ``spk`` header
    (``.npz``) when it is opened. Reads should move forward: a ``.npz`` member (compressed) is
    decompressed from its start again for a read before the previous one; a Fortran-ordered
    ``spk`` array, rare, is refused (every frame of it is spread over the whole member).

    Args:
        path (str): A ``.dat`` or ``.npz`` file.
        height (int): Frame height of a ``.dat`` file. Defaults to 250.
        width (int): Frame width of a ``.dat`` file. Defaults to 400.
        sensor (str | Sensor, optional): A sensor preset of a ``.dat`` file
            (:mod:`~spikeclip.fileio.sensors`): sets the stored size instead of ``height``/
            ``width`` and drops its head columns; :attr:`width` is then the image width.

    Attributes:
        num_frames (int): Frames T of the recording.
        height (int): H.
        width (int): W.

    Raises:
        SpikeFormatError: Unknown type, a missing, unreadable or malformed file (the checks of
            :func:`~spikeclip.fileio.dat_num_frames` and :func:`~spikeclip.fileio.read_npz`).
    """

    def __init__(self, path: str, height: int = 250, width: int = 400,
                 sensor: Union[str, Sensor, None] = None):
        self.path = path
        self.ext = os.path.splitext(path)[1].lower()
        self._file = self._zip = self._member = None
        self._sensor = None
        if self.ext == '.dat':
            height, width, self._sensor = stored_size(height, width, sensor)
            self.num_frames = dat_num_frames(path, height, width)
            self._stored = (height, width)
            self.height = height
            self.width = width if self._sensor is None else self._sensor.image_width
            try:
                self._file = open(path, 'rb')
            except OSError as e:
                raise SpikeFormatError(f'{path}: cannot be read ({e.strerror})') from e
        elif self.ext == '.npz':
            self._zip = _open_npz(path)
            try:
                self._member = _spk_member(self._zip, path)
                if self._member.fortran:
                    # Every frame's pixels are spread over the whole member: each read would
                    # decompress all of it again.
                    raise SpikeFormatError(
                        f'{path}: "spk" is stored in Fortran order, which cannot be read frame '
                        'by frame; save it in C order (np.ascontiguousarray(spk))')
            except BaseException:
                self._zip.close()
                raise
            self.num_frames, self.height, self.width = (int(s) for s in self._member.shape)
        else:
            raise SpikeFormatError(f'{path}: unknown spike file type {self.ext!r}; expected '
                                   '.dat or .npz')

    @property
    def shape(self) -> Tuple[int, int, int]:
        """``(T, H, W)``."""
        return self.num_frames, self.height, self.width

    def describe(self) -> str:
        """``'2000 frames of 250x400'``, for messages."""
        return f'{self.num_frames} frames of {self.height}x{self.width}'

    def read(self, start: int, count: int) -> np.ndarray:
        """Frames ``[start, start + count)`` as ``[count, H, W]`` uint8 spikes (0/1).

        Raises:
            SpikeFormatError: A range outside the recording, a file that shrank or ended early,
                or (``.npz``) values other than 0 and 1.
        """
        if start < 0 or count <= 0 or start + count > self.num_frames:
            raise SpikeFormatError(f'{self.path}: frames [{start}, {start + count}) requested but '
                                   f'the recording holds {self.describe()}')
        if self._file is not None:
            fb = frame_bytes(*self._stored)
            try:
                self._file.seek(start * fb)
                raw = self._file.read(count * fb)
            except OSError as e:
                raise SpikeFormatError(f'{self.path}: cannot be read ({e})') from e
            if len(raw) != count * fb:
                raise SpikeFormatError(f'{self.path}: ended early while reading frames [{start}, '
                                       f'{start + count}); the file is truncated')
            raw = np.frombuffer(raw, np.uint8).reshape(count, fb)
            spikes = decode_frames(raw, *self._stored)
            return spikes if self._sensor is None else self._sensor.crop(spikes)
        try:
            spikes = self._member.read(start, count)
        except SpikeFormatError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise SpikeFormatError(f'{self.path}: not a readable .npz file ({type(e).__name__}: '
                                   f'{e})') from e
        return check_spike_array(spikes, f'{self.path}: "spk"')

    def close(self) -> None:
        for handle in (self._file, self._member and self._member.f, self._zip):
            if handle is not None:
                handle.close()
        self._file = self._zip = self._member = None

    def __enter__(self) -> 'SpikeReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def valid_centres(num_frames: int, window: int, pad: Optional[str] = None) -> range:
    """The centre frames a ``window``-frame window can be built around (see module doc).

    Args:
        num_frames (int): Frames T of the recording.
        window (int): Frames per window, at most ``num_frames``.
        pad (str, optional): ``'reflect'`` makes every frame a valid centre. Defaults to None.
    """
    if pad is not None:
        return range(0, num_frames)
    return range(window // 2, num_frames - window + window // 2 + 1)


def window_indices(centre: int, window: int, num_frames: int,
                   pad: Optional[str] = None) -> np.ndarray:
    """Frame indices ``[window]`` of the window of ``centre``, mirrored at the ends with
    ``pad='reflect'``.

    Raises:
        ValueError: Unknown ``pad``, or a window that leaves the recording without padding.
    """
    idx = np.arange(centre - window // 2, centre - window // 2 + window, dtype=np.int64)
    if pad is None:
        if idx[0] < 0 or idx[-1] >= num_frames:
            raise ValueError(f'the {window}-frame window of frame {centre} leaves the '
                             f'{num_frames} frames; pad it or pick another centre')
        return idx
    if pad != 'reflect':
        raise ValueError(f'pad must be one of {PAD_MODES} or None, got {pad!r}')
    if num_frames == 1:
        return np.zeros_like(idx)
    period = 2 * (num_frames - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= num_frames, period - idx, idx)


def blind_spot_indices(length: int, window: int, held_out: int,
                       guard: int) -> Tuple[np.ndarray, np.ndarray]:
    """Frame indices of a temporal blind spot in a ``length``-frame clip: ``(inputs, held)``.

    The frames used span ``window + held_out + 2 * guard`` frames centred in the clip: the
    input's first ``window // 2`` frames, ``guard`` frames used for nothing, the ``held_out``
    target frames, ``guard`` frames used for nothing, the input's other ``window - window // 2``
    frames. The guard bands are there because an integrate-and-fire pixel's accumulator carries
    the phase of its last spike into the next frames: the frames next to the target tell where
    its spikes fall. The input keeps time order, so its centre frame ``window // 2`` (the frame
    the encoders reconstruct) is the first frame after the gap, and no input frame is closer
    than ``guard + 1`` frames to a held-out one.

    Args:
        length (int): Frames L of the clip, at least ``window + held_out + 2 * guard``.
        window (int): Frames of the input.
        held_out (int): Frames of the target (at least 1).
        guard (int): Frames left out on each side of the target (at least 0).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[window]`` and ``[held_out]`` int64 frame indices.

    Raises:
        ValueError: A clip too short, or a non-positive ``window`` / ``held_out``, negative
            ``guard``.
    """
    if window < 1 or held_out < 1 or guard < 0:
        raise ValueError(f'blind spot needs window >= 1, held_out >= 1, guard >= 0; got '
                         f'{window}, {held_out}, {guard}')
    need = window + held_out + 2 * guard
    if length < need:
        raise ValueError(f'a blind spot of {held_out} held-out frames with {guard} guard frames '
                         f'each side around a {window}-frame input needs {need} frames, the '
                         f'clip has {length}')
    lo = (length - need) // 2 + window // 2 + guard  # first held-out frame
    held = np.arange(lo, lo + held_out, dtype=np.int64)
    before = np.arange(lo - guard - window // 2, lo - guard, dtype=np.int64)
    after_start = lo + held_out + guard
    after = np.arange(after_start, after_start + window - window // 2, dtype=np.int64)
    return np.concatenate([before, after]), held


class WindowStream:
    """The spike windows of increasing centre frames of one recording, streamed.

    Holds the decoded frames of the current window in a buffer of ``window + slack`` frames and
    reads only the frames a new window adds, so that memory does not grow with the recording
    and each frame is decoded once however much the windows overlap. New frames are appended in
    place; the held ones move to the front only when the buffer is full (once every ``slack``
    frames of progress), so that a step of one frame costs one frame's decoding, not a copy of
    the window.

    Args:
        reader (SpikeReader): The recording.
        window (int): Frames per window.
        pad (str, optional): ``'reflect'`` to allow centres near the ends. Defaults to None.
        slack (int): Frames of room beyond a window. Defaults to 64.
    """

    def __init__(self, reader: SpikeReader, window: int, pad: Optional[str] = None,
                 slack: int = 64):
        if pad is not None and pad not in PAD_MODES:
            raise ValueError(f'pad must be one of {PAD_MODES} or None, got {pad!r}')
        self.reader, self.window, self.pad = reader, int(window), pad
        self._buffer = np.empty((self.window + max(1, slack), reader.height, reader.width),
                                np.uint8)
        self._lo = 0  # recording frame of _buffer[0]
        self._held = 0  # frames held: _buffer[:_held]

    def get(self, centre: int) -> np.ndarray:
        """The window of ``centre`` as ``[window, H, W]`` uint8 (a view of the buffer where it is
        contiguous: copy it before the next call if you keep it).

        Raises:
            ValueError: ``centre`` is before the previous one's first frame (windows move forward).
            SpikeFormatError: A read error.
        """
        idx = window_indices(centre, self.window, self.reader.num_frames, self.pad)
        first, stop = int(idx.min()), int(idx.max()) + 1
        if first < self._lo:
            raise ValueError(f'windows must move forward: frame {first} was requested after '
                             f'frame {self._lo}')
        held_stop = self._lo + self._held
        if first >= held_stop:  # no overlap: drop everything, skip the gap unread
            self._lo, self._held = first, 0
        elif stop - self._lo > len(self._buffer):  # full: move the frames still needed forward
            keep = held_stop - first
            self._buffer[:keep] = self._buffer[first - self._lo:self._held]
            self._lo, self._held = first, keep
        read_from = self._lo + self._held
        if stop > read_from:
            at = read_from - self._lo
            self._buffer[at:at + stop - read_from] = self.reader.read(read_from,
                                                                      stop - read_from)
            self._held += stop - read_from
        offset = first - self._lo
        if stop - first == self.window and idx[0] == first and idx[-1] == stop - 1:
            return self._buffer[offset:offset + self.window]
        return self._buffer[idx - self._lo]
