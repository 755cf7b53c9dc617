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
    train, val, test = (split_region(wide, s) for s in ('train', 'val', 'test'))
    # the held-out 15 columns are cut in two along their longer side (the 20 rows)
    assert train.shape == (20, 35) and val.shape == (10, 15) and test.shape == (10, 15)
    assert np.array_equal(np.concatenate([train, np.concatenate([val, test])], axis=1), wide)
    tall = wide.T
    train, val, test = (split_region(tall, s) for s in ('train', 'val', 'test'))
    assert train.shape == (35, 20) and val.shape == (15, 10) == test.shape
    parts = [set(p.ravel()) for p in (train, val, test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert set().union(*parts) == set(tall.ravel())
    with pytest.raises(ConfigError, match='split'):
        split_region(wide, 'trainval')

