"""U-CALTECH and U-CIFAR: real spike recordings with class labels (the UHSR data sets).

Each sample is one ``.npz`` file with ``spk`` (``[200, 250, 250]`` uint8 0/1), ``label`` (int)
and ``label_name`` (str); the files are numbered (``0.npz``, ``1.npz``, ...). Two layouts are
read:

* a flat folder of numbered files, split as in the SpikeCLIP paper's code: stems 0-4999 are the
  training set, the rest the test set (``train_size`` sets the boundary);
* ``data_root/train`` and ``data_root/test`` sub-folders (the layout of the original SpikeCLIP
  repository, already split), used as they are when present.
"""
import os
from typing import List, Optional, Sequence, Union

from torch.utils.data import Dataset

from ..fileio import center_window, read_npz
from ..registry import DATASETS
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


@DATASETS.register_module()
class UHSRDataset(Dataset):
    """U-CALTECH / U-CIFAR spike windows with class labels (no reference images).

    Files are read lazily, one per item. Item: ``inputs`` ``[T, H, W]`` uint8 spikes; the data
    sample carries ``gt_label`` and meta ``label_name``, ``spike_path``, ``ori_shape``,
    ``sample_idx``.

    Args:
        data_root (str): Folder of numbered ``.npz`` files (or with ``train``/``test``
            sub-folders).
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        classes (str | Sequence[str]): ``'ucaltech'`` (101 names, ``background`` last),
            ``'ucifar'`` (10 names), a text file with one name per line, or the names.
            Defaults to ``'ucaltech'``.
        crop_size (int, optional): Centre crop to ``crop_size x crop_size`` (224 takes the
            SpikeCLIP crop ``[13:237, 13:237]`` of the 250x250 frames). Defaults to None.
        num_frames (int, optional): Keep the centre ``num_frames`` frames; all if None.
        train_size (int): Files with stems below this number form the training split of a flat
            folder. Defaults to 5000 (the paper's split).
    """

    TRAIN_SIZE = 5000

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 classes: Union[str, Sequence[str]] = 'ucaltech',
                 crop_size: Optional[int] = None,
                 num_frames: Optional[int] = None,
                 train_size: Optional[int] = None):
        if split not in ('train', 'test'):
            raise ConfigError(f'UHSRDataset split must be "train" or "test", got {split!r}')
        if num_frames is not None and num_frames <= 0:
            raise ConfigError(f'UHSRDataset num_frames must be positive, got {num_frames}')
        self.data_root = data_root
        self.split = split
        self.crop_size = crop_size
        self.num_frames = num_frames
        self.train_size = self.TRAIN_SIZE if train_size is None else train_size
        self.classes = load_class_names(classes)
        self.classes_source = classes if isinstance(classes, str) else 'the given class list'
        split_dir = os.path.join(data_root, split)
        if os.path.isdir(split_dir):
            self.files = list_npz(split_dir)
        else:
            files = list_npz(data_root)
            in_train = [_numeric_key(f) < self.train_size for f in files]
            self.files = [f for f, t in zip(files, in_train) if t == (split == 'train')]
            if not self.files:
                raise SpikeFormatError(
                    f'{data_root}: no {split} files: {len(files)} .npz files, numbered '
                    f'{_numeric_key(files[0])}-{_numeric_key(files[-1])}, and stems below '
                    f'{self.train_size} are the training split')
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
        spikes = record.spikes
        if self.num_frames is not None and self.num_frames > spikes.shape[0]:
            raise SpikeFormatError(f'{path}: num_frames={self.num_frames} requested but the file '
                                   f'holds {spikes.shape[0]} frames')
        start, stop = center_window(spikes.shape[0], self.num_frames)
        rows, cols = center_crop_slices(*spikes.shape[1:], self.crop_size, path)
        return pack_item(spikes[start:stop, rows, cols], idx, label=record.label,
                         label_name=self.classes[record.label], spike_path=path)
