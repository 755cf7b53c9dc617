"""Spike recordings paired with reference images: ``data_root/spike/<name>.dat`` and
``data_root/gt/<name>.png``.

This is the layout of the REDS-based spike reconstruction sets and what ``tools/simulate_spikes.py``
writes. Optional classes: ``data_root/classes.txt`` (one name per line) and
``data_root/labels.json`` (``{"<name>": "<class name>"}``).
"""
import json
import os
from typing import Optional

from PIL import Image
from torch.utils.data import Dataset

from ..fileio import dat_num_frames, image_size, read_dat, window_bounds
from ..registry import DATASETS
from ..utils.errors import ConfigError, SpikeFormatError
from ..utils.image import read_grey
from .base import center_crop_slices, load_class_names, pack_item


@DATASETS.register_module()
class PairedSpikeDataset(Dataset):
    """Spike windows with reference images (and optional classes).

    Only the frames of the window are read from each ``.dat`` file. All pairs are checked when
    the dataset is built (file sizes and PNG headers only, no decoding).

    Item: ``inputs`` ``[T, H, W]`` uint8 spikes (``T = window`` or all frames); the data sample
    carries ``gt_img`` ``[1, H, W]`` (the PNG as grey float in [0, 1]), ``gt_label`` where
    classes exist, and meta ``spike_path``, ``img_path``, ``label_name``, ``ori_shape``,
    ``sample_idx``.

    Args:
        data_root (str): Folder with ``spike/`` and ``gt/`` sub-folders.
        height (int): Frame height H of the ``.dat`` files. Defaults to 250.
        width (int): Frame width W. Defaults to 400.
        sensor (str, optional): A sensor preset of the ``.dat`` files instead of height/width,
            e.g. ``'vidar-250x416'`` for raw captures (:mod:`spikeclip.fileio.sensors`): the
            head columns are dropped, the references are the image size.
        window (int, optional): Frames to read around ``center``; all frames if None.
        center (int, optional): Centre frame of the window; the middle frame if None.
        crop_size (int, optional): Centre crop of spikes and reference to a square.
    """

    def __init__(self,
                 data_root: str,
                 height: int = 250,
                 width: int = 400,
                 window: Optional[int] = None,
                 center: Optional[int] = None,
                 crop_size: Optional[int] = None,
                 sensor: Optional[str] = None):
        if window is not None and window <= 0:
            raise ConfigError(f'PairedSpikeDataset window must be positive, got {window}')
        self.data_root = data_root
        self.sensor = sensor
        self.height, self.width = height, width = image_size(height, width, sensor)
        self.window, self.center = window, center
        self.crop_size = crop_size
        center_crop_slices(height, width, crop_size, data_root)  # fail early on a bad crop
        spike_dir, gt_dir = os.path.join(data_root, 'spike'), os.path.join(data_root, 'gt')
        for folder in (spike_dir, gt_dir):
            if not os.path.isdir(folder):
                raise SpikeFormatError(f'{folder}: no such folder; a paired set needs '
                                       f'{data_root}/spike/<name>.dat and '
                                       f'{data_root}/gt/<name>.png')
        spikes = {os.path.splitext(f)[0] for f in os.listdir(spike_dir) if f.endswith('.dat')}
        refs = {os.path.splitext(f)[0] for f in os.listdir(gt_dir) if f.endswith('.png')}
        if not spikes and not refs:
            raise SpikeFormatError(f'{data_root}: no .dat files in spike/ and no .png in gt/')
        unpaired = [f'spike/{n}.dat (no gt/{n}.png)' for n in sorted(spikes - refs)]
        unpaired += [f'gt/{n}.png (no spike/{n}.dat)' for n in sorted(refs - spikes)]
        if unpaired:
            more = f' and {len(unpaired) - 10} more' if len(unpaired) > 10 else ''
            raise SpikeFormatError(f'{data_root}: files without a partner: '
                                   f'{", ".join(unpaired[:10])}{more}')
        self.names = sorted(spikes)
        self.frames = {}
        for name in self.names:
            dat, png = self.paths(name)
            self.frames[name] = dat_num_frames(dat, height, width, sensor)
            if self.window is not None and self.window > self.frames[name]:
                raise SpikeFormatError(f'{dat}: window={self.window} frames requested but the '
                                       f'file holds {self.frames[name]}')
            with Image.open(png) as im:
                w, h = im.size
            if (h, w) != (height, width):
                raise SpikeFormatError(f'{png} is {h}x{w} but its spikes {dat} are read as '
                                       f'{height}x{width} frames; set height/width to the '
                                       'sensor size or resize the reference')
        self.classes, self.labels = self._load_classes()
        self.metainfo = dict(classes=self.classes, dataset_type='paired')

    def paths(self, name: str):
        """``(.dat path, .png path)`` of a sample."""
        return (os.path.join(self.data_root, 'spike', f'{name}.dat'),
                os.path.join(self.data_root, 'gt', f'{name}.png'))

    def _load_classes(self):
        classes_txt = os.path.join(self.data_root, 'classes.txt')
        labels_json = os.path.join(self.data_root, 'labels.json')
        if not os.path.isfile(classes_txt):
            return (), {}
        classes = load_class_names(classes_txt)
        if not os.path.isfile(labels_json):
            raise ConfigError(f'{classes_txt} exists but {labels_json} (name -> class) is missing')
        try:
            with open(labels_json, encoding='utf-8') as f:
                names = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f'{labels_json}: not readable JSON ({e})') from e
        if not isinstance(names, dict):
            raise ConfigError(f'{labels_json}: expected an object {{"<name>": "<class>"}}')
        unknown = sorted({str(c) for c in names.values()} - set(classes))
        if unknown:
            raise ConfigError(f'{labels_json}: classes {unknown[:5]} are not in {classes_txt}')
        return classes, {n: classes.index(str(c)) for n, c in names.items()}

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, idx: int) -> dict:
        name = self.names[idx]
        dat, png = self.paths(name)
        start, stop = window_bounds(self.frames[name], self.window, self.center)
        spikes = read_dat(dat, self.height, self.width, start=start, num_frames=stop - start,
                          sensor=self.sensor)
        gt = read_grey(png)
        rows, cols = center_crop_slices(self.height, self.width, self.crop_size, dat)
        label = self.labels.get(name)
        return pack_item(spikes[:, rows, cols], idx, gt_img=gt[rows, cols], label=label,
                         label_name=self.classes[label] if label is not None else None,
                         spike_path=dat, img_path=png)
