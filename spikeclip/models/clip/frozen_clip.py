"""A frozen open_clip CLIP model with the entry points the three SpikeCLIP stages need.

Stage 1 and stage 3 train an image network *through* CLIP (gradients reach the input image),
stage 2 learns prompt token embeddings that run through CLIP's frozen text encoder. CLIP itself
never trains: every parameter has ``requires_grad=False`` and the module stays in eval mode.

Weights are resolved in a fixed order (see :func:`resolve_pretrained`), and a weight that cannot
be found is a :class:`CheckpointError` that says how to get it, never a silent random model.
Images are preprocessed as the weights' own preprocessing config says (size, resize mode,
interpolation, centre crop, mean/std), and features and logits are float32 even under autocast.
"""
import hashlib
import logging
import math
import os
import socket
import warnings
import zipfile
from contextlib import contextmanager, nullcontext
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlparse

import open_clip
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from mmengine.logging import print_log
from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from open_clip.convert import convert_state_dict
from open_clip.pretrained import download_pretrained, download_pretrained_from_url
from open_clip.transformer import text_global_pool
from torch import Tensor, nn

from spikeclip.registry import MODELS
from spikeclip.utils.checkpoint import load_weights
from spikeclip.utils.errors import CheckpointError, ConfigError

from . import tiny  # noqa: F401  (registers the 'spikeclip-tiny' architecture)
from .torchscript_archive import read_archive_weights

_WEIGHT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt')
_PREPROCESS_KEYS = ('mean', 'std', 'interpolation', 'resize_mode')
_COMMON_ARCHS = ('RN50', 'ViT-B-16', 'ViT-B-32', 'ViT-B-32-quickgelu', 'ViT-L-14', 'spikeclip-tiny')
# Entries of OpenAI's TorchScript archives that are not weights (open_clip drops them too).
_OPENAI_ARCHIVE_EXTRAS = ('input_resolution', 'context_length', 'vocab_size')
# ITU-R BT.601 luma weights: the official SpikeCLIP evaluation turns CLIP's per-channel mean/std
# into one grey mean/std with them.
_LUMA = (0.299, 0.587, 0.114)
NORMALIZE_MODES = ('per_channel', 'grey')


def _looks_like_path(pretrained: str) -> bool:
    return (os.sep in pretrained or '/' in pretrained
            or pretrained.lower().endswith(_WEIGHT_SUFFIXES))


def _hub_offline() -> bool:
    """True when the user asked Hugging Face Hub not to touch the network.

    Read from the environment at call time: ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once at
    import, so a later ``monkeypatch.setenv`` would otherwise go unnoticed.
    """
    flag = os.environ.get('HF_HUB_OFFLINE', '').strip().upper()
    return flag in ('1', 'ON', 'YES', 'TRUE')


def _host_unreachable(host: str) -> bool:
    """True when ``host`` does not even resolve (and no proxy could resolve it for us).

    A download without network retries for ~20 s per file; a failed DNS lookup answers in
    milliseconds, so the caller can fail fast with a useful message instead.
    """
    proxies = ('HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'HTTP_PROXY', 'http_proxy')
    if any(os.environ.get(p) for p in proxies):
        return False
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


def url_cache_file(url: str, cache_dir: Optional[str] = None) -> str:
    """Where open_clip's URL download (and OpenAI's ``clip.load``) keeps ``url``'s file:
    ``<cache_dir or ~/.cache/clip>/<basename of url>``, e.g. ``~/.cache/clip/ViT-B-32.pt``."""
    return os.path.join(cache_dir or os.path.expanduser('~/.cache/clip'), os.path.basename(url))


def _verified_url_file(url: str, cache_dir: Optional[str]) -> Optional[str]:
    """The cached file of ``url`` after open_clip's own SHA-256 check, without any download.

    ``open_clip.pretrained.download_pretrained_from_url`` returns a cached file whose SHA-256
    matches the one in the URL (OpenAI's URLs carry it) and re-downloads otherwise; the
    re-download is stopped here (its warning is turned into an error) so that a stale or partial
    file is reported instead of silently touching the network.
    """
    path = url_cache_file(url, cache_dir)
    if not os.path.isfile(path):
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='.*SHA256 checksum does not match.*')
        try:
            return download_pretrained_from_url(url, cache_dir=cache_dir)
        except UserWarning:
            raise CheckpointError(
                f'{path} is not the file published at {url} (its SHA-256 differs: a partial or '
                f'corrupt download); delete it and fetch it again') from None


def _cached_tag_file(tag_cfg: Dict, cache_dir: Optional[str]) -> Optional[str]:
    """The local file that open_clip's download of ``tag_cfg`` would return, if already cached.

    Mirrors ``open_clip.pretrained.download_pretrained``: Hugging Face Hub first (a
    ``.safetensors`` twin before the named file), then the URL cache (``~/.cache/clip``, also
    where OpenAI's ``clip.load`` puts its TorchScript archives), checked by open_clip against
    the SHA-256 in the URL.
    """
    if tag_cfg.get('file') and os.path.isfile(tag_cfg['file']):
        return tag_cfg['file']
    hf_hub = tag_cfg.get('hf_hub', '')
    if hf_hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            repo_id, filename = os.path.split(hf_hub)
            filename = filename or HF_WEIGHTS_NAME
            candidates = [filename]
            if filename == HF_WEIGHTS_NAME:
                candidates.insert(0, HF_SAFE_WEIGHTS_NAME)
            elif filename.endswith(('.bin', '.pth')):
                candidates.insert(0, filename[:-4] + '.safetensors')
            for name in candidates:
                found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
    if tag_cfg.get('url'):
        return _verified_url_file(tag_cfg['url'], cache_dir)
    return None


def _base_arch(arch: str) -> str:
    """``arch`` without open_clip's ``-quickgelu`` suffix (the activation is compared apart)."""
    return arch[:-len('-quickgelu')] if arch.endswith('-quickgelu') else arch


def _how_to_get(arch: str, tag: str, cache_dir: Optional[str]) -> str:
    cache_arg = f', cache_dir={cache_dir!r}' if cache_dir else ''
    base = _base_arch(arch)
    return (f'To get them, run on a machine with network access:\n'
            f'    python -c "import open_clip; open_clip.create_model({arch!r}, '
            f'pretrained={tag!r}{cache_arg})"\n'
            f'and copy its cache (~/.cache/huggingface/hub, or the cache_dir) here; or pass a '
            f'local weight file: pretrained=\'/path/to/weights.safetensors\' (OpenAI\'s own '
            f'~/.cache/clip/{base}.pt archive is read as well). OpenAI\'s weights as a file need '
            f'QuickGELU: arch={base + "-quickgelu"!r} or quick_gelu=True. '
            f'`python tools/check_clip.py` shows what is found where.')


def resolve_pretrained(arch: str, pretrained: Optional[str],
                       cache_dir: Optional[str] = None) -> Tuple[Optional[str], Dict]:
    """Turn ``pretrained`` into what ``open_clip.create_model`` should load, in a fixed order.

    1. ``None``: random weights (the caller warns).
    2. An existing file: that file.
    3. Something that looks like a path (has a separator or a weight-file suffix) but does not
       exist: :class:`CheckpointError` naming it.
    4. An open_clip tag of ``arch`` (e.g. ``'openai'``): the cached file if there is one (no
       network touched; a URL-cache file must pass open_clip's SHA-256 check); otherwise the tag
       itself, for ``open_clip.pretrained.download_pretrained`` to fetch, unless the network is
       known to be unavailable (``HF_HUB_OFFLINE=1`` or the host does not resolve), which is a
       :class:`CheckpointError` saying how to get the weights.

    Args:
        arch (str): open_clip architecture name, e.g. ``'ViT-B-32'``.
        pretrained (str, optional): File path or open_clip tag.
        cache_dir (str, optional): open_clip download cache. Defaults to open_clip's.

    Returns:
        tuple[str | None, dict]: What to pass as ``pretrained`` to ``open_clip.create_model`` and
        what the tag says about the weights: ``quick_gelu`` (the activation they were trained
        with), ``force_preprocess_cfg`` and, for a download, ``cache_dir``. Empty for files.

    Raises:
        CheckpointError: The file is missing, the tag is unknown, or the tag's weights are not
            cached and cannot be downloaded.
    """
    if pretrained is None:
        return None, {}
    pretrained = os.fspath(pretrained)
    if os.path.isfile(pretrained):
        return pretrained, {}
    if _looks_like_path(pretrained):
        raise CheckpointError(
            f'CLIP weight file {pretrained!r} (arch {arch!r}) does not exist')
    tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise CheckpointError(
            f'pretrained={pretrained!r} is neither an existing file nor an open_clip tag of arch '
            f'{arch!r} (tags of {arch!r}: {tags or "none; pass a local weight file"})')
    # A tag records how its weights were trained; the arch config alone may differ (the OpenAI
    # weights use QuickGELU, the plain 'ViT-B-32' config does not).
    extra = dict(quick_gelu=bool(tag_cfg.get('quick_gelu', False)),
                 force_preprocess_cfg={k: tag_cfg[k] for k in _PREPROCESS_KEYS if k in tag_cfg})
    cached = _cached_tag_file(tag_cfg, cache_dir)
    if cached is not None:
        return cached, extra
    host = (urlparse(os.environ.get('HF_ENDPOINT', 'https://huggingface.co')).hostname
            if tag_cfg.get('hf_hub') else urlparse(tag_cfg.get('url', '')).hostname)
    if _hub_offline() or (host and _host_unreachable(host)):
        reason = 'HF_HUB_OFFLINE is set' if _hub_offline() else f'{host} cannot be reached'
        raise CheckpointError(
            f'CLIP weights {arch!r} pretrained={pretrained!r} are not in the local cache and '
            f'cannot be downloaded ({reason}). {_how_to_get(arch, pretrained, cache_dir)}')
    return pretrained, dict(extra, cache_dir=cache_dir)


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (what OpenAI's ``clip.load`` downloads)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n == 'constants.pkl' or n.endswith('/constants.pkl')
                   for n in archive.namelist())


def read_torchscript_weights(path: str) -> Tuple[Dict[str, Tensor], Optional[bool]]:
    """The weights of a TorchScript CLIP archive and whether its model uses QuickGELU.

    Safety: the archive is never executed. ``torch.jit.load`` would run the archive's
    TorchScript ``__setstate__`` methods while loading, and TorchScript can write files, so an
    archive named by a checkpoint's stored config could write anywhere the user can. The
    archive is read as data instead (:func:`~.torchscript_archive.read_archive_weights`): its
    ``data.pkl`` with an unpickler that resolves only tensor rebuilding and maps every
    TorchScript class to an inert placeholder recording its attributes, its tensors from the
    archive's uncompressed members with sizes checked, and which attributes are parameters and
    buffers from its code's ``__parameters__``/``__buffers__`` declarations, read as text, never
    run. A class that pickles a custom state or defines ``__setstate__`` is refused. The result
    equals ``torch.jit.load(path).state_dict()`` without the non-weight entries of OpenAI's
    archives (``input_resolution``, ``context_length``, ``vocab_size``).

    Returns:
        tuple: ``(state dict, quick_gelu)``, ``quick_gelu`` True/False when the archive's
        modules name their activation (``QuickGELU`` in OpenAI's), None when they do not.

    Raises:
        CheckpointError: The archive is not readable, or holds anything but modules and
            tensors.
    """
    state, names = read_archive_weights(path)
    quick_gelu = True if 'QuickGELU' in names else False if 'GELU' in names else None
    state = {k: v for k, v in state.items() if k not in _OPENAI_ARCHIVE_EXTRAS}
    return state, quick_gelu


def load_state_dict_into(model: nn.Module, state_dict: Dict[str, Tensor], source: str) -> None:
    """Load a CLIP state dict into an open_clip model strictly, as ``open_clip.load_checkpoint``
    does for a file (open_clip's third-party conversion, the ``logit_scale`` shape), casting
    OpenAI's float16 weights to the model's float32.

    Non-persistent buffers (``attn_mask``, which a traced archive stores) are dropped.

    Raises:
        CheckpointError: Missing, unexpected or wrongly shaped weights (names ``source``).
    """
    own = model.state_dict()
    transient = {n for n, _ in model.named_buffers() if n not in own}
    state = {k: v for k, v in state_dict.items() if k not in transient}
    state = convert_state_dict(model, state)
    if 'logit_scale' in state and state['logit_scale'].ndim != model.logit_scale.ndim:
        state['logit_scale'] = state['logit_scale'].reshape(model.logit_scale.shape)
    load_weights(model, state, source, 'the CLIP architecture')


@contextmanager
def _no_random_init_notice() -> Iterator[None]:
    """Hide open_clip's "Model initialized randomly" warning while the weights are loaded
    right after creation (it would tell the user the opposite of what happens)."""

    class _Drop(logging.Filter):
        def filter(self, record):
            return 'initialized randomly' not in record.getMessage()

    drop, root = _Drop(), logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of every weight of ``model`` (names, shapes, float32
    values): the same weights give the same fingerprint whatever file format or precision they
    came from."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        value = value.detach().to('cpu', torch.float32).contiguous()
        digest.update(f'{name}:{tuple(value.shape)};'.encode())
        digest.update(value.numpy().data)
    return digest.hexdigest()[:16]


def check_clip_identity(expected: Optional[dict], actual: dict, where: str,
                        source: str) -> None:
    """Refuse a CLIP that is not the one ``source``'s learned parts were made with.

    Args:
        expected (dict, optional): :attr:`FrozenCLIP.identity` recorded by ``source``; None for
            checkpoints written before identities were recorded (a warning, nothing checked).
        actual (dict): :attr:`FrozenCLIP.identity` of the CLIP in use.
        where (str): What is being built, for the message (e.g. ``'stage 3'``).
        source (str): The checkpoint the expectation comes from.

    Raises:
        CheckpointError: Another architecture, activation, set of weights, normalisation or
            preprocessing (the last two where ``expected`` records them); every difference is
            named.
    """
    if not expected:
        print_log(f'{source} does not record which CLIP its prompts were learned with (written '
                  f'by an older version); {where} cannot check that its CLIP is the same',
                  logger='current', level=logging.WARNING)
        return
    diffs = []
    if _base_arch(expected.get('arch', '')) != _base_arch(actual['arch']):
        diffs.append(f'arch {actual["arch"]!r} vs {expected.get("arch")!r}')
    if bool(expected.get('quick_gelu')) != bool(actual['quick_gelu']):
        diffs.append(f'quick_gelu={actual["quick_gelu"]} vs {expected.get("quick_gelu")}')
    if expected.get('weights') != actual['weights']:
        diffs.append(f'weights {actual["weights"]} (pretrained={actual.get("pretrained")!r}) vs '
                     f'{expected.get("weights")} (pretrained={expected.get("pretrained")!r})')
    # Recorded since identities cover every feature setting; older identities lack them.
    for key in ('normalize', 'preprocess'):
        if key in expected and expected[key] != actual.get(key):
            diffs.append(f'{key}={actual.get(key)!r} vs {expected[key]!r}')
    if diffs:
        raise CheckpointError(
            f'{where} uses another CLIP than the one {source} was trained with: '
            f'{"; ".join(diffs)} (here vs there). Prompts and features learned with one CLIP '
            f'mean nothing to another; set model.clip to the CLIP of {source}')


def clip_logits(image_features: Tensor, text_features: Tensor,
                scale: Union[Tensor, float]) -> Tensor:
    """``scale * image_features @ text_features.T`` in float32, with autocast switched off.

    At CLIP's logit scale of 100, bf16 rounding of the product flips close top-1 decisions
    (docs/clip.md); every CLIP logit of the toolkit is computed here.

    Args:
        image_features (Tensor): ``[N, D]`` unit-norm image features.
        text_features (Tensor): ``[K, D]`` unit-norm text (prompt) features.
        scale (Tensor | float): Multiplier (CLIP's ``logit_scale.exp()``, or a learned one).

    Returns:
        Tensor: ``[N, K]`` float32 logits.
    """
    with torch.autocast(image_features.device.type, enabled=False):
        scale = torch.as_tensor(scale, device=image_features.device).float()
        return scale * (image_features.float() @ text_features.float().t())


def _unit(x: Tensor) -> Tensor:
    """``x`` L2-normalised along the last dimension, in float32 outside autocast."""
    with torch.autocast(x.device.type, enabled=False):
        return F.normalize(x.float(), dim=-1)


def _check_arch(arch: str) -> str:
    name = arch.replace('/', '-')  # 'ViT-B/32' is the OpenAI spelling of 'ViT-B-32'
    available = open_clip.list_models()
    if name not in available:
        some = ', '.join(a for a in _COMMON_ARCHS if a in available)
        raise ConfigError(
            f'unknown CLIP arch {arch!r}; open_clip knows {len(available)} archs, e.g. {some} '
            f'(full list: open_clip.list_models())')
    return name


def _plain_preprocess(cfg: dict) -> dict:
    """A preprocessing config as plain, comparable values (tuples as lists, sorted keys)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(cfg.items())}


def _uses_quick_gelu(model: nn.Module) -> bool:
    return any(type(m).__name__ == 'QuickGELU' for m in model.modules())


@MODELS.register_module()
class FrozenCLIP(nn.Module):
    """A frozen open_clip CLIP: image and text features, and a text encoder on token embeddings.

    Args:
        arch (str): open_clip architecture, e.g. ``'ViT-B-32'`` or the test-sized
            ``'spikeclip-tiny'``. Defaults to ``'ViT-B-32'``.
        pretrained (str, optional): Weights: a local file (a state dict, ``.safetensors``, or a
            TorchScript archive such as OpenAI's ``~/.cache/clip/ViT-B-32.pt``), or an open_clip
            tag such as ``'openai'`` loaded from open_clip's cache (see
            :func:`resolve_pretrained`). ``None`` means random weights (logged as a warning).
            Defaults to ``'openai'``.
        cache_dir (str, optional): open_clip download cache. Defaults to open_clip's.
        quick_gelu (bool, optional): Use QuickGELU (what OpenAI's weights were trained with)
            instead of GELU. ``None`` follows the weights where they say it (an open_clip tag,
            or the modules of a TorchScript archive), else the arch (``'ViT-B-32-quickgelu'``
            has it, ``'ViT-B-32'`` not), and warns when a state-dict file looks like OpenAI
            weights (logit scale 100) in a GELU arch. Defaults to None.
        normalize (str): ``'per_channel'``: CLIP's per-channel mean/std on the grey image
            repeated to RGB (as CLIP sees a grey photograph). ``'grey'``: one grey mean/std, the
            luma-weighted combination of CLIP's, as the official SpikeCLIP evaluation does (to
            evaluate its released weights as published). Defaults to ``'per_channel'``.

    Raises:
        ConfigError: Unknown arch or ``normalize``, or an arch whose text tower is not
            open_clip's built-in one.
        CheckpointError: The weights are missing or do not fit the arch.
    """

    # Inference (spikeclip.engine.fast_inference.prepare_for_inference) keeps CLIP in float32
    # under bf16 autocast, so that tools/infer.py decides classes as tools/test.py does (fp32):
    # bf16 towers still flip some close top-1 decisions with fp32 logits (docs/clip.md).
    supports_bf16 = False
    # True: both towers run in float32 even inside an autocast region (set by inference).
    # False (training): they run in the ambient precision; features and logits stay float32.
    fp32_towers = False

    def __init__(self, arch: str = 'ViT-B-32', pretrained: Optional[str] = 'openai',
                 cache_dir: Optional[str] = None, quick_gelu: Optional[bool] = None,
                 normalize: str = 'per_channel'):
        super().__init__()
        self.arch = _check_arch(arch)
        if normalize not in NORMALIZE_MODES:
            raise ConfigError(f'FrozenCLIP normalize must be one of {NORMALIZE_MODES}, got '
                              f'{normalize!r}')
        pretrained = None if pretrained is None else os.fspath(pretrained)
        checkpoint, extra = resolve_pretrained(self.arch, pretrained, cache_dir)
        if checkpoint is None:
            print_log(f'FrozenCLIP: pretrained=None, {self.arch!r} has RANDOM weights',
                      logger='current', level=logging.WARNING)
        user_file = pretrained is not None and os.path.isfile(pretrained)
        cache = extra.pop('cache_dir', None)
        if checkpoint is not None and not os.path.isfile(checkpoint):  # a tag, not cached yet
            try:  # open_clip's own download and cache (Hugging Face Hub first, then the URL)
                checkpoint = download_pretrained(
                    open_clip.get_pretrained_cfg(self.arch, checkpoint), cache_dir=cache)
            except Exception as e:  # network errors of urllib / huggingface_hub
                raise CheckpointError(
                    f'could not download CLIP weights {self.arch!r} pretrained={pretrained!r}: '
                    f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}. '
                    f'{_how_to_get(self.arch, str(pretrained), cache_dir)}') from e
        archive_state = None
        trained_quick = extra.pop('quick_gelu', None)  # what a tag's weights were trained with
        if checkpoint is not None and os.path.isfile(checkpoint) and \
                is_torchscript_archive(checkpoint):
            archive_state, archive_quick = read_torchscript_weights(checkpoint)
            trained_quick = archive_quick if archive_quick is not None else trained_quick
        use_quick = self._resolve_quick_gelu(quick_gelu, trained_quick, checkpoint)
        kwargs = dict(extra)
        if use_quick:
            kwargs['force_quick_gelu'] = True
        elif open_clip.get_model_config(self.arch).get('quick_gelu', False):
            kwargs['quick_gelu'] = False  # an explicit quick_gelu=False on a '-quickgelu' arch
        try:
            if archive_state is not None:
                with _no_random_init_notice():
                    model = open_clip.create_model(self.arch, pretrained=None, **kwargs)
                load_state_dict_into(model, archive_state, checkpoint)
            else:
                model = open_clip.create_model(self.arch, pretrained=checkpoint, **kwargs)
        except CheckpointError:
            raise
        except Exception as e:  # open_clip raises RuntimeError/FileNotFoundError/... for weights
            how = '' if user_file else ' ' + _how_to_get(self.arch, str(pretrained), cache_dir)
            raise CheckpointError(
                f'could not load CLIP weights pretrained={pretrained!r} into arch {self.arch!r}: '
                f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}.{how}') from e
        if not isinstance(model, open_clip.CLIP):
            raise ConfigError(f'FrozenCLIP supports archs with open_clip\'s built-in text '
                              f'transformer; {self.arch!r} builds a {type(model).__name__}')
        self.model = model
        self.pretrained = pretrained
        self.weights_file = checkpoint if checkpoint is not None and os.path.isfile(
            checkpoint) else None
        self.quick_gelu = _uses_quick_gelu(model)
        self.normalize = normalize
        model.requires_grad_(False)
        super().train(False)
        if quick_gelu is None and trained_quick is None and checkpoint is not None \
                and not self.quick_gelu and abs(float(self.logit_scale) - 100) < 0.5:
            print_log(
                f'FrozenCLIP: {checkpoint} has a logit scale of 100, like OpenAI\'s CLIP '
                f'weights, which were trained with QuickGELU, but arch {self.arch!r} uses GELU '
                f'(zero-shot accuracy suffers). If these are OpenAI\'s weights, set '
                f'quick_gelu=True (or arch={_base_arch(self.arch) + "-quickgelu"!r}); if they '
                f'were trained with GELU (e.g. LAION\'s), set quick_gelu=False to silence this',
                logger='current', level=logging.WARNING)

        self.preprocess_cfg = dict(open_clip.get_model_preprocess_cfg(model))
        mean, std = self.preprocess_cfg['mean'], self.preprocess_cfg['std']
        if normalize == 'grey':
            grey_mean = sum(w * m for w, m in zip(_LUMA, mean))
            grey_std = math.sqrt(sum((w * s)**2 for w, s in zip(_LUMA, std)))
            mean, std = (grey_mean, ) * 3, (grey_std, ) * 3
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.tokenizer = open_clip.get_tokenizer(self.arch)
        self.weights_fingerprint = weights_fingerprint(model)

    def _resolve_quick_gelu(self, quick_gelu: Optional[bool], trained_quick: Optional[bool],
                            checkpoint: Optional[str]) -> bool:
        if quick_gelu is None:
            if trained_quick is not None:
                return trained_quick
            return bool(open_clip.get_model_config(self.arch).get('quick_gelu', False))
        if trained_quick is not None and bool(quick_gelu) != trained_quick:
            print_log(f'FrozenCLIP: quick_gelu={quick_gelu}, but the weights ({checkpoint}) were '
                      f'trained with {"QuickGELU" if trained_quick else "GELU"}',
                      logger='current', level=logging.WARNING)
        return bool(quick_gelu)

    def train(self, mode: bool = True) -> 'FrozenCLIP':
        """Stay in eval mode whatever ``mode`` is (CLIP is frozen; dropout/BN never train)."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def image_size(self) -> Tuple[int, int]:
        """``(H, W)`` of the images the vision tower takes."""
        size = self.model.visual.image_size
        return (size, size) if isinstance(size, int) else tuple(size)

    @property
    def embed_dim(self) -> int:
        """``D``, the dimension of the joint image-text feature space."""
        return int(self.model.visual.output_dim)

    @property
    def width(self) -> int:
        """``W``, the dimension of the token embeddings."""
        return int(self.model.token_embedding.embedding_dim)

    @property
    def context_length(self) -> int:
        """``L``, the number of token positions of the text encoder."""
        return int(self.model.context_length)

    @property
    def logit_scale(self) -> Tensor:
        """CLIP's learned inverse temperature ``exp(logit_scale)`` (0-dim float32, no grad)."""
        return self.model.logit_scale.detach().float().exp()

    @property
    def identity(self) -> dict:
        """Everything that changes CLIP's features, which learned prompts and features depend
        on: ``arch``, ``quick_gelu``, ``weights`` (the fingerprint of
        :func:`weights_fingerprint`), ``normalize`` and ``preprocess`` (image size, resize mode,
        interpolation, mean/std: from the arch or a tag's weights); and, for the messages,
        ``pretrained``. Not in it: the run's precision (autocast), a setting of each run.
        Stage checkpoints record it; :func:`check_clip_identity` compares two."""
        return dict(arch=self.arch, quick_gelu=self.quick_gelu,
                    weights=self.weights_fingerprint, normalize=self.normalize,
                    preprocess=_plain_preprocess(self.preprocess_cfg), pretrained=self.pretrained)

    def describe(self) -> dict:
        """Architecture, activation, weights and preprocessing, as JSON-ready values."""
        pp = _plain_preprocess(self.preprocess_cfg)
        return dict(self.identity, weights_file=self.weights_file,
                    activation='QuickGELU' if self.quick_gelu else 'GELU',
                    logit_scale=round(float(self.logit_scale), 4), image_size=self.image_size,
                    normalize=self.normalize, preprocess=pp,
                    grey_mean_std=[round(float(self.mean[0, 0]), 6),
                                   round(float(self.std[0, 0]), 6)]
                    if self.normalize == 'grey' else None)

    def _resize(self, x: Tensor) -> Tensor:
        """Resize and crop ``[N, C, H, W]`` to :attr:`image_size` as open_clip's evaluation
        transform does for these weights (``preprocess_cfg``: ``resize_mode``
        ``'shortest'`` = resize the short side + centre crop, ``'longest'`` = resize the long
        side + centre pad, ``'squash'``; ``interpolation``), with antialiasing as PIL has."""
        size = self.image_size
        if tuple(x.shape[-2:]) == size:
            return x
        pp = self.preprocess_cfg
        interp = TF.InterpolationMode(pp.get('interpolation', 'bicubic'))
        mode = pp.get('resize_mode', 'shortest')
        h, w = x.shape[-2:]
        if mode == 'squash':
            x = TF.resize(x, list(size), interp, antialias=True)
        elif mode in ('shortest', 'longest'):
            if mode == 'shortest' and size[0] == size[1]:
                x = TF.resize(x, size[0], interp, antialias=True)  # torchvision's short side
            else:
                ratios = (h / size[0], w / size[1])
                ratio = min(ratios) if mode == 'shortest' else max(ratios)
                x = TF.resize(x, [round(h / ratio), round(w / ratio)], interp, antialias=True)
            if mode == 'longest' and pp.get('fill_color', 0):
                pad_h, pad_w = max(size[0] - x.shape[-2], 0), max(size[1] - x.shape[-1], 0)
                x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2),
                          value=pp['fill_color'] / 255)
            x = TF.center_crop(x, list(size))  # pads with 0 where the image is smaller
        else:
            raise ConfigError(f'{self.arch}: unknown resize_mode {mode!r} in the weights\' '
                              'preprocessing config')
        if interp == TF.InterpolationMode.BICUBIC:
            x = x.clamp(0, 1)  # PIL's 8-bit bicubic result cannot overshoot [0, 1] either
        return x

    def preprocess(self, img: Tensor) -> Tensor:
        """Images in [0, 1] as the vision tower takes them, differentiably.

        Args:
            img (Tensor): ``[N, C, H, W]`` in [0, 1], ``C`` = 1 (grey, repeated to RGB) or 3.

        Returns:
            Tensor: ``[N, 3, h, w]`` float32, resized/cropped to :attr:`image_size` as the
            weights' preprocessing config says and normalised (see ``normalize``).
        """
        if img.ndim != 4 or img.shape[1] not in (1, 3):
            raise ValueError(
                f'encode_image expects [N, 1 or 3, H, W] images, got {tuple(img.shape)}')
        with torch.autocast(img.device.type, enabled=False):
            x = self._resize(img.float())
            return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def encode_image(self, img: Tensor) -> Tensor:
        """L2-normalised image features; differentiable with respect to ``img``.

        The vision tower runs in the ambient precision (bf16 under autocast); the features are
        normalised in float32.

        Args:
            img (Tensor): ``[N, C, H, W]`` in [0, 1], ``C`` = 1 (grey, repeated to RGB) or 3.
                Any ``H, W``: see :meth:`preprocess`.

        Returns:
            Tensor: ``[N, D]`` unit-norm float32 features.
        """
        x = self.preprocess(img)
        with self._tower_precision(x):
            return _unit(self.model.encode_image(x))

    def _tower_precision(self, x: Tensor):
        """Autocast off for the towers when :attr:`fp32_towers`, else the ambient precision."""
        if self.fp32_towers:
            return torch.autocast(x.device.type, enabled=False)
        return nullcontext()

    def logits(self, image_features: Tensor, text_features: Tensor,
               scale: Union[Tensor, float, None] = None) -> Tensor:
        """float32 ``[N, K]`` logits ``scale * image @ text.T`` (see :func:`clip_logits`);
        ``scale`` defaults to :attr:`logit_scale`."""
        return clip_logits(image_features, text_features,
                           self.logit_scale if scale is None else scale)

    def tokenize(self, texts: Sequence[str]) -> Tensor:
        """Token ids ``[K, L]`` (start-of-text, BPE tokens, end-of-text, zero padding)."""
        return self.tokenizer(list(texts)).to(self.device)

    def token_embedding(self, tokens: Tensor) -> Tensor:
        """Token embeddings ``[K, L, W]`` of token ids ``[K, L]``."""
        return self.model.token_embedding(tokens)

    def word_embeddings(self, text: str) -> Tensor:
        """Embeddings ``[n, W]`` of the ``n`` BPE tokens of ``text`` (no start/end tokens)."""
        tokens = self.tokenize([text])[0]
        return self.token_embedding(tokens[1:int(tokens.argmax())])

    def encode_token_embeddings(self, embeds: Tensor, tokens: Tensor) -> Tensor:
        """Run CLIP's text encoder on token embeddings (``model.encode_text`` from its 2nd line).

        Adds the positional embedding, runs the causal text transformer, applies ``ln_final``,
        takes the feature at the end-of-text position (``tokens.argmax(-1)``: the end-of-text id
        is the largest) and projects it (where the model has a projection). Only positions up
        to the end-of-text token influence the result.

        Args:
            embeds (Tensor): ``[K, L, W]`` token embeddings (learned or from
                :meth:`token_embedding`), ``L`` = :attr:`context_length`.
            tokens (Tensor): ``[K, L]`` token ids giving the end-of-text positions.

        Returns:
            Tensor: ``[K, D]`` unit-norm float32 text features.
        """
        m = self.model
        cast_dtype = m.transformer.get_cast_dtype()
        with self._tower_precision(embeds):
            x = embeds.to(cast_dtype) + m.positional_embedding.to(cast_dtype)
            x = m.transformer(x, attn_mask=m.attn_mask)
            x = m.ln_final(x)
            x = text_global_pool(x, tokens, m.text_pool_type, eos_token_id=m.text_eos_id)
            if m.text_projection is not None:  # some open_clip models have none
                x = m.text_projection(x) if isinstance(m.text_projection, nn.Linear) \
                    else x @ m.text_projection
            return _unit(x)

    def encode_text(self, texts: List[str]) -> Tensor:
        """L2-normalised float32 features ``[K, D]`` of ``K`` texts."""
        tokens = self.tokenize(texts)
        return self.encode_token_embeddings(self.token_embedding(tokens), tokens)

    def extra_repr(self) -> str:
        return (f'arch={self.arch!r}, pretrained={self.pretrained!r}, '
                f'quick_gelu={self.quick_gelu}, normalize={self.normalize!r}, frozen')
