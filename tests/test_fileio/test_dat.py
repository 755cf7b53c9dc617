"""The .dat format: bit order, row flip, frame ranges, and clear errors."""
import numpy as np
import pytest

from spikeclip.fileio import dat_num_frames, frame_bytes, read_dat, read_spikes, write_dat
from spikeclip.utils.errors import SpikeFormatError


def test_hand_made_file_pins_bit_order_and_row_flip(tmp_path):
    # 2 frames of 2x4 pixels = 1 byte per frame. Bit k of a byte is pixel k of the stored rows
    # (least-significant bit first); the stored rows are bottom-up.
    path = tmp_path / 'hand.dat'
    path.write_bytes(bytes([0b00000001, 0b10100000]))
    spikes = read_dat(str(path), height=2, width=4)
    # frame 0: stored pixel 0 = bottom row (row 1 on screen), column 0
    np.testing.assert_array_equal(spikes[0], [[0, 0, 0, 0], [1, 0, 0, 0]])
    # frame 1: stored pixels 5 and 7 = stored row 1 (top on screen), columns 1 and 3
    np.testing.assert_array_equal(spikes[1], [[0, 1, 0, 1], [0, 0, 0, 0]])
    assert read_dat(str(path), 2, 4, flip=False)[0, 0, 0] == 1
    write_dat(str(tmp_path / 'again.dat'), spikes)
    assert (tmp_path / 'again.dat').read_bytes() == path.read_bytes()


@pytest.mark.parametrize('shape', [(3, 5, 7), (4, 250, 400), (2, 1, 1), (5, 13, 3)])
def test_round_trip_and_frame_ranges(tmp_path, shape):
    rng = np.random.default_rng(0)
    spikes = (rng.random(shape) < 0.3).astype(np.uint8)
    path = str(tmp_path / 'x.dat')
    write_dat(path, spikes)
    t, h, w = shape
    assert dat_num_frames(path, h, w) == t
    assert (tmp_path / 'x.dat').stat().st_size == t * frame_bytes(h, w)
    np.testing.assert_array_equal(read_dat(path, h, w), spikes)
    np.testing.assert_array_equal(read_dat(path, h, w, start=1, num_frames=t - 1), spikes[1:])
    np.testing.assert_array_equal(read_spikes(path, h, w).spikes, spikes)


def test_decoding_matches_a_per_frame_loop(tmp_path):
    rng = np.random.default_rng(1)
    spikes = (rng.random((6, 25, 40)) < 0.5).astype(np.uint8)
    path = tmp_path / 'y.dat'
    write_dat(str(path), spikes)
    raw = path.read_bytes()
    fb = frame_bytes(25, 40)
    for t in range(6):  # the straightforward decoder: one frame, one pixel at a time
        frame = np.zeros((25, 40), np.uint8)
        for k in range(25 * 40):
            bit = (raw[t * fb + k // 8] >> (k % 8)) & 1
            frame[24 - k // 40, k % 40] = bit
        np.testing.assert_array_equal(frame, spikes[t])


def test_bad_files_are_named_with_what_is_wrong(tmp_path):
    empty = tmp_path / 'empty.dat'
    empty.write_bytes(b'')
    with pytest.raises(SpikeFormatError, match=r'empty\.dat: the file is empty'):
        read_dat(str(empty))
    truncated = tmp_path / 'cut.dat'
    truncated.write_bytes(bytes(12500 * 2 + 100))
    with pytest.raises(SpikeFormatError, match=r'cut\.dat: 25100 bytes is not a whole number '
                                               r'of 250x400 frames \(12500 bytes per frame'):
        read_dat(str(truncated))
    square = tmp_path / 'square.dat'
    write_dat(str(square), np.zeros((3, 250, 250), np.uint8))
    with pytest.raises(SpikeFormatError, match='sizes that would fit: .*250x250'):
        read_dat(str(square))  # the common 250x400 does not fit
    with pytest.raises(SpikeFormatError, match=r'frames \[2, 5\) requested but the file holds 3'):
        read_dat(str(square), 250, 250, start=2, num_frames=3)
    with pytest.raises(SpikeFormatError, match='no such .dat file'):
        read_dat(str(tmp_path / 'missing.dat'))
    with pytest.raises(SpikeFormatError, match='binary'):
        write_dat(str(tmp_path / 'bad.dat'), np.full((1, 2, 2), 3))
    assert not (tmp_path / 'bad.dat').exists()
