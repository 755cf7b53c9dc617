"""Reader and writer of the U-CALTECH / U-CIFAR ``.npz`` spike files.

Each file holds ``spk`` (``[T, H, W]`` uint8 0/1, ``[200, 250, 250]`` in the released sets),
``label`` (int) and ``label_name`` (str).
"""
import io
import math
import zipfile
from typing import NamedTuple, Optional

import numpy as np

from ..utils.atomic import atomic_write_bytes
from ..utils.errors import SpikeFormatError
from .dat import MAX_SIDE, check_regular_file, check_spike_array


class SpikeRecord(NamedTuple):
    """One U-CALTECH / U-CIFAR sample."""
    spikes: np.ndarray  # [T, H, W] uint8 0/1
    label: Optional[int]
    label_name: Optional[str]


# The spike array is read in pieces of this size, so a member whose header lies about its size
# can never make one allocation larger than the window.
_CHUNK = 1 << 22
# ``label`` / ``label_name`` members larger than this are refused without reading them.
_MAX_SMALL_MEMBER = 1 << 16
# The most uncompressed bytes per compressed byte a member may declare. Deflate (what
# ``np.savez_compressed`` writes) cannot exceed about 1032:1 (a recording of zeros comes close);
# a header declaring more than this lies about its size. A stored member holds what it declares.
MAX_COMPRESSION_RATIO = 1100


def _read_header(f, path: str, key: str):
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream ``f``."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            return fmt.read_array_header_1_0(f)
        if version in ((2, 0), (3, 0)):
            return fmt.read_array_header_2_0(f)
    except Exception as e:  # ValueError of a bad magic string or header
        raise SpikeFormatError(f'{path}: "{key}" is not a readable array ({e})') from e
    raise SpikeFormatError(f'{path}: "{key}" has an unknown .npy format version {version}')


class _Member:
    """One ``.npy`` member of an open ``.npz`` (zip) file, its header read, its data unread."""

    def __init__(self, zf: zipfile.ZipFile, path: str, key: str):
        self.info = zf.getinfo(f'{key}.npy')
        self.path, self.key = path, key
        self.f = zf.open(self.info)
        self.shape, self.fortran, self.dtype = _read_header(self.f, path, key)
        if self.dtype.hasobject:
            raise SpikeFormatError(f'{path}: "{key}" holds Python objects, which are refused '
                                   '(loading them would unpickle code); save plain numeric '
                                   'arrays')
        if key == 'spk':
            _check_spk_shape(path, self.shape)
        self.offset = self.f.tell()
        # Python integers: a product of huge sides must not wrap around to a plausible size.
        declared = math.prod(int(s) for s in self.shape) * self.dtype.itemsize
        if declared != self.info.file_size - self.offset:
            raise SpikeFormatError(
                f'{path}: "{key}" declares shape {self.shape} ({declared} bytes of '
                f'{self.dtype}) but holds {self.info.file_size - self.offset} bytes; the file is '
                'corrupt or truncated')
        ratio = 1 if self.info.compress_type == zipfile.ZIP_STORED else MAX_COMPRESSION_RATIO
        if self.info.file_size > ratio * max(self.info.compress_size, 1):
            raise SpikeFormatError(
                f'{path}: "{key}" declares {self.info.file_size} bytes (shape {self.shape}) '
                f'from {self.info.compress_size} bytes on disk, more than '
                f'{"storing" if ratio == 1 else "compression"} can give ({ratio}:1 at most); '
                'the file is corrupt')

    def read(self, start: int = 0, count: Optional[int] = None) -> np.ndarray:
        """Items ``[start, start + count)`` along the first axis, reading no others (of a
        Fortran-ordered array, rare, the whole member is decompressed, piece by piece, keeping
        only those items)."""
        frames = self.shape[0] if self.shape else 1
        count = frames - start if count is None else count
        if self.fortran and len(self.shape) > 1:
            return self._read_fortran(start, count)
        item = math.prod(int(s) for s in self.shape[1:]) * self.dtype.itemsize
        data = self._bytes(start * item, count * item)
        return np.frombuffer(data, self.dtype).reshape((count, ) + tuple(self.shape[1:]))

    def _read_fortran(self, start: int, count: int) -> np.ndarray:
        """Items ``[start, start + count)`` of a Fortran-ordered array: the first axis varies
        fastest, so every element at flat position ``e`` belongs to item ``e % shape[0]``."""
        frames, rest = int(self.shape[0]), tuple(int(s) for s in self.shape[1:])
        self.f.seek(self.offset)
        step = max(1, (_CHUNK // 4) // self.dtype.itemsize)  # elements per piece
        total, parts = frames * math.prod(rest), []
        for first in range(0, total, step):
            n = min(step, total - first)
            piece = np.frombuffer(self._bytes(None, n * self.dtype.itemsize), self.dtype)
            t = np.arange(first, first + n, dtype=np.int64) % frames
            parts.append(piece[(t >= start) & (t < start + count)])
        flat = np.concatenate(parts) if parts else np.empty(0, self.dtype)
        # flat runs over the other axes in Fortran order, then the kept items
        return np.ascontiguousarray(flat.reshape((count, ) + rest, order='F'))

    def _bytes(self, skip: Optional[int], size: int) -> bytearray:
        """``size`` bytes from ``skip`` past the header (None: where the last read stopped).
        The buffer grows as data arrives, never to a declared size the member does not hold."""
        if skip is not None:  # compressed members decompress forward, chunk by chunk
            self.f.seek(self.offset + skip)
        out = bytearray()
        while len(out) < size:
            got = self.f.read(min(_CHUNK, size - len(out)))
            if not got:
                raise SpikeFormatError(f'{self.path}: "{self.key}" ends early; the file is '
                                       'truncated')
            out += got
        return out

    def read_small(self) -> np.ndarray:
        if self.info.file_size > _MAX_SMALL_MEMBER:
            raise SpikeFormatError(f'{self.path}: "{self.key}" is {self.info.file_size} bytes; '
                                   'expected a single value')
        return self.read()


def _open_npz(path: str) -> zipfile.ZipFile:
    check_regular_file(path, '.npz')
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:
        # NotImplementedError: a zip version or compression method zipfile cannot read
        raise SpikeFormatError(f'{path}: not a readable .npz file ({type(e).__name__}: '
                               f'{e})') from e


def npz_num_frames(path: str) -> int:
    """Frames ``T`` of the ``spk`` array of a ``.npz`` file, from its header alone.

    Raises:
        SpikeFormatError: Not a regular, readable ``.npz`` file, no ``spk`` array, or one that is
            not ``[T, H, W]``.
    """
    with _open_npz(path) as zf:
        return _spk_member(zf, path).shape[0]


def _spk_member(zf: zipfile.ZipFile, path: str) -> _Member:
    keys = sorted(n[:-4] for n in zf.namelist() if n.endswith('.npy'))
    if 'spk' not in keys:
        raise SpikeFormatError(f'{path}: no "spk" array (keys found: {keys})')
    return _Member(zf, path, 'spk')


def _check_spk_shape(path: str, shape: tuple) -> None:
    """``[T, H, W]`` with sides within the limit of ``.dat`` frames, before sizes are checked."""
    if len(shape) != 3 or min(shape) == 0:
        raise SpikeFormatError(f'{path}: "spk": expected spikes of shape [T, H, W] with T, H, W '
                               f'> 0, got shape {tuple(shape)}')
    if max(shape[1:]) > MAX_SIDE:
        raise SpikeFormatError(f'{path}: "spk" declares frames of {shape[1]}x{shape[2]}, out of '
                               f'range: both sides must be at most {MAX_SIDE}')


def read_npz(path: str, require_label: bool = True, start: int = 0,
             num_frames: Optional[int] = None) -> SpikeRecord:
    """Read a U-CALTECH / U-CIFAR ``.npz`` file, or a window of its frames.

    Only frames ``[start, start + num_frames)`` of ``spk`` are read and decoded (a compressed
    member is decompressed up to the window's end, in bounded pieces), after its header has
    been checked against the member's size, so a small file that claims a huge array costs
    nothing (``np.load`` would decompress the whole array; its ``mmap_mode`` does not work on
    compressed ``.npz``).

    Args:
        path (str): The ``.npz`` file.
        require_label (bool): Raise if ``label`` is missing. Defaults to True.
        start (int): First frame. Defaults to 0.
        num_frames (int, optional): Frames to read; all from ``start`` if None.

    Raises:
        SpikeFormatError: The file is not a regular readable ``.npz``, lacks ``spk`` (or
            ``label``), holds pickled objects, a non-binary or wrongly shaped spike array, or a
            frame range outside it.
    """
    try:
        with _open_npz(path) as zf:
            spk = _spk_member(zf, path)
            total = spk.shape[0]
            count = total - start if num_frames is None else num_frames
            if start < 0 or count <= 0 or start + count > total:
                raise SpikeFormatError(f'{path}: frames [{start}, {start + count}) requested but '
                                       f'"spk" holds {total} frames')
            spikes = spk.read(start, count)
            keys = {n[:-4] for n in zf.namelist() if n.endswith('.npy')}
            label = _Member(zf, path, 'label').read_small() if 'label' in keys else None
            name = (_Member(zf, path, 'label_name').read_small() if 'label_name' in keys
                    else None)
    except SpikeFormatError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError,
            NotImplementedError) as e:
        # A CRC mismatch, a truncated member, an unknown compression, ...
        raise SpikeFormatError(f'{path}: not a readable .npz file ({type(e).__name__}: '
                               f'{e})') from e
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
