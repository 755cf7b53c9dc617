"""RecordingDataset: streamed, deterministic random clips of unlabelled recordings."""
import numpy as np
import pytest
import torch

from spikeclip.datasets import RecordingDataset
from spikeclip.datasets import recording as recording_module
from spikeclip.fileio import SpikeReader, blind_spot_indices, write_dat, write_npz
from spikeclip.utils.errors import ConfigError, SpikeFormatError


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    spikes = {'a.dat': (rng.random((300, 20, 24)) < 0.3).astype(np.uint8),
              'sub/b.npz': (rng.random((200, 20, 24)) < 0.5).astype(np.uint8)}
    (tmp_path / 'sub').mkdir()
    write_dat(str(tmp_path / 'a.dat'), spikes['a.dat'])
    write_npz(str(tmp_path / 'sub/b.npz'), spikes['sub/b.npz'], 0, 'x')
    return tmp_path, spikes


def make(root, **kwargs):
    kwargs = dict(dict(window=9, context=6, crop_size=8, num_samples=20, height=20, width=24,
                       seed=3), **kwargs)
    return RecordingDataset(data_root=str(root), **kwargs)


def test_items_are_the_recorded_frames_and_deterministic(folder):
    root, spikes = folder
    ds = make(root)
    assert len(ds) == 20
    for i in (0, 7, 19):
        item = ds[i]
        s = item['data_samples']
        name = str(s.spike_path)[len(str(root)) + 1:]
        start, (top, left) = s.start_frame, s.crop_origin
        clip = spikes[name][start:start + 15, top:top + 8, left:left + 8]
        assert torch.equal(s.context_spikes, torch.from_numpy(clip))
        assert torch.equal(item['inputs'], torch.from_numpy(clip[3:12]))
        again = make(root)[i]  # a fresh dataset (another worker): the same item
        assert torch.equal(again['data_samples'].context_spikes, s.context_spikes)
    draws = {make(root).draw(i) for i in range(20)}
    assert len(draws) > 15  # items differ from each other
    assert make(root, seed=4).draw(0) != make(root).draw(0)
    assert {d[0] for d in draws} == {0, 1}  # both recordings are used


def test_frames_part_keeps_windows_apart(folder):
    root, _ = folder
    train = make(root, frames=(0.0, 0.8), num_samples=200)
    val = make(root, frames=(0.8, 1.0), num_samples=200)
    lengths = [300, 200]
    for i in range(200):
        k, start, _, _ = train.draw(i)
        assert start + 15 <= int(0.8 * lengths[k])
        k, start, _, _ = val.draw(i)
        assert start >= int(np.ceil(0.8 * lengths[k])) and start + 15 <= lengths[k]


def test_nothing_is_decoded_whole(folder, monkeypatch):
    root, _ = folder
    reads = []

    class CountingReader(SpikeReader):
        def read(self, start, count):
            reads.append(count)
            return super().read(start, count)

    monkeypatch.setattr(recording_module, 'SpikeReader', CountingReader)
    ds = make(root)
    for i in range(5):
        ds[i]
    assert reads == [15] * 5


def test_blind_spot_items_for_validation(folder):
    root, spikes = folder
    ds = make(root, blind_spot=dict(held_out=2, guard=2, gain=2.0))
    item = ds[4]
    s = item['data_samples']
    name = str(s.spike_path)[len(str(root)) + 1:]
    (top, left) = s.crop_origin
    clip = spikes[name][s.start_frame:s.start_frame + 15, top:top + 8, left:left + 8]
    inputs, held = blind_spot_indices(15, 9, 2, 2)
    assert torch.equal(item['inputs'], torch.from_numpy(clip[inputs]))
    assert torch.allclose(s.gt_img[0], torch.from_numpy(clip[held].mean(0) * 2.0).float())
    with pytest.raises(ConfigError, match='context = held_out'):
        make(root, blind_spot=dict(held_out=2, guard=1))


def test_short_recording_names_the_file(folder):
    root, _ = folder
    with pytest.raises(SpikeFormatError, match=r'b\.npz: 200 frames of 20x24 .*too short for a '
                                               r'clip of 206 frames'):
        make(root, window=200)
    with pytest.raises(SpikeFormatError, match=r'b\.npz.*frames 190-200'):
        make(root, frames=(0.95, 1.0))


def test_corrupt_recordings_name_the_file(folder):
    root, _ = folder
    (root / 'c.dat').write_bytes(b'\x00' * 61)  # not a whole number of 20x24 frames
    with pytest.raises(SpikeFormatError, match=r'c\.dat'):
        make(root)
    (root / 'c.dat').unlink()
    (root / 'd.npz').write_bytes(b'not a zip file')
    with pytest.raises(SpikeFormatError, match=r'd\.npz'):
        make(root)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(ConfigError, match='does not exist'):
        make(tmp_path / 'nope')
    with pytest.raises(ConfigError, match='holds no recordings'):
        make(tmp_path)
