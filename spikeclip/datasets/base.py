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
PROMPT_NAMES_DIR = os.path.join(CLASS_NAMES_DIR, 'prompts')


def _read_names(path: str) -> list:
    """Lines of a name file; blank lines and ``#`` comments are skipped (line order = index)."""
    with open(path, encoding='utf-8') as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith('#')]


def _resolve_names(names: Union[str, Sequence[str]], folder: str, what: str) -> tuple:
    """``(names, source)`` from a packaged list in ``folder``, a text file, or the names."""
    if isinstance(names, str):
        packaged = os.path.join(folder, f'{names}.txt')
        if os.path.isfile(packaged):
            return _read_names(packaged), packaged
        if os.path.isfile(names):
            return _read_names(names), names
        known = sorted(f[:-4] for f in os.listdir(folder) if f.endswith('.txt'))
        raise ConfigError(f'{what} {names!r}: no such file, and not one of the packaged lists '
                          f'{known}')
    return [str(c) for c in names], what


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
    names, source = _resolve_names(classes, CLASS_NAMES_DIR, 'class list')
    if not names:
        raise ConfigError(f'class list {source!r} is empty')
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f'class list {source!r} repeats names {dup}')
    return tuple(names)


def load_prompt_names(class_names: Sequence[str],
                      prompt_names: Union[str, Sequence[str], None] = None) -> Tuple[str, ...]:
    """The text that stands for each class inside CLIP prompts: the one helper every prompt
    builder uses (stage-1 class features, stage-2 hand-written and learned class prompts).

    Class names are labels (``'cougarbody'``, ``'Leopards'``, kept as the data names them);
    prompts read better with words (``'cougar body'``, ``'leopard'``), so an index-aligned
    prompt-name list may rename them, as CoOp does.

    Args:
        class_names (Sequence[str]): The class list, index = label.
        prompt_names (str | Sequence[str], optional): ``None``: each class name with ``_`` read
            as a space. Otherwise a packaged list (``'ucaltech'``:
            ``spikeclip/datasets/class_names/prompts/ucaltech.txt``), a text file with one name
            per line (``#`` comments and blank lines skipped), or the names; line ``i`` is the
            prompt text of label ``i``. Defaults to None.

    Returns:
        tuple[str, ...]: One prompt text per class.

    Raises:
        ConfigError: Unknown list or file, or a list whose length is not the class list's.
    """
    if prompt_names is None:
        return tuple(str(n).replace('_', ' ').strip() for n in class_names)
    names, source = _resolve_names(prompt_names, PROMPT_NAMES_DIR, 'prompt-name list')
    if len(names) != len(class_names):
        raise ConfigError(f'prompt-name list {source!r} has {len(names)} names but there are '
                          f'{len(class_names)} classes; line i must name class i')
    return tuple(n.strip() for n in names)


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
