import tracemalloc

import numpy as np
import pytest

from spikeclip.fileio import SpikeReader, read_npz, write_npz
from spikeclip.utils.errors import SpikeFormatError


def test_round_trip(tmp_path):
    spikes = (np.random.default_rng(0).random((3, 4, 5)) > 0.5).astype(np.uint8)
    write_npz(str(tmp_path / 'a.npz'), spikes, 7, 'cat')
    record = read_npz(str(tmp_path / 'a.npz'))
    assert np.array_equal(record.spikes, spikes) and record.label == 7
    assert record.label_name == 'cat'


def test_integral_float_labels_are_accepted(tmp_path):
    spikes = np.zeros((2, 3, 3), np.uint8)
    np.savez(tmp_path / 'f.npz', spk=spikes, label=np.float64(3.0))
    assert read_npz(str(tmp_path / 'f.npz')).label == 3
    np.savez(tmp_path / 'g.npz', spk=spikes, label=np.float64(3.5))
    with pytest.raises(SpikeFormatError, match='g.npz: "label" must be one integer'):
        read_npz(str(tmp_path / 'g.npz'))


def test_a_fortran_ordered_npz_reads_the_same_windows(tmp_path):
    spikes = (np.random.default_rng(1).random((30, 5, 7)) < 0.4).astype(np.uint8)
    np.savez_compressed(tmp_path / 'f.npz', spk=np.asfortranarray(spikes), label=np.int64(1))
    for start, count in ((0, 30), (7, 11), (29, 1)):
        window = read_npz(str(tmp_path / 'f.npz'), start=start, num_frames=count).spikes
        assert np.array_equal(window, spikes[start:start + count])
    with pytest.raises(SpikeFormatError, match='f.npz: "spk" is stored in Fortran order, which '
                       'cannot be read frame by frame; save it in C order'):
        SpikeReader(str(tmp_path / 'f.npz'))


def test_a_fortran_ordered_npz_is_streamed_not_read_whole(tmp_path):
    # 125 MB of spikes in a file of about 120 kB: a window costs its own size, not the array's
    np.savez_compressed(tmp_path / 'f.npz', spk=np.zeros((250, 500, 1000), np.uint8, order='F'))
    tracemalloc.start()
    try:
        window = read_npz(str(tmp_path / 'f.npz'), require_label=False, start=100,
                          num_frames=41).spikes
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert window.shape == (41, 500, 1000) and not window.any()
    assert peak < 80 * 2**20, peak  # the window is 20 MB
