"""Adds unpaired clean images to a spike dataset (stage 2's high-quality set)."""
import hashlib
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from PIL import Image
from torch.utils.data import Dataset

from ..registry import DATASETS
from ..utils.errors import ConfigError
from ..utils.image import IMAGE_EXTENSIONS, read_grey


def list_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursive, sorted).

    Raises:
        ConfigError: The folder is missing or holds no images.
    """
    if not osp.isdir(folder):
        raise ConfigError(f'image folder {folder!r} does not exist')
    files = sorted(
        osp.join(root, f) for root, _, names in os.walk(folder) for f in names
        if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ConfigError(f'image folder {folder!r} holds no images '
                          f'({", ".join(IMAGE_EXTENSIONS)})')
    return files


SPLITS = ('train', 'val', 'test')


def split_images(files: List[str], folder: str, split: str,
                 fractions: Tuple[float, float, float] = (0.8, 0.1, 0.1)) -> List[str]:
    """The files of ``split``: each file's share is fixed by a hash of its path relative to
    ``folder``, so the splits are disjoint, reproducible, and a file keeps its split when others
    are added or removed.

    Raises:
        ConfigError: An unknown split, bad fractions, or a split that gets no file.
    """
    if split not in SPLITS:
        raise ConfigError(f'split must be "train", "val" or "test", got {split!r}')
    if len(fractions) != 3 or min(fractions) < 0 or not sum(fractions) > 0:
        raise ConfigError(f'split_fractions must be three non-negative shares (train, val, '
                          f'test), got {fractions!r}')
    bounds = np.cumsum(fractions) / sum(fractions)
    k = SPLITS.index(split)
    low, high = (bounds[k - 1] if k else 0.0), bounds[k]
    chosen = []
    for f in files:
        rel = osp.relpath(f, folder).replace(os.sep, '/')
        u = int(hashlib.sha1(rel.encode()).hexdigest()[:12], 16) / 16 ** 12  # uniform in [0, 1)
        if low <= u < high:
            chosen.append(f)
    if not chosen:
        raise ConfigError(f'image folder {folder!r}: its {split} share ({fractions}) holds none of '
                          f'its {len(files)} images; add images or change split_fractions')
    return chosen


def _warn_if_source_pictures(folder: str, classes: Optional[Sequence[str]]) -> None:
    """Warn when ``folder`` has subfolders named after most of ``classes`` (Caltech-101's
    layout: the source pictures of the U-CALTECH recordings, test scenes included)."""
    if not classes or len(classes) < 4:
        return
    names = set()
    for root, dirs, _ in os.walk(folder):
        names.update(d.lower() for d in dirs)
        if osp.relpath(root, folder).count(os.sep) >= 1:  # two levels are enough
            dirs[:] = []
    wanted = {str(c).lower() for c in classes}
    shared = len(wanted & names)
    if shared >= len(wanted) / 2:
        print_log(f'{folder}: its subfolders are named after {shared} of the dataset\'s '
                  f'{len(wanted)} classes, so it looks like the source pictures of the recordings '
                  '(Caltech-101 / CIFAR images are what U-CALTECH / U-CIFAR were recorded from, '
                  'test recordings included): the high-quality side would show the test scenes '
                  'themselves. Use clean photographs from another source (docs/clip.md).',
                  logger='current', level=logging.WARNING)


@DATASETS.register_module()
class UnpairedImageDataset(Dataset):
    """A spike dataset whose samples also carry an unrelated clean image ``hq_img``.

    Stage 2 learns high/low-quality prompts from clean images against stage-1 output; data
    without reference images (U-CALTECH, U-CIFAR) take them from any folder of photographs.

    Which image goes with which sample is drawn anew every epoch, deterministically from the
    seed: sample ``i`` of epoch ``e`` takes position ``p = e * len(self) + i`` of an endless
    sequence of shuffled passes over the folder (pass ``k`` is the ``(seed, k)`` permutation).
    So every image is used, each as often as the others, and a folder larger than the spike set
    shows its next part each epoch. The epoch comes with the index from
    :class:`EpochIndexSampler` (index ``p``); a plain ``DefaultSampler`` (validation, test)
    gives epoch 0.

    Args:
        dataset (dict | Dataset): The spike dataset (a config is built through ``DATASETS``).
        image_dir (str): Folder of clean images (searched recursively).
        size (int): Side of the square grey ``hq_img`` ``[1, size, size]``. Defaults to 224.
        on_bad_image (str): ``'skip'`` (warn, naming the file, and use another image) or
            ``'error'``. Defaults to ``'skip'``.
        seed (int, optional): Seed of the draws; None takes the sampler's (the run's seed) with
            :class:`EpochIndexSampler`, else 0. Defaults to None.
        split (str, optional): ``'train'``, ``'val'`` or ``'test'``: use only that split's share
            of the folder (:func:`split_images`, by a hash of each file's path within the folder,
            so the shares are disjoint and stable as files are added), so that the test split's
            high-quality side is never an image that training or selection saw. None uses the
            whole folder. Defaults to None.
        split_fractions (tuple): Shares of ``train``, ``val`` and ``test``. Defaults to
            ``(0.8, 0.1, 0.1)``.

    A folder laid out like the dataset's own source pictures (subfolders named after most of the
    dataset's classes, as Caltech-101's ``101_ObjectCategories/<class>/``) holds the photographs
    the U-CALTECH recordings were made from, test recordings included: that is logged as a
    warning, since the high-quality side then shows the test scenes themselves.
    """
    takes_epoch_indices = True

    def __init__(self, dataset: Union[dict, Dataset], image_dir: str, size: int = 224,
                 on_bad_image: str = 'skip', seed: Optional[int] = None,
                 split: Optional[str] = None,
                 split_fractions: Tuple[float, float, float] = (0.8, 0.1, 0.1)):
        if on_bad_image not in ('skip', 'error'):
            raise ConfigError(f"on_bad_image must be 'skip' or 'error', got {on_bad_image!r}")
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.images = list_images(image_dir)
        if split is not None:
            self.images = split_images(self.images, image_dir, split, split_fractions)
        _warn_if_source_pictures(image_dir, self.metainfo.get('classes'))
        self.split = split
        self.image_dir = image_dir
        self.size = size
        self.on_bad_image = on_bad_image
        self.seed = seed
        self._bad = set()
        self._orders = {}

    @property
    def metainfo(self) -> dict:
        return getattr(self.dataset, 'metainfo', {})

    def __len__(self) -> int:
        return len(self.dataset)

    def _image(self, idx: int) -> np.ndarray:
        for k in range(len(self.images)):
            path = self.images[(idx + k) % len(self.images)]
            if path in self._bad:
                continue
            try:
                return read_grey(path, self.size, Image.Resampling.BILINEAR, square=True)
            except Exception as e:  # PIL raises many types for broken files
                if self.on_bad_image == 'error':
                    raise ConfigError(f'{path}: unreadable image ({type(e).__name__}: {e})') from e
                self._bad.add(path)
                print_log(f'skipping unreadable image {path}: {e}', logger='current',
                          level=logging.WARNING)
        raise ConfigError(f'no readable image in {self.image_dir!r}')

    def image_index(self, idx: int) -> int:
        """Index in :attr:`images` of the clean image of item ``idx`` (``epoch * len(self) +
        i``, see the class doc)."""
        k, j = divmod(int(idx), len(self.images))  # pass k over the folder, position j
        if k not in self._orders:
            if len(self._orders) > 8:
                self._orders.clear()
            self._orders[k] = np.random.default_rng([int(self.seed or 0), k]).permutation(
                len(self.images))
        return int(self._orders[k][j])

    def __getitem__(self, idx: int) -> dict:
        item = self.dataset[int(idx) % len(self.dataset)]
        img = torch.from_numpy(self._image(self.image_index(idx)))[None]
        item['data_samples'].set_field(img, 'hq_img')
        return item
