import json
import os

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from PIL import Image

from spikeclip.datasets import PairedSpikeDataset
from spikeclip.fileio import write_dat
from spikeclip.registry import DATASETS
from spikeclip.utils.errors import ConfigError, SpikeFormatError

T, H, W = 10, 8, 12


def make_pair(root, name, value=0.5, frames=T, size=(H, W)):
    os.makedirs(root / 'spike', exist_ok=True)
    os.makedirs(root / 'gt', exist_ok=True)
    spikes = np.zeros((frames, H, W), np.uint8)
    spikes[np.arange(frames), 0, np.arange(frames) % W] = 1  # frame t fires pixel (0, t % W)
    write_dat(str(root / 'spike' / f'{name}.dat'), spikes)
    Image.fromarray(np.full(size, round(value * 255), np.uint8)).save(root / 'gt' / f'{name}.png')


@pytest.fixture
def root(tmp_path):
    make_pair(tmp_path, 'b', 0.2)
    make_pair(tmp_path, 'a', 0.6)
    return tmp_path


def test_items(root):
    ds = DATASETS.build(dict(type='PairedSpikeDataset', data_root=str(root), height=H, width=W))
    assert len(ds) == 2 and ds.metainfo['classes'] == ()
    item = ds[0]
    spikes, sample = item['inputs'], item['data_samples']
    assert spikes.dtype == torch.uint8 and spikes.shape == (T, H, W)
    assert sample.spike_path.endswith('a.dat') and sample.img_path.endswith('a.png')
    assert sample.gt_img.shape == (1, H, W) and sample.gt_img.dtype == torch.float32
    assert torch.allclose(sample.gt_img, torch.tensor(153 / 255))
    assert sample.ori_shape == (H, W) and sample.sample_idx == 0 and 'gt_label' not in sample
    assert len(pseudo_collate([ds[0], ds[1]])['inputs']) == 2


def test_window_reads_only_its_frames(root, monkeypatch):
    import spikeclip.datasets.paired as paired
    calls = []
    real = paired.read_dat

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(paired, 'read_dat', spy)
    ds = PairedSpikeDataset(str(root), H, W, window=4, center=3, crop_size=6)
    spikes = ds[0]['inputs']
    assert calls == [dict(start=1, num_frames=4, sensor=None)]
    assert spikes.shape == (4, 6, 6)
    full = PairedSpikeDataset(str(root), H, W)[0]['inputs']
    assert torch.equal(spikes, full[1:5, 1:7, 3:9])
    assert ds[0]['data_samples'].gt_img.shape == (1, 6, 6)


def test_optional_classes(root):
    (root / 'classes.txt').write_text('cat\ndog\n')
    (root / 'labels.json').write_text(json.dumps({'a': 'dog', 'b': 'cat'}))
    ds = PairedSpikeDataset(str(root), H, W)
    assert ds.metainfo['classes'] == ('cat', 'dog')
    assert int(ds[0]['data_samples'].gt_label) == 1 and ds[0]['data_samples'].label_name == 'dog'
    (root / 'labels.json').write_text(json.dumps({'a': 'cow'}))
    with pytest.raises(ConfigError, match=r"classes \['cow'\] are not in .*classes.txt"):
        PairedSpikeDataset(str(root), H, W)
    os.remove(root / 'labels.json')
    with pytest.raises(ConfigError, match='labels.json .* is missing'):
        PairedSpikeDataset(str(root), H, W)


def test_errors(root, tmp_path):
    with pytest.raises(SpikeFormatError, match=r'nope.spike: no such folder'):
        PairedSpikeDataset(str(tmp_path / 'nope'), H, W)
    make_pair(root, 'c', size=(H, W + 1))
    with pytest.raises(SpikeFormatError, match=r'c\.png is 8x13 but its spikes .*c\.dat are read '
                                               r'as 8x12'):
        PairedSpikeDataset(str(root), H, W)
    os.remove(root / 'gt' / 'c.png')
    os.remove(root / 'spike' / 'b.dat')
    with pytest.raises(SpikeFormatError, match=r'spike/c\.dat \(no gt/c\.png\), '
                                               r'gt/b\.png \(no spike/b\.dat\)'):
        PairedSpikeDataset(str(root), H, W)
    os.remove(root / 'spike' / 'c.dat')
    os.remove(root / 'gt' / 'b.png')
    with pytest.raises(SpikeFormatError, match=r'a\.dat: .* not a whole number of 8x13 frames'):
        PairedSpikeDataset(str(root), H, W + 1)
    with pytest.raises(SpikeFormatError, match=r'a\.dat: window=11 frames requested .* 10'):
        PairedSpikeDataset(str(root), H, W, window=11)
    with pytest.raises(ConfigError, match='crop_size=9'):
        PairedSpikeDataset(str(root), H, W, crop_size=9)
