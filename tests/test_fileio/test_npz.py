import numpy as np
import pytest

from spikeclip.fileio import read_npz, write_npz
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
