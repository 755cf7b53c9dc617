"""The weights of a TorchScript archive (OpenAI's ``clip.load`` files), read without executing it.

``torch.jit.load`` runs code from the archive: a module's TorchScript ``__setstate__`` runs while
the archive loads, and TorchScript can write files (``torch.from_file(path, shared=True)``). A
CLIP weight path can come from a checkpoint's stored config, i.e. from anyone, so archives are
never loaded that way. :func:`read_archive_weights` reads the archive as the zip file it is:

* ``<prefix>/data.pkl`` (the pickled module tree) goes through :class:`_ArchiveUnpickler`, whose
  ``find_class`` resolves only what tensors are rebuilt from (``torch._utils._rebuild_tensor_v2``,
  ``_rebuild_parameter``, the storage types, ``collections.OrderedDict``, the type tag of
  typed lists and dicts) to functions of this
  file, and every TorchScript class (``__torch__.*``) to an inert :class:`_ArchiveObject` that
  only records the dict of attributes it is given. A class that pickles another state (a custom
  ``__getstate__``/``__setstate__``, whose code ``torch.jit.load`` would run) is refused, as is any
  other global.
* Tensors come from ``persistent_load``: ``<prefix>/data/<key>``, an uncompressed member whose
  size must be exactly what the pickle declares (so memory stays bounded by the archive's own
  size, whatever a header claims), viewed with the declared dtype, size, stride and offset after
  a bounds check.
* Which attributes are parameters and buffers (the state dict) and which are plain attributes
  (OpenAI's ``attn_mask``) is read from the class declarations of ``<prefix>/code/__torch__/...py``
  (``__parameters__ = [...]``, ``__buffers__ = [...]``), as text with regular expressions; the
  code is never compiled or run. A class whose code defines ``__setstate__`` is refused.

The result equals ``torch.jit.load(path).state_dict()`` (same keys, order, dtypes and values).
"""
import io
import os
import pickle
import re
import sys
import zipfile
from collections import OrderedDict
from typing import Dict, Optional, Set, Tuple

import torch
from torch import Tensor

from spikeclip.utils.errors import CheckpointError

_STORAGE_DTYPES = {
    'HalfStorage': torch.float16, 'FloatStorage': torch.float32, 'DoubleStorage': torch.float64,
    'BFloat16Storage': torch.bfloat16, 'LongStorage': torch.int64, 'IntStorage': torch.int32,
    'ShortStorage': torch.int16, 'CharStorage': torch.int8, 'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
}
# Bounds of what is read besides the tensors (whose bytes are bounded by the archive's size).
_MAX_PICKLE_BYTES = 64 << 20
_MAX_CODE_BYTES = 64 << 20
_NAME = r'[A-Za-z_][A-Za-z0-9_]*'
_QUALNAME = re.compile(rf'__torch__(\.{_NAME})*\Z')
_KEY = re.compile(r'[A-Za-z0-9_]{1,64}\Z')


class _Refused(Exception):
    """Why the archive is refused (turned into a CheckpointError naming the file)."""


class _ArchiveObject:
    """An object of a TorchScript class: inert, it only records its attributes (``state``)."""

    qualname = ''

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise _Refused(f'it builds {cls.qualname} with arguments')
        return super().__new__(cls)

    def __setstate__(self, state) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise _Refused(f'{self.qualname} pickles a custom state (a __getstate__/__setstate__ '
                           'pair, code that would run while loading)')
        self.state = state


class _StorageType:
    """What ``torch.HalfStorage`` & co. stand for in the pickle: a dtype."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _check_ints(value, what: str) -> tuple:
    if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise _Refused(f'a tensor {what} is not a tuple of non-negative ints')
    return value


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                    metadata=None) -> Tensor:
    """``torch._utils._rebuild_tensor_v2`` on a storage of this reader, bounds checked."""
    if not isinstance(storage, Tensor) or type(offset) is not int or offset < 0:
        raise _Refused('a tensor is rebuilt from something that is not one of its storages')
    size, stride = _check_ints(size, 'size'), _check_ints(stride, 'stride')
    if len(size) != len(stride):
        raise _Refused('a tensor has a size and a stride of different lengths')
    if all(size):
        end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
        if end > storage.numel():
            raise _Refused(f'a tensor reaches element {end} of a storage of {storage.numel()}')
    return storage.as_strided(size, stride, offset)


def _rebuild_parameter(data, requires_grad=False, hooks=None) -> Tensor:
    if not isinstance(data, Tensor):
        raise _Refused('a parameter is rebuilt from something that is not a tensor')
    return data


def _restore_type_tag(value, type_str=None):
    """TorchScript's tag of a typed list or dict: the value itself."""
    return value


class _ArchiveUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of an archive into :class:`_ArchiveObject` trees of tensors."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, max_bytes: int):
        super().__init__(file)
        self._archive, self._prefix, self._left = archive, prefix, max_bytes
        self._storages: Dict[str, Tensor] = {}
        self._classes: Dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return _rebuild_tensor
        if (module, name) == ('torch._utils', '_rebuild_parameter'):
            return _rebuild_parameter
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if (module, name) == ('torch.jit._pickle', 'restore_type_tag'):
            return _restore_type_tag
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        qualname = f'{module}.{name}'
        if _QUALNAME.match(qualname):
            if qualname not in self._classes:
                self._classes[qualname] = type(name, (_ArchiveObject, ), dict(qualname=qualname))
            return self._classes[qualname]
        raise _Refused(f'it names {qualname}, which is neither a tensor part nor a TorchScript '
                       'class')

    def persistent_load(self, pid) -> Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and _KEY.match(pid[2]) and type(pid[4]) is int and pid[4] >= 0):
            raise _Refused('it holds a persistent id that is not a tensor storage')
        dtype, key, numel = pid[1].dtype, pid[2], pid[4]
        if key in self._storages:
            storage = self._storages[key]
            if storage.dtype != dtype or storage.numel() != numel:
                raise _Refused(f'storage {key} is declared twice with different types')
            return storage
        member = f'{self._prefix}/data/{key}'
        try:
            info = self._archive.getinfo(member)
        except KeyError:
            raise _Refused(f'it has no {member}') from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != numel * itemsize \
                or info.file_size > self._left:
            raise _Refused(f'{member} is not the {numel * itemsize} stored bytes its header '
                           'declares')
        self._left -= info.file_size
        with self._archive.open(info) as f:
            data = bytearray(f.read(info.file_size))
        if len(data) != info.file_size:
            raise _Refused(f'{member} is truncated')
        storage = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        self._storages[key] = storage
        return storage


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise _Refused(f'{name} declares {info.file_size} bytes (more than {limit})')
    with archive.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _Refused(f'{name} is larger than {limit} bytes')
    return data


class _ClassDeclarations:
    """``__parameters__``/``__buffers__`` of the archive's classes, read from its code as text."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str):
        self._archive, self._prefix = archive, prefix
        self._files: Dict[str, str] = {}
        self._left = _MAX_CODE_BYTES

    def _code(self, module: str) -> str:
        if module not in self._files:
            name = f'{self._prefix}/code/{module.replace(".", "/")}.py'
            try:
                data = _read_member(self._archive, name, self._left)
            except KeyError:
                raise _Refused(f'it has no code for {module} ({name})') from None
            self._left -= len(data)
            self._files[module] = data.decode('utf-8', errors='replace')
        return self._files[module]

    def get(self, qualname: str) -> Optional[Tuple[list, list]]:
        """``(parameters, buffers)`` of a ``Module`` class, None for another class.

        Raises:
            _Refused: No declaration of the class, or one that defines ``__setstate__``.
        """
        module, name = qualname.rsplit('.', 1)
        code = self._code(module)
        # Unambiguous patterns (one way to match each line): linear time on any text.
        found = re.search(rf'^class {name}\((\w*)\):\n((?:[ \t][^\n]*\n|\n)*)', code + '\n',
                          re.M)
        if found is None:
            raise _Refused(f'its code declares no class {qualname}')
        body = found.group(2)
        if re.search(r'^[ \t]+def __setstate__\(', body, re.M):
            raise _Refused(f'{qualname} defines __setstate__ (code that would run while loading)')
        if found.group(1) != 'Module':
            return None
        lists = []
        for field in ('__parameters__', '__buffers__'):
            line = re.search(rf'^[ \t]+{field} = \[([^\n]*)\][ \t]*$', body, re.M)
            if line is None:
                raise _Refused(f'the code of {qualname} has no {field}')
            lists.append(re.findall(r'"([^"]*)"', line.group(1)))
        return lists[0], lists[1]


def _archive_prefix(archive: zipfile.ZipFile) -> str:
    prefixes = [n[:-len('/data.pkl')] for n in archive.namelist()
                if n.endswith('/data.pkl') and n.count('/') == 1]
    if len(prefixes) != 1:
        raise _Refused('it does not have exactly one <name>/data.pkl')
    return prefixes[0]


def _state_dict(root: _ArchiveObject, classes: _ClassDeclarations
                ) -> Tuple['OrderedDict[str, Tensor]', Set[str]]:
    """What ``torch.jit.load(...).state_dict()`` gives (parameters, then buffers, then the
    submodules of each module, in attribute order), and the class names of the modules."""
    state, names = OrderedDict(), set()
    todo, seen = [('', root)], set()
    while todo:
        prefix, obj = todo.pop()
        if id(obj) in seen:
            raise _Refused('a module appears twice in its module tree')
        seen.add(id(obj))
        declared = classes.get(obj.qualname)
        if declared is None:
            continue
        names.add(obj.qualname.rsplit('.', 1)[1])
        attrs = obj.state if hasattr(obj, 'state') else {}
        for field in declared:
            for key in field:
                value = attrs.get(key)
                if value is not None and not isinstance(value, Tensor):
                    raise _Refused(f'{prefix}{key} is declared a tensor but holds a '
                                   f'{type(value).__name__}')
        for key in [k for k in attrs if k in declared[0]] + [k for k in attrs if k in declared[1]]:
            if attrs[key] is not None:
                state[prefix + key] = attrs[key]
        children = [(f'{prefix}{k}.', v) for k, v in attrs.items()
                    if isinstance(v, _ArchiveObject)]
        todo.extend(reversed(children))
    return state, names


def read_archive_weights(path: str) -> Tuple['OrderedDict[str, Tensor]', Set[str]]:
    """The state dict of a TorchScript archive, read without executing it (module doc).

    Args:
        path (str): The archive.

    Returns:
        tuple: ``(state dict, class names of its modules)``; the names without module path or
        mangling (``'QuickGELU'``), as ``original_name`` of ``torch.jit.load``'s modules.

    Raises:
        CheckpointError: The archive holds anything else than modules and tensors, code that
            would run while loading, or sizes that do not match its members (names ``path``).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _archive_prefix(archive)
            try:
                order = _read_member(archive, f'{prefix}/byteorder', 16).strip()
            except KeyError:
                order = b'little'  # archives written before torch 1.13 are little-endian
            if order.decode(errors='replace') != sys.byteorder:
                raise _Refused(f'its tensors are {order!r}-endian')
            data = _read_member(archive, f'{prefix}/data.pkl', _MAX_PICKLE_BYTES)
            unpickler = _ArchiveUnpickler(io.BytesIO(data), archive, prefix,
                                          os.path.getsize(path))
            root = unpickler.load()
            if not isinstance(root, _ArchiveObject):
                raise _Refused(f'it holds a {type(root).__name__}, not a TorchScript module')
            return _state_dict(root, _ClassDeclarations(archive, prefix))
    except _Refused as e:
        raise CheckpointError(f'{path}: refused as a TorchScript weight archive: {e} (archives '
                              'are read as data, never run)') from None
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, IndexError, KeyError, RuntimeError, UnicodeDecodeError,
            OSError) as e:
        raise CheckpointError(f'{path}: not a readable TorchScript archive ({type(e).__name__}: '
                              f'{str(e).splitlines()[0] if str(e) else ""})') from e
