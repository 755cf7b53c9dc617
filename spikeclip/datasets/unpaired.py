"""Adds unpaired clean images to a spike dataset (stage 2's high-quality set)."""
import logging
import os
import os.path as osp
from typing import List, Optional, Union

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
    """
    takes_epoch_indices = True

    def __init__(self, dataset: Union[dict, Dataset], image_dir: str, size: int = 224,
                 on_bad_image: str = 'skip', seed: Optional[int] = None):
        if on_bad_image not in ('skip', 'error'):
            raise ConfigError(f"on_bad_image must be 'skip' or 'error', got {on_bad_image!r}")
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.images = list_images(image_dir)
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
