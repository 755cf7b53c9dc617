"""U-CALTECH and U-CIFAR: real spike recordings with class labels (the UHSR data sets).

Each sample is one ``.npz`` file with ``spk`` (``[200, 250, 250]`` uint8 0/1), ``label`` (int)
and ``label_name`` (str); the files are numbered (``0.npz``, ``1.npz``, ...). Two layouts are
read:

* a flat folder of numbered files, split as in the SpikeCLIP paper's code: stems 0-4999 are the
  training set, the rest the test set (``train_size`` sets the boundary);
* ``data_root/train`` and ``data_root/test`` sub-folders (the layout of the original SpikeCLIP
  repository, already split), used as they are when present.

Model selection needs data that is not the test set: ``split='val'`` holds out every
``val_every``-th training file (in numeric order: files 9, 19, 29, ... with the default 10), and
``split='train'`` is the training files without them; ``'trainval'`` is every training file
(the paper's training set). The configs select checkpoints on ``'val'`` and report ``'test'``
once, with ``tools/test.py``.
"""
import os
import re
from typing import List, Optional, Sequence, Union

from torch.utils.data import Dataset

from ..fileio import read_npz, window_bounds
from ..registry import DATASETS
from ..utils.deprecation import renamed_argument
from ..utils.errors import ConfigError, SpikeFormatError
from .base import center_crop_slices, load_class_names, pack_item


def _numeric_key(path: str) -> int:
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        return int(stem)
    except ValueError:
        raise SpikeFormatError(f'{path}: U-CALTECH/U-CIFAR files are numbered (0.npz, 1.npz, ...); '
                               f'cannot place {os.path.basename(path)!r} in the train/test '
                               'split') from None


def list_npz(folder: str) -> List[str]:
    """``.npz`` files of ``folder`` sorted by their stem's number (``2.npz`` before ``10.npz``).

    Raises:
        SpikeFormatError: The folder is missing, holds no ``.npz`` files, or a file stem is not
            a number.
    """
    if not os.path.isdir(folder):
        raise SpikeFormatError(f'{folder}: no such data folder (run `make data` for U-CALTECH / '
                               'U-CIFAR, or set data_root)')
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith('.npz')]
    if not files:
        raise SpikeFormatError(f'{folder}: the folder holds no .npz files')
    return sorted(files, key=_numeric_key)


def _same_name(a: str, b: str) -> bool:
    """Whether two spellings name the same class: ignoring case and all but letters and digits,
    one starts with the other (``'car_side'`` and ``'car'``, ``'airplanes'`` and
    ``'airplane'``), so that spelling variants pass and another class list does not."""
    a, b = (re.sub(r'[^0-9a-z]', '', str(n).lower()) for n in (a, b))
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))


@DATASETS.register_module()
class UHSRDataset(Dataset):
    """U-CALTECH / U-CIFAR spike windows with class labels (no reference images).

    Files are read lazily, one per item. Item: ``inputs`` ``[T, H, W]`` uint8 spikes; the data
    sample carries ``gt_label`` and meta ``label_name``, ``spike_path``, ``ori_shape``,
    ``sample_idx``.

    Args:
        data_root (str): Folder of numbered ``.npz`` files (or with ``train``/``test``
            sub-folders).
        split (str): ``'train'`` (training files without the validation ones), ``'val'``
            (every ``val_every``-th training file), ``'trainval'`` (all training files) or
            ``'test'``. Defaults to ``'train'``.
        classes (str | Sequence[str]): ``'ucaltech'`` (101 names, ``background`` last),
            ``'ucifar'`` (10 names), a text file with one name per line, or the names.
            Defaults to ``'ucaltech'``.
        crop_size (int, optional): Centre crop to ``crop_size x crop_size`` (224 takes the
            SpikeCLIP crop ``[13:237, 13:237]`` of the 250x250 frames). Defaults to None.
        window (int, optional): Keep the centre ``window`` frames; all if None.
        train_size (int): Files with stems below this number form the training split of a flat
            folder. Defaults to 5000 (the paper's split).
        val_every (int): Every ``val_every``-th training file (positions ``val_every - 1``,
            ``2 * val_every - 1``, ... in numeric order) is held out for validation.
            Defaults to 10.
        check_label_names (bool): Compare each file's ``label_name`` with the class list's name
            of its label and refuse a mismatch (a class list that does not fit the data).
            Names match when, ignoring case and everything but letters and digits, one starts
            with the other (``'car_side'`` fits ``'car'``, ``'Faces_easy'`` fits ``'faces'``).
            Defaults to True.
        num_frames (int, optional): Deprecated name of ``window``.
    """

    TRAIN_SIZE = 5000
    has_references = False  # no gt_img: tools/test.py adds the no-reference metrics
    SPLITS = ('train', 'val', 'trainval', 'test')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 classes: Union[str, Sequence[str]] = 'ucaltech',
                 crop_size: Optional[int] = None,
                 window: Optional[int] = None,
                 train_size: Optional[int] = None,
                 val_every: int = 10,
                 check_label_names: bool = True,
                 num_frames: Optional[int] = None):
        if split not in self.SPLITS:
            raise ConfigError(f'UHSRDataset split must be one of {self.SPLITS}, got {split!r}')
        if not isinstance(val_every, int) or val_every < 2:
            raise ConfigError(f'UHSRDataset val_every must be an int >= 2, got {val_every!r}')
        window = renamed_argument('UHSRDataset', 'window', window, 'num_frames', num_frames)
        if window is not None and window <= 0:
            raise ConfigError(f'UHSRDataset window must be positive, got {window}')
        self.data_root = data_root
        self.split = split
        self.crop_size = crop_size
        self.window = window
        self.train_size = self.TRAIN_SIZE if train_size is None else train_size
        self.val_every = val_every
        self.check_label_names = check_label_names
        self.classes = load_class_names(classes)
        self.classes_source = classes if isinstance(classes, str) else 'the given class list'
        source = 'test' if split == 'test' else 'train'
        split_dir = os.path.join(data_root, source)
        if os.path.isdir(split_dir):
            files = list_npz(split_dir)
        else:
            every = list_npz(data_root)
            files = [f for f in every if (_numeric_key(f) < self.train_size) == (source == 'train')]
            if not files:
                raise SpikeFormatError(
                    f'{data_root}: no {source} files: {len(every)} .npz files, numbered '
                    f'{_numeric_key(every[0])}-{_numeric_key(every[-1])}, and stems below '
                    f'{self.train_size} are the training split')
        if split in ('train', 'val'):
            held_out = split == 'val'
            files = [f for i, f in enumerate(files)
                     if (i % val_every == val_every - 1) == held_out]
            if not files:
                raise SpikeFormatError(f'{data_root}: no {split} files: the training split has '
                                       f'fewer than val_every={val_every} files')
        self.files = files
        self.metainfo = dict(classes=self.classes, dataset_type='uhsr')

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> dict:
        path = self.files[idx]
        record = read_npz(path, require_label=True)
        if not 0 <= record.label < len(self.classes):
            raise ConfigError(
                f'{path}: label {record.label} is out of range for the class list '
                f'{self.classes_source!r} of {len(self.classes)} names; pick the list that '
                'matches the data (classes="ucaltech" or "ucifar")')
        if self.check_label_names and record.label_name and \
                not _same_name(record.label_name, self.classes[record.label]):
            raise ConfigError(
                f'{path}: label {record.label} is {record.label_name!r} in the file but '
                f'{self.classes[record.label]!r} in the class list {self.classes_source!r}; pick '
                'the list that matches the data (classes="ucaltech" or "ucifar"), or pass '
                'check_label_names=False if the names only differ in spelling')
        spikes = record.spikes
        if self.window is not None and self.window > spikes.shape[0]:
            raise SpikeFormatError(f'{path}: window={self.window} frames requested but the file '
                                   f'holds {spikes.shape[0]}')
        start, stop = window_bounds(spikes.shape[0], self.window)
        rows, cols = center_crop_slices(*spikes.shape[1:], self.crop_size, path)
        return pack_item(spikes[start:stop, rows, cols], idx, label=record.label,
                         label_name=self.classes[record.label], spike_path=path)
