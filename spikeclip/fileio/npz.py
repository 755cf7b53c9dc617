"""Reader and writer of the U-CALTECH / U-CIFAR ``.npz`` spike files.

Each file holds ``spk`` (``[T, H, W]`` uint8 0/1, ``[200, 250, 250]`` in the released sets),
``label`` (int) and ``label_name`` (str).
"""
import io
from typing import NamedTuple, Optional

import numpy as np

from ..utils.atomic import atomic_write_bytes
from ..utils.errors import SpikeFormatError
from .dat import check_spike_array


class SpikeRecord(NamedTuple):
    """One U-CALTECH / U-CIFAR sample."""
    spikes: np.ndarray  # [T, H, W] uint8 0/1
    label: Optional[int]
    label_name: Optional[str]


def read_npz(path: str, require_label: bool = True) -> SpikeRecord:
    """Read a U-CALTECH / U-CIFAR ``.npz`` file.

    Args:
        path (str): The ``.npz`` file.
        require_label (bool): Raise if ``label`` is missing. Defaults to True.

    Raises:
        SpikeFormatError: The file is unreadable, lacks ``spk`` (or ``label``), or holds a
            non-binary or wrongly shaped spike array.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if 'spk' not in keys:
                raise SpikeFormatError(f'{path}: no "spk" array (keys found: {sorted(keys)})')
            spikes = data['spk']
            label = data['label'] if 'label' in keys else None
            name = data['label_name'] if 'label_name' in keys else None
    except SpikeFormatError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError (pickled objects), OSError, ...
        raise SpikeFormatError(f'{path}: not a readable .npz file ({type(e).__name__}: {e})') from e
    spikes = check_spike_array(spikes, f'{path}: "spk"')
    if label is None:
        if require_label:
            raise SpikeFormatError(f'{path}: no "label" array (keys found: {sorted(keys)})')
    else:
        # Integral floats are accepted too: some exports store the class index as a float.
        integral = np.issubdtype(label.dtype, np.integer) or (
            np.issubdtype(label.dtype, np.floating) and label.size == 1
            and float(label.reshape(())).is_integer())
        if label.size != 1 or not integral:
            raise SpikeFormatError(f'{path}: "label" must be one integer, got dtype {label.dtype} '
                                   f'and shape {label.shape}')
        label = int(label.reshape(()))
    if name is not None:
        name = str(name.reshape(()) if name.size == 1 else name)
    return SpikeRecord(spikes, label, name)


def write_npz(path: str, spikes: np.ndarray, label: int, label_name: str) -> None:
    """Write a U-CALTECH / U-CIFAR style ``.npz`` atomically.

    Raises:
        SpikeFormatError: Non-binary or wrongly shaped spikes, or a ``label_name`` with a NUL
            character (NumPy strings drop trailing NULs, so it would not read back).
    """
    spikes = check_spike_array(spikes, path)
    if '\x00' in str(label_name):
        raise SpikeFormatError(f'{path}: label_name {label_name!r} contains a NUL character, '
                               'which .npz strings cannot keep')
    buf = io.BytesIO()
    np.savez_compressed(buf, spk=spikes, label=np.int64(label), label_name=np.str_(label_name))
    atomic_write_bytes(path, buf.getvalue())
