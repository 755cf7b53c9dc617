import os
from typing import Optional

from .dat import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    MAX_SIDE,
    check_frame_size,
    check_regular_file,
    check_spike_array,
    dat_num_frames,
    decode_frames,
    encode_frames,
    frame_bytes,
    read_dat,
    write_dat,
)
from .npz import SpikeRecord, npz_num_frames, read_npz, write_npz
from .sensors import SENSORS, Sensor, get_sensor, image_size
from .stream import (
    PAD_MODES,
    SpikeReader,
    WindowStream,
    blind_spot_indices,
    valid_centres,
    window_indices,
)


def read_spikes(path: str,
                height: int = DEFAULT_HEIGHT,
                width: int = DEFAULT_WIDTH,
                sensor: Optional[str] = None) -> SpikeRecord:
    """Read a ``.dat`` (label-less) or ``.npz`` recording as a :class:`SpikeRecord`
    (``sensor``: a ``.dat`` preset of :mod:`~spikeclip.fileio.sensors`).

    Raises:
        SpikeFormatError: Unknown extension or a malformed file.
    """
    from ..utils.errors import SpikeFormatError
    ext = os.path.splitext(path)[1].lower()
    if ext == '.dat':
        return SpikeRecord(read_dat(path, height, width, sensor=sensor), None, None)
    if ext == '.npz':
        return read_npz(path, require_label=False)
    raise SpikeFormatError(f'{path}: unknown spike file type {ext!r}; expected .dat or .npz')


def window_bounds(num_frames: int, window: Optional[int], center: Optional[int] = None):
    """``(start, stop)`` of the ``window``-frame slice of a recording centred on frame
    ``center`` (default: the middle), shifted to stay inside ``[0, num_frames)``; what a dataset,
    the data preprocessor and single-image inference read of a recording.

    Not to be confused with :func:`spikeclip.models.encoders.tfp.central_frames`, which slices
    the middle frames out of a window tensor with TFP's own rounding (``(T - window) // 2``).
    """
    if window is None or window >= num_frames:
        return 0, num_frames
    center = num_frames // 2 if center is None else center
    start = min(max(center - window // 2, 0), num_frames - window)
    return start, start + window


__all__ = [
    'DEFAULT_HEIGHT', 'DEFAULT_WIDTH', 'MAX_SIDE', 'PAD_MODES', 'SENSORS', 'Sensor',
    'SpikeReader', 'SpikeRecord', 'WindowStream', 'blind_spot_indices', 'check_frame_size',
    'check_regular_file', 'check_spike_array', 'dat_num_frames', 'decode_frames',
    'encode_frames', 'frame_bytes', 'get_sensor', 'image_size', 'npz_num_frames', 'read_dat',
    'read_npz', 'read_spikes', 'valid_centres', 'window_bounds', 'window_indices', 'write_dat',
    'write_npz'
]
