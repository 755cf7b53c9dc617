"""The one place that lets MMEngine checkpoints load with ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default; MMEngine puts a few extra types in the
``message_hub`` of a checkpoint (HistoryBuffer, numpy scalars, arrays and dtypes). Exactly those
are allow-listed here; nothing else is, so a pickle that carries arbitrary code is still refused.

MMEngine's ``HistoryBuffer.__getstate__`` also pickles its default statistics functions
(``HistoryBuffer.min`` ...), which pickle as ``getattr(HistoryBuffer, 'min')``. Allowing
``getattr`` would let a crafted file reach arbitrary attributes, so instead
:func:`spikeclip.engine.patches.install_patches` makes the buffers pickle without those defaults
(``__setstate__`` restores them anyway).
"""
import warnings
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .errors import CheckpointError


def _numpy_dtype_classes() -> list:
    # numpy >= 1.25 pickles dtypes as instances of per-type classes (np.dtypes.Float64DType, ...).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is None:
        return []
    return [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]


def register_safe_globals() -> None:
    """Allow-list the types MMEngine stores in checkpoints (idempotent)."""
    import numpy._core.multiarray as ma  # numpy >= 2 location; np.core is a shim

    safe = [HistoryBuffer, np.ndarray, np.dtype, ma._reconstruct, ma.scalar]
    safe += _numpy_dtype_classes()
    torch.serialization.add_safe_globals(safe)


URL_PREFIXES = ('http://', 'https://')
# Sentences of torch's errors that advise loading the file unsafely; never repeated.
_UNSAFE_ADVICE = ('weights_only', 'trusted source', 'file an issue', 'documentation of torch.load')


def _load_failure(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line, without torch's advice to load
    the file unsafely."""
    import re
    text = str(error)
    found = re.search(r'GLOBAL ([\w.]+)', text)
    if found:
        return (f'it holds {found.group(1)}, which is neither a tensor nor plain data (a pickle '
                'that can run code); refused')
    if 'TorchScript' in text:
        return 'it is a TorchScript archive (a program), not a checkpoint; refused'
    if 'Unsupported operand' in text or 'WeightsUnpickler' in text:
        return 'it is not a PyTorch checkpoint, or it is corrupt (unreadable pickle data)'
    if 'PytorchStreamReader' in text or isinstance(error, EOFError):
        return 'it is corrupt or truncated (an incomplete copy or download?)'
    sentences = [t.strip() for t in re.split(r'(?<=[.!?])\s+|\n+', text) if t.strip()]
    kept = [t for t in sentences if not any(a in t for a in _UNSAFE_ADVICE)]
    return f'{type(error).__name__}: {kept[0] if kept else "unreadable"}'


def _url_cache_path(url: str) -> str:
    """Where the checkpoint of ``url`` is kept in torch's hub cache (``<hash>_<name>``)."""
    import hashlib
    import os
    from urllib.parse import urlparse
    name = os.path.basename(urlparse(url).path) or 'checkpoint.pth'
    return os.path.join(torch.hub.get_dir(), 'checkpoints',
                        f'{hashlib.sha256(url.encode()).hexdigest()[:12]}_{name}')


def _download_and_load(url: str, map_location) -> Dict[str, Any]:
    """Download ``url`` into a private temporary folder, load it, and only then move it to its
    cache name (:func:`_url_cache_path`).

    A file that does not load as a checkpoint is deleted: it never stays in the cache under a
    name that can be predicted from the URL, where a second checkpoint's stored config could
    name it (issue 21: two URLs, the first one a TorchScript archive refused here).

    Raises:
        CheckpointError: Downloads are off (:func:`~spikeclip.utils.env.offline`), the download
            failed, or the file does not load safely.
    """
    import os
    import shutil
    import sys
    import tempfile

    from .env import OFFLINE_ENV, offline
    if offline():
        raise CheckpointError(f'{url}: downloads are off ({OFFLINE_ENV}=1 / --offline); download '
                              'the checkpoint elsewhere and give its local path')
    dest = _url_cache_path(url)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.spikeclip-download-', dir=os.path.dirname(dest))
    try:
        tmp = os.path.join(staging, os.path.basename(dest))
        print(f'Downloading {url} to {dest}', file=sys.stderr)
        try:
            torch.hub.download_url_to_file(url, tmp, progress=sys.stderr.isatty())
        except Exception as e:  # URLError, HTTPError, OSError, ...
            raise CheckpointError(f'{url}: download failed ({type(e).__name__}: {e})') from e
        try:
            ckpt = _load_local(tmp, map_location)
        except CheckpointError as e:
            why = str(e).replace(f'checkpoint {tmp!r}', 'the download')
            raise CheckpointError(f'{url}: {why}; it is deleted, not cached') from None
        os.replace(tmp, dest)
        return ckpt
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_checkpoint(url: str) -> str:
    """The local copy of a checkpoint URL in torch's hub cache, downloaded on first use.

    The cached file is named after a hash of the URL and the URL's file name, so two URLs never
    share a copy; a download is moved there only once it has loaded with ``weights_only=True``
    (:func:`_download_and_load`), so a killed download never leaves a half file, and a file
    refused as a checkpoint never stays.

    Raises:
        CheckpointError: Downloads are off, the download failed, or the file is not a
            checkpoint that loads safely.
    """
    import os
    dest = _url_cache_path(url)
    if not os.path.isfile(dest):
        _download_and_load(url, 'cpu')
    return dest


def _load_local(path: str, map_location) -> Dict[str, Any]:
    import os
    if not os.path.isfile(path):
        what = 'is a directory, not a file' if os.path.isdir(path) else 'does not exist'
        raise CheckpointError(f'checkpoint {path!r} {what}')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path!r} is empty (0 bytes)')
    register_safe_globals()
    try:
        with warnings.catch_warnings():  # torch's notice on TorchScript archives: refused below
            warnings.filterwarnings('ignore', message='.*looks like a TorchScript archive')
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(f'checkpoint {path!r} could not be loaded safely '
                              f'(weights_only=True): {_load_failure(e)}') from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'checkpoint {path!r} holds a {type(ckpt).__name__}, not a dict')
    return ckpt


def load_checkpoint_file(path: str, map_location: str = 'cpu') -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``, turning failures into clear errors.

    Args:
        path (str): Checkpoint file, ``pretrained:<name>`` (a model shipped in the package,
            :mod:`spikeclip.pretrained`), or an ``http(s)://`` URL (downloaded once into torch's
            hub cache, kept there only when it loads: :func:`download_checkpoint`).
        map_location (str): Device to map tensors to. Defaults to ``'cpu'``.

    Returns:
        dict: The checkpoint (with ``state_dict`` and ``meta`` for MMEngine checkpoints).

    Raises:
        CheckpointError: The file is missing, truncated, or holds types that are not allow-listed.
    """
    import os

    from ..pretrained import resolve_checkpoint
    path = resolve_checkpoint(path)
    if isinstance(path, str) and path.startswith(URL_PREFIXES):
        cached = _url_cache_path(path)
        if not os.path.isfile(cached):
            return _download_and_load(path, map_location)
        path = cached
    return _load_local(path, map_location)


def weights_mismatch(source: str, target: str, error: RuntimeError) -> CheckpointError:
    """The error for weights that do not fit a model: ``'<source>: the weights do not fit
    <target>: <torch's message>'``, with long key lists shortened (``N keys (a, b, c, ...)``)."""
    import re
    lines = []
    for line in str(error).splitlines():
        keys = re.findall(r'"([^"]+)"', line)
        if len(keys) > 4:
            line = f'{line.split(":")[0].strip()}: {len(keys)} keys ({", ".join(keys[:3])}, ...)'
        lines.append(line.strip())
    return CheckpointError(f'{source}: the weights do not fit {target}: {" ".join(lines)}')


def load_weights(module: torch.nn.Module, state_dict: Dict[str, Any], source: str,
                 target: Optional[str] = None) -> None:
    """``module.load_state_dict(state_dict, strict=True)``, the one strict load of the toolkit.

    Args:
        module (nn.Module): The model or part to load into.
        state_dict (dict): The weights.
        source (str): Where they come from (a file, or files), for the message.
        target (str, optional): What they are loaded into, for the message. Defaults to
            ``'the model <class name>'``.

    Raises:
        CheckpointError: Missing, unexpected or wrongly shaped weights (:func:`weights_mismatch`).
    """
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise weights_mismatch(source, target or f'the model {type(module).__name__}', e) from e
