import numpy as np
import pytest

from spikeclip.datasets import DEFAULT_CLASSES, load_class_names, load_default_images, split_region
from spikeclip.utils.errors import ConfigError


def test_default_images_load_offline_as_grey():
    images = load_default_images()
    assert 8 <= len(images) <= 12
    assert tuple(name for name, _ in images) == DEFAULT_CLASSES
    for name, img in images:
        assert img.dtype == np.float32 and img.ndim == 2, name
        assert min(img.shape) == 256, name
        assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.02, name
    assert load_default_images()[0][1] is images[0][1]  # cached, loaded once per process
    assert not images[0][1].flags.writeable


def test_packaged_class_list_matches():
    assert load_class_names('demo') == DEFAULT_CLASSES


def test_split_regions_are_disjoint_and_cover_the_image():
    wide = np.arange(20 * 50, dtype=np.float32).reshape(20, 50)
    train, test = split_region(wide, 'train'), split_region(wide, 'test')
    assert train.shape == (20, 35) and test.shape == (20, 15)
    assert np.array_equal(np.concatenate([train, test], axis=1), wide)
    tall = wide.T
    train, test = split_region(tall, 'train'), split_region(tall, 'test')
    assert train.shape == (35, 20) and test.shape == (15, 20)  # cut across the longer side
    assert not set(train.ravel()) & set(test.ravel())
    with pytest.raises(ConfigError, match='split'):
        split_region(wide, 'val')

