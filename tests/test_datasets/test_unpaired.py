"""Clean images paired with spike samples: a new deterministic draw every epoch."""
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from spikeclip.datasets import EpochIndexSampler, UnpairedImageDataset, pack_item
from spikeclip.registry import DATA_SAMPLERS
from spikeclip.utils.errors import ConfigError


class _Spikes(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        return pack_item(np.zeros((2, 4, 4), np.uint8), idx)


@pytest.fixture
def folder(tmp_path):
    """12 images whose grey level is their index (sorted by name)."""
    for i in range(12):
        Image.fromarray(np.full((6, 6), 10 * i, np.uint8)).save(tmp_path / f'{i:02d}.png')
    return str(tmp_path)


def _drawn(item) -> int:
    return int(round(float(item['data_samples'].hq_img.mean()) * 255 / 10))


def _epoch(loader, sampler, epoch):
    sampler.set_epoch(epoch)
    drawn = {}
    for batch in loader:
        for sample in batch['data_samples']:
            drawn[sample.sample_idx] = int(round(float(sample.hq_img.mean()) * 255 / 10))
    return [drawn[i] for i in sorted(drawn)]


def test_every_image_is_used_and_draws_change_per_epoch(folder):
    data = UnpairedImageDataset(_Spikes(4), folder, size=4)
    sampler = DATA_SAMPLERS.build(dict(type='EpochIndexSampler', dataset=data, shuffle=True,
                                       seed=7))
    assert isinstance(sampler, EpochIndexSampler) and data.seed == 7  # the run's seed
    loader = DataLoader(data, batch_size=2, sampler=sampler, num_workers=1,
                        persistent_workers=True, collate_fn=lambda b: dict(
                            data_samples=[x['data_samples'] for x in b]))
    epochs = [_epoch(loader, sampler, e) for e in range(3)]
    # 4 spike samples, 12 images: each epoch another third of the folder, no image twice.
    assert all(len(set(e)) == 4 for e in epochs)
    assert sorted(sum(epochs, [])) == list(range(12))
    # Persistent workers see the epoch (it travels with the index), and the draw depends on
    # (seed, epoch) only: the same sampler state gives the same pairs.
    assert _epoch(loader, sampler, 1) == epochs[1]
    again = UnpairedImageDataset(_Spikes(4), folder, size=4, seed=7)
    assert [_drawn(again[1 * 4 + i]) for i in range(4)] == epochs[1]
    other = UnpairedImageDataset(_Spikes(4), folder, size=4, seed=8)
    assert [_drawn(other[i]) for i in range(4)] != epochs[0]


def test_fewer_images_than_samples_cycle_evenly(folder, tmp_path):
    data = UnpairedImageDataset(_Spikes(24), folder, size=4, seed=0)
    counts = np.bincount([_drawn(data[i]) for i in range(24)], minlength=12)
    assert counts.tolist() == [2] * 12
    assert [_drawn(data[i]) for i in range(3)] == [_drawn(data[i]) for i in range(3)]
    assert torch.equal(data[5]['inputs'], data[24 + 5]['inputs'])  # same spike sample


def test_epoch_sampler_needs_a_dataset_that_decodes_epochs():
    with pytest.raises(ConfigError, match='EpochIndexSampler needs a dataset'):
        EpochIndexSampler(_Spikes(3))


def test_splits_of_the_clean_folder_are_disjoint_stable_and_cover_it(tmp_path):
    from spikeclip.datasets.unpaired import list_images, split_images
    for i in range(60):
        Image.fromarray(np.full((4, 4), i, np.uint8)).save(tmp_path / f'{i:02d}.png')
    files = list_images(str(tmp_path))
    parts = {s: split_images(files, str(tmp_path), s) for s in ('train', 'val', 'test')}
    assert sum(len(p) for p in parts.values()) == 60
    assert set().union(*map(set, parts.values())) == set(files)
    assert not set(parts['train']) & set(parts['test'])
    assert not set(parts['val']) & set(parts['test'])
    assert 36 <= len(parts['train']) <= 56 and parts['val'] and parts['test']
    # a file keeps its split when others are added
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / 'new.png')
    again = split_images(list_images(str(tmp_path)), str(tmp_path), 'test')
    assert set(parts['test']) <= set(again)
    with pytest.raises(ConfigError, match='holds none of'):
        split_images(files[:1], str(tmp_path), 'val', (1.0, 0.0, 0.0))
    with pytest.raises(ConfigError, match='split must be'):
        split_images(files, str(tmp_path), 'trainval')


def test_a_dataset_split_uses_only_its_share(folder):
    from spikeclip.datasets.unpaired import list_images, split_images
    test = UnpairedImageDataset(_Spikes(3), folder, size=6, split='test',
                                split_fractions=(0.5, 0.0, 0.5))
    assert test.images == split_images(list_images(folder), folder, 'test', (0.5, 0.0, 0.5))
    assert len(test.images) < 12


class _Classed(_Spikes):
    metainfo = dict(classes=('cat', 'dog', 'bird', 'fish', 'car'))


def test_a_folder_of_the_recordings_source_pictures_is_warned_about(tmp_path):
    from mmengine.logging import MMLogger
    root = tmp_path / '101_ObjectCategories'
    for c in ('cat', 'dog', 'bird', 'fish'):
        (root / c).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / c / 'image_0001.jpg')
    logger = MMLogger.get_current_instance()
    seen = []
    handler = type('H', (logging.Handler,), {'emit': lambda self, r: seen.append(r.getMessage())})()
    logger.addHandler(handler)
    try:
        UnpairedImageDataset(_Classed(2), str(tmp_path), size=4)
        assert any('source pictures' in m for m in seen)
        seen.clear()
        UnpairedImageDataset(_Spikes(2), str(tmp_path), size=4)  # no classes: nothing to match
        assert not any('source pictures' in m for m in seen)
    finally:
        logger.removeHandler(handler)
