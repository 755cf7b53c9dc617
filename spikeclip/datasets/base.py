"""Pieces shared by the datasets: class-name lists, centre crops and the item layout.

Every dataset returns ``dict(inputs=spikes, data_samples=SpikeDataSample)`` with ``spikes`` a
``[T, H, W]`` uint8 0/1 tensor; MMEngine's ``pseudo_collate`` turns a batch into lists and the
data preprocessor stacks them.
"""
import os
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..structures import SpikeDataSample
from ..utils.errors import ConfigError

CLASS_NAMES_DIR = os.path.join(os.path.dirname(__file__), 'class_names')


def load_class_names(classes: Union[str, Sequence[str], None]) -> Tuple[str, ...]:
    """Resolve a class-name list.

    Args:
        classes (str | Sequence[str] | None): The name of a list kept in the package
            (``'ucaltech'``, ``'ucifar'``, ``'demo'``: ``spikeclip/datasets/class_names/*.txt``),
            a path to a text file with one name per line (blank lines and ``#`` comments are
            skipped; line order is the label index), the names themselves, or None (no classes).

    Returns:
        tuple[str, ...]: Class names, index = label.

    Raises:
        ConfigError: Unknown list name, missing file, or an empty or duplicated list.
    """
    if classes is None:
        return ()
    if isinstance(classes, str):
        packaged = os.path.join(CLASS_NAMES_DIR, f'{classes}.txt')
        if os.path.isfile(packaged):
            path = packaged
        elif os.path.isfile(classes):
            path = classes
        else:
            known = sorted(f[:-4] for f in os.listdir(CLASS_NAMES_DIR) if f.endswith('.txt'))
            raise ConfigError(f'class list {classes!r}: no such file, and not one of the '
                              f'packaged lists {known}')
        with open(path, encoding='utf-8') as f:
            names = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith('#')]
        source = path
    else:
        names = [str(c) for c in classes]
        source = 'classes'
    if not names:
        raise ConfigError(f'class list {source!r} is empty')
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f'class list {source!r} repeats names {dup}')
    return tuple(names)


def center_crop_slices(height: int, width: int, size: Optional[int],
                       source: str = 'input') -> Tuple[slice, slice]:
    """Row and column slices of a centred ``size x size`` crop (the whole frame if None).

    Raises:
        ConfigError: ``size`` is larger than the frame.
    """
    if size is None:
        return slice(0, height), slice(0, width)
    if size <= 0 or size > min(height, width):
        raise ConfigError(f'{source}: crop_size={size} does not fit frames of {height}x{width}')
    top, left = (height - size) // 2, (width - size) // 2
    return slice(top, top + size), slice(left, left + size)


def pack_item(spikes: Union[np.ndarray, torch.Tensor],
              sample_idx: int,
              gt_img: Union[np.ndarray, torch.Tensor, None] = None,
              label: Optional[int] = None,
              label_name: Optional[str] = None,
              **meta) -> dict:
    """Build one dataset item.

    Args:
        spikes (np.ndarray | torch.Tensor): ``[T, H, W]`` 0/1 spikes.
        sample_idx (int): Index of the item in its dataset.
        gt_img (np.ndarray | torch.Tensor, optional): Reference ``[H, W]`` or ``[1, H, W]`` in
            [0, 1].
        label (int, optional): Class index.
        label_name (str, optional): Class name.
        **meta: Further meta fields (``spike_path`` or ``img_path``).

    Returns:
        dict: ``inputs`` (``[T, H, W]`` uint8 tensor) and ``data_samples`` (SpikeDataSample
        with ``ori_shape = (H, W)`` of the returned window).
    """
    spikes = torch.as_tensor(spikes).to(torch.uint8)
    sample = SpikeDataSample(metainfo=dict(sample_idx=sample_idx,
                                           ori_shape=tuple(spikes.shape[-2:]),
                                           label_name=label_name, **meta))
    if gt_img is not None:
        gt = torch.as_tensor(gt_img, dtype=torch.float32)
        sample.set_gt_img(gt.reshape(1, *gt.shape[-2:]).contiguous())
    sample.set_gt_label(label)
    return dict(inputs=spikes.contiguous(), data_samples=sample)
