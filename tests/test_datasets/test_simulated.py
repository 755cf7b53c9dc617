import os

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from PIL import Image
from torch.utils.data import DataLoader

from spikeclip.datasets import DEFAULT_CLASSES, SimulatedSpikeDataset
from spikeclip.datasets.image_sources import ImageReadError
from spikeclip.registry import DATASETS
from spikeclip.utils.errors import ConfigError

SMALL = dict(num_samples=6, crop_size=16, num_frames=20)


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def folder(tmp_path):
    """Two classes; the images are dark on their left 70 % and bright on the right 30 %."""
    img = np.zeros((40, 100), np.uint8)
    img[:, 70:] = 200
    save(tmp_path / 'imgs' / 'bright' / 'a.png', img)
    save(tmp_path / 'imgs' / 'bright' / 'b.bmp', img)
    save(tmp_path / 'imgs' / 'dim' / 'c.png', img // 2)
    return str(tmp_path / 'imgs')


def test_item_layout_default_set():
    ds = DATASETS.build(dict(type='SimulatedSpikeDataset', split='test', **SMALL))
    assert ds.metainfo['classes'] == DEFAULT_CLASSES and len(ds) == 6
    item = ds[1]
    spikes, sample = item['inputs'], item['data_samples']
    assert spikes.dtype == torch.uint8 and spikes.shape == (20, 16, 16)
    assert set(spikes.unique().tolist()) <= {0, 1}
    assert sample.gt_img.dtype == torch.float32 and sample.gt_img.shape == (1, 16, 16)
    assert 0 <= sample.gt_img.min() and sample.gt_img.max() <= 1
    assert int(sample.gt_label) == 1 and sample.label_name == DEFAULT_CLASSES[1]
    assert sample.img_path == 'skimage.data.camera'
    assert sample.ori_shape == (16, 16) and sample.sample_idx == 1
    batch = pseudo_collate([ds[0], ds[1]])
    assert len(batch['inputs']) == 2 and batch['data_samples'][1].label_name == 'cameraman'
    with pytest.raises(IndexError):
        ds[-1]
    # epoch indices (EpochIndexSampler): item 1 of epoch 1 is a new window of the same image
    again = ds[6 + 1]
    assert again['data_samples'].label_name == DEFAULT_CLASSES[1]
    assert not torch.equal(again['inputs'], item['inputs'])


def test_deterministic_per_seed_and_index():
    a = SimulatedSpikeDataset(**SMALL, seed=3)
    b = SimulatedSpikeDataset(**SMALL, seed=3)
    c = SimulatedSpikeDataset(**SMALL, seed=4)
    for i in (0, 5):
        assert torch.equal(a[i]['inputs'], b[i]['inputs'])
        assert torch.equal(a[i]['data_samples'].gt_img, b[i]['data_samples'].gt_img)
        assert not torch.equal(a[i]['inputs'], c[i]['inputs'])
    assert torch.equal(a[2]['inputs'], a[2]['inputs'])  # again: no state carried over
    # worker processes give the same samples as the main process
    loader = DataLoader(a, batch_size=None, num_workers=2, collate_fn=lambda x: x)
    for i, item in enumerate(loader):
        assert torch.equal(item['inputs'], a[i]['inputs'])


def test_train_and_test_crops_disjoint(folder):
    common = dict(images=folder, crop_size=16, num_frames=12, num_samples=30, short_side=None,
                  motion=dict(static_prob=0.0, max_speed=2.0), objects=None)
    train = SimulatedSpikeDataset(split='train', **common)
    test = SimulatedSpikeDataset(split='test', **common)
    moved = 0
    for i in range(30):
        # train crops see only the dark part, test crops only the bright part, even moving
        assert train[i]['data_samples'].gt_img.max() == 0
        assert test[i]['data_samples'].gt_img.min() > 0.01
        moved += test[i]['data_samples'].speed > 0
    assert moved > 10


def test_reference_brightness_follows_spike_rate():
    # gain <= nominal gain, no noise, static crops: rate = gain * scene = nominal_gain * gt
    still = dict(motion=None, objects=None, noise=None, nominal_gain=0.5)
    ds = SimulatedSpikeDataset(num_samples=4, crop_size=16, num_frames=400,
                               light=dict(gain=(0.2, 0.5)), seed=1, **still)
    for i in range(4):
        item = ds[i]
        rate = item['inputs'].float().mean(0)
        gt = item['data_samples'].gt_img[0]
        assert (rate - 0.5 * gt).abs().max() <= 1 / 400 + 1e-5
    # the light level reaches the reference: same crop, darker reference at a lower gain
    dim = SimulatedSpikeDataset(num_samples=1, crop_size=16, light=dict(gain=0.25), seed=1,
                                **still)[0]['data_samples'].gt_img
    bright = SimulatedSpikeDataset(num_samples=1, crop_size=16, light=dict(gain=0.5), seed=1,
                                   **still)[0]['data_samples'].gt_img
    assert torch.allclose(2 * dim, bright, atol=1e-6)


def test_image_folder_classes_and_bad_images(folder, tmp_path):
    ds = SimulatedSpikeDataset(images=folder, **SMALL)
    assert ds.metainfo['classes'] == ('bright', 'dim')
    assert [ds[i]['data_samples'].label_name for i in range(3)] == ['bright', 'bright', 'dim']
    bad = tmp_path / 'imgs' / 'dim' / 'broken.png'
    bad.write_bytes(b'not a png')
    with pytest.warns(UserWarning, match='broken.png: not a readable image'):
        ds = SimulatedSpikeDataset(images=folder, **SMALL)
    assert len(ds.images) == 3
    with pytest.raises(ImageReadError, match='broken.png'):
        SimulatedSpikeDataset(images=folder, on_bad_image='error', **SMALL)


def test_folder_without_classes(tmp_path):
    save(tmp_path / 'x.png', np.full((30, 30), 128, np.uint8))
    ds = SimulatedSpikeDataset(images=str(tmp_path), **SMALL)
    sample = ds[0]['data_samples']
    assert ds.metainfo['classes'] == () and 'gt_label' not in sample
    assert sample.label_name is None


def test_errors(tmp_path, folder):
    with pytest.raises(ConfigError, match='nope: no such image folder'):
        SimulatedSpikeDataset(images=str(tmp_path / 'nope'))
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    (tmp_path / 'empty' / 'notes.txt').write_text('x')
    with pytest.raises(ConfigError, match='empty: no images found'):
        SimulatedSpikeDataset(images=str(tmp_path / 'empty'))
    only_bad = tmp_path / 'bad'
    only_bad.mkdir()
    (only_bad / 'a.png').write_bytes(b'xx')
    with pytest.warns(UserWarning), pytest.raises(ConfigError, match='none of its 1 images'):
        SimulatedSpikeDataset(images=str(only_bad))
    save(tmp_path / 'imgs' / 'top.png', np.zeros((30, 30), np.uint8))
    with pytest.raises(ConfigError, match='both at its top level'):
        SimulatedSpikeDataset(images=folder)
    with pytest.raises(ConfigError, match=r'its test part is 128x77 .* crop_size=120 \(needs 85'):
        SimulatedSpikeDataset(split='test', crop_size=120)
    with pytest.raises(ConfigError, match=r"noise: unknown options \['shot'\]"):
        SimulatedSpikeDataset(noise=dict(shot=1.0))
    with pytest.raises(ConfigError, match='light levels must be positive'):
        SimulatedSpikeDataset(light=dict(gain=(0.0, 0.5)))
    with pytest.raises(ConfigError, match='unknown image source'):
        SimulatedSpikeDataset(images=[3])
    with pytest.raises(ConfigError, match='on_bad_image'):
        SimulatedSpikeDataset(on_bad_image='ignore')


def test_packaged_photographs_keep_their_test_scenes_out_of_training():
    from spikeclip.datasets import HELD_OUT_PHOTOS, build_image_pool
    from spikeclip.datasets.image_sources import VAL_PHOTOS
    train = build_image_pool('packaged', 'train')
    test = build_image_pool('packaged', 'test')
    names = {s.name for s in train.images}
    assert len(train.images) >= 15 and not names & set(HELD_OUT_PHOTOS)
    assert {s.name for s in test.images} <= set(HELD_OUT_PHOTOS) and len(test.images) >= 2
    assert train.classes == () and all(s.label is None for s in train.images)
    val = {s.name for s in build_image_pool('packaged', 'val').images}
    assert val == set(VAL_PHOTOS) and not val & names and not val & set(HELD_OUT_PHOTOS)
    # dead leaves: different images for train and test, same ones on every call
    a = build_image_pool(dict(type='dead_leaves', num_images=2, size=64), 'train')
    b = build_image_pool(dict(type='dead_leaves', num_images=2, size=64), 'test')
    c = build_image_pool(dict(type='dead_leaves', num_images=2, size=64), 'train')
    v = build_image_pool(dict(type='dead_leaves', num_images=2, size=64), 'val')
    assert not np.array_equal(a.images[0].image, b.images[0].image)
    assert not np.array_equal(v.images[0].image, a.images[0].image)
    assert not np.array_equal(v.images[0].image, b.images[0].image)
    assert np.array_equal(a.images[0].image, c.images[0].image)


@pytest.mark.parametrize('config', ['configs/coarse_demo.py', 'configs/prompt_demo.py',
                                    'configs/refine_demo.py', 'configs/pipeline_demo.py',
                                    'configs/coarse_real.py', 'configs/refine_real.py'])
def test_recipes_select_on_a_split_they_do_not_report(config):
    from spikeclip.engine import load_config
    from spikeclip.testing import REPO_ROOT
    cfg = load_config(os.path.join(REPO_ROOT, config))
    val, test = cfg.val_dataloader.dataset, cfg.test_dataloader.dataset
    assert val.split == 'val' and test.split == 'test'
    assert val.seed != test.seed


def test_val_and_test_windows_come_from_disjoint_pixels():
    common = dict(num_samples=4, crop_size=16, num_frames=5)
    train, val, test = (SimulatedSpikeDataset(split=s, **common) for s in ('train', 'val', 'test'))
    for k in range(len(val.regions)):
        assert not np.shares_memory(val.regions[k], test.regions[k])
        assert not np.shares_memory(val.regions[k], train.regions[k])
    assert not torch.equal(val[0]['inputs'], test[0]['inputs'])


def test_mixed_sources_keep_the_classes_of_the_classed_one():
    ds = SimulatedSpikeDataset(images=['default', dict(type='dead_leaves', num_images=3,
                                                       size=96)],
                               **dict(SMALL, num_samples=15))
    assert ds.metainfo['classes'] == DEFAULT_CLASSES and len(ds.images) == 15
    assert ds[0]['data_samples'].label_name == DEFAULT_CLASSES[0]
    leaves = ds[12]['data_samples']  # image 12 is the first dead-leaves image
    assert leaves.label_name is None and 'gt_label' not in leaves
    with pytest.raises(ConfigError, match='two image sources have classes'):
        SimulatedSpikeDataset(images=['default', 'default'], **SMALL)


def test_realistic_windows_move_and_vary_in_light():
    ds = SimulatedSpikeDataset(images='packaged', num_samples=24, crop_size=32, num_frames=41,
                               seed=2)
    infos = [ds[i]['data_samples'] for i in range(24)]
    rates = [s.mean_rate for s in infos]
    assert min(rates) < 0.12 and max(rates) > 0.25  # a decade of light levels
    assert sum(s.speed > 0 for s in infos) >= 12 and max(s.speed for s in infos) > 0.2
    assert sum(s.objects > 0 for s in infos) >= 3
    assert all(s.photons_per_frame is not None for s in infos)  # shot noise on by default
