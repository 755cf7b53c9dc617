"""Streaming reads: windows of increasing centre frames, read once, mirrored at the ends."""
import numpy as np
import pytest

from spikeclip.fileio import (
    SpikeReader,
    WindowStream,
    valid_centres,
    window_bounds,
    window_indices,
    write_dat,
    write_npz,
)
from spikeclip.utils.errors import SpikeFormatError


@pytest.fixture(params=['dat', 'npz'])
def recording(tmp_path, request):
    rng = np.random.default_rng(0)
    spikes = (rng.random((60, 5, 7)) < 0.4).astype(np.uint8)
    path = str(tmp_path / f'r.{request.param}')
    if request.param == 'dat':
        write_dat(path, spikes)
    else:
        write_npz(path, spikes, 0, 'x')
    return path, spikes


class CountingReader(SpikeReader):
    """Counts the frames read from the file."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.frames_read = 0

    def read(self, start, count):
        self.frames_read += count
        return super().read(start, count)


@pytest.mark.parametrize('slack', [1, 4, 64])  # 1 and 4: the buffer fills and moves often
@pytest.mark.parametrize('step', [1, 3, 11, 25])
def test_windows_match_the_single_window_convention_and_read_each_frame_once(recording, step,
                                                                              slack):
    path, spikes = recording
    window = 11
    with CountingReader(path, 5, 7) as reader:
        assert reader.shape == spikes.shape
        stream = WindowStream(reader, window, slack=slack)
        centres = valid_centres(60, window)
        assert (centres.start, centres.stop) == (5, 55)
        for c in centres[::step]:
            start, stop = window_bounds(60, window, c)  # what single-image inference reads
            np.testing.assert_array_equal(stream.get(c), spikes[start:stop])
        needed = {f for c in centres[::step] for f in range(c - 5, c + 6)}
        assert reader.frames_read == len(needed)  # overlapping frames are not read twice


def test_reflect_padding_mirrors_the_recording_at_its_ends(recording):
    path, spikes = recording
    np.testing.assert_array_equal(window_indices(0, 5, 60, 'reflect'), [2, 1, 0, 1, 2])
    np.testing.assert_array_equal(window_indices(59, 5, 60, 'reflect'), [57, 58, 59, 58, 57])
    assert valid_centres(60, 5, 'reflect') == range(60)
    with SpikeReader(path, 5, 7) as reader:
        stream = WindowStream(reader, 5, pad='reflect', slack=2)
        for c in range(60):
            np.testing.assert_array_equal(stream.get(c), spikes[window_indices(c, 5, 60,
                                                                               'reflect')])
    with pytest.raises(ValueError, match='leaves the 60 frames'):
        window_indices(1, 5, 60)


def test_windows_must_move_forward(recording):
    path, _ = recording
    with SpikeReader(path, 5, 7) as reader:
        stream = WindowStream(reader, 5)
        stream.get(30)
        with pytest.raises(ValueError, match='move forward'):
            stream.get(10)


def test_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.dat'
    bad.write_bytes(b'\x00' * 7)
    with pytest.raises(SpikeFormatError, match='bad.dat: 7 bytes is not a whole number'):
        SpikeReader(str(bad), 5, 7)
    with pytest.raises(SpikeFormatError, match='unknown spike file type'):
        SpikeReader(str(tmp_path / 'x.avi'))
    good = str(tmp_path / 'good.dat')
    write_dat(good, np.zeros((4, 5, 7), np.uint8))
    with SpikeReader(good, 5, 7) as reader, pytest.raises(SpikeFormatError,
                                                          match=r'frames \[2, 6\) requested'):
        reader.read(2, 4)
