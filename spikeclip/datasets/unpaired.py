"""Adds unpaired clean images to a spike dataset (stage 2's high-quality set)."""
import logging
import os
import os.path as osp
from typing import List, Union

import numpy as np
import torch
from mmengine.logging import print_log
from torch.utils.data import Dataset

from ..registry import DATASETS
from ..utils.errors import ConfigError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


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


def load_grey(path: str, size: int) -> np.ndarray:
    """An image as grey float32 ``[size, size]`` in [0, 1]: short side resized, centre crop."""
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert('L')
        scale = size / min(im.size)
        im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))),
                       Image.BILINEAR)
        left, top = (im.width - size) // 2, (im.height - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.float32) / 255.0


@DATASETS.register_module()
class UnpairedImageDataset(Dataset):
    """A spike dataset whose samples also carry an unrelated clean image ``hq_img``.

    Stage 2 learns high/low-quality prompts from clean images against stage-1 output; data
    without reference images (U-CALTECH, U-CIFAR) take them from any folder of photographs.

    Args:
        dataset (dict | Dataset): The spike dataset (a config is built through ``DATASETS``).
        image_dir (str): Folder of clean images (searched recursively).
        size (int): Side of the square grey ``hq_img`` ``[1, size, size]``. Defaults to 224.
        on_bad_image (str): ``'skip'`` (warn, naming the file, and use another image) or
            ``'error'``. Defaults to ``'skip'``.
    """

    def __init__(self, dataset: Union[dict, Dataset], image_dir: str, size: int = 224,
                 on_bad_image: str = 'skip'):
        if on_bad_image not in ('skip', 'error'):
            raise ConfigError(f"on_bad_image must be 'skip' or 'error', got {on_bad_image!r}")
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.images = list_images(image_dir)
        self.image_dir = image_dir
        self.size = size
        self.on_bad_image = on_bad_image
        self._bad = set()

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
                return load_grey(path, self.size)
            except Exception as e:  # PIL raises many types for broken files
                if self.on_bad_image == 'error':
                    raise ConfigError(f'{path}: unreadable image ({type(e).__name__}: {e})') from e
                self._bad.add(path)
                print_log(f'skipping unreadable image {path}: {e}', logger='current',
                          level=logging.WARNING)
        raise ConfigError(f'no readable image in {self.image_dir!r}')

    def __getitem__(self, idx: int) -> dict:
        item = self.dataset[idx]
        img = torch.from_numpy(self._image(idx))[None]
        item['data_samples'].set_field(img, 'hq_img')
        return item
