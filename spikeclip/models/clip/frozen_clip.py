"""A frozen open_clip CLIP model with the entry points the three SpikeCLIP stages need.

Stage 1 and stage 3 train an image network *through* CLIP (gradients reach the input image),
stage 2 learns prompt token embeddings that run through CLIP's frozen text encoder. CLIP itself
never trains: every parameter has ``requires_grad=False`` and the module stays in eval mode.

Weights are resolved in a fixed order (see :func:`resolve_pretrained`), and a weight that cannot
be found is a :class:`CheckpointError` that says how to get it, never a silent random model.
"""
import logging
import os
import socket
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

import open_clip
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from open_clip.transformer import text_global_pool
from torch import Tensor, nn

from spikeclip.registry import MODELS
from spikeclip.utils.errors import CheckpointError, ConfigError

from . import tiny  # noqa: F401  (registers the 'spikeclip-tiny' architecture)

_WEIGHT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt')
_PREPROCESS_KEYS = ('mean', 'std', 'interpolation', 'resize_mode')
_COMMON_ARCHS = ('RN50', 'ViT-B-16', 'ViT-B-32', 'ViT-B-32-quickgelu', 'ViT-L-14', 'spikeclip-tiny')


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


def _cached_tag_file(tag_cfg: Dict, cache_dir: Optional[str]) -> Optional[str]:
    """The local file that open_clip's download of ``tag_cfg`` would return, if already cached.

    Mirrors ``open_clip.pretrained.download_pretrained``: Hugging Face Hub first (a
    ``.safetensors`` twin before the named file), then the URL cache (``~/.cache/clip``).
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
    url = tag_cfg.get('url', '')
    if url:
        path = os.path.join(cache_dir or os.path.expanduser('~/.cache/clip'), os.path.basename(url))
        if os.path.isfile(path):
            return path
    return None


def _how_to_get(arch: str, tag: str, cache_dir: Optional[str]) -> str:
    cache_arg = f', cache_dir={cache_dir!r}' if cache_dir else ''
    return (f'To get them, run on a machine with network access:\n'
            f'    python -c "import open_clip; open_clip.create_model({arch!r}, '
            f'pretrained={tag!r}{cache_arg})"\n'
            f'and copy its cache (~/.cache/huggingface/hub, or the cache_dir) here, or pass a '
            f"local weight file instead: pretrained='/path/to/open_clip_model.safetensors'.")


def resolve_pretrained(arch: str, pretrained: Optional[str],
                       cache_dir: Optional[str] = None) -> Tuple[Optional[str], Dict]:
    """Turn ``pretrained`` into what ``open_clip.create_model`` should load, in a fixed order.

    1. ``None``: random weights (the caller warns).
    2. An existing file: that file.
    3. Something that looks like a path (has a separator or a weight-file suffix) but does not
       exist: :class:`CheckpointError` naming it.
    4. An open_clip tag of ``arch`` (e.g. ``'openai'``): the cached file if there is one (no
       network touched); otherwise the tag itself for open_clip to download, unless the network
       is known to be unavailable (``HF_HUB_OFFLINE=1`` or the host does not resolve), which is
       a :class:`CheckpointError` saying how to get the weights.

    Args:
        arch (str): open_clip architecture name, e.g. ``'ViT-B-32'``.
        pretrained (str, optional): File path or open_clip tag.
        cache_dir (str, optional): open_clip download cache. Defaults to open_clip's.

    Returns:
        tuple[str | None, dict]: What to pass as ``pretrained`` to ``open_clip.create_model`` and
        extra keyword arguments for it (QuickGELU and preprocessing of a tag).

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
    extra = dict(force_quick_gelu=bool(tag_cfg.get('quick_gelu', False)),
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


def _check_arch(arch: str) -> str:
    name = arch.replace('/', '-')  # 'ViT-B/32' is the OpenAI spelling of 'ViT-B-32'
    available = open_clip.list_models()
    if name not in available:
        some = ', '.join(a for a in _COMMON_ARCHS if a in available)
        raise ConfigError(
            f'unknown CLIP arch {arch!r}; open_clip knows {len(available)} archs, e.g. {some} '
            f'(full list: open_clip.list_models())')
    return name


@MODELS.register_module()
class FrozenCLIP(nn.Module):
    """A frozen open_clip CLIP: image and text features, and a text encoder on token embeddings.

    Args:
        arch (str): open_clip architecture, e.g. ``'ViT-B-32'`` or the test-sized
            ``'spikeclip-tiny'``. Defaults to ``'ViT-B-32'``.
        pretrained (str, optional): Weights: a local file, or an open_clip tag such as
            ``'openai'`` loaded from open_clip's cache (see :func:`resolve_pretrained`).
            ``None`` means random weights (logged as a warning). Defaults to ``'openai'``.
            For OpenAI weights given as a *file*, pick the ``'-quickgelu'`` arch
            (e.g. ``'ViT-B-32-quickgelu'``): a tag sets QuickGELU itself, a file cannot.
        cache_dir (str, optional): open_clip download cache. Defaults to open_clip's.

    Raises:
        ConfigError: Unknown arch, or one whose text tower is not open_clip's built-in one.
        CheckpointError: The weights are missing or do not fit the arch.
    """

    def __init__(self, arch: str = 'ViT-B-32', pretrained: Optional[str] = 'openai',
                 cache_dir: Optional[str] = None):
        super().__init__()
        self.arch = _check_arch(arch)
        pretrained = None if pretrained is None else os.fspath(pretrained)
        checkpoint, extra = resolve_pretrained(self.arch, pretrained, cache_dir)
        if checkpoint is None:
            print_log(f'FrozenCLIP: pretrained=None, {self.arch!r} has RANDOM weights',
                      logger='current', level=logging.WARNING)
        try:
            model = open_clip.create_model(self.arch, pretrained=checkpoint, **extra)
        except Exception as e:  # open_clip raises RuntimeError/FileNotFoundError/... for weights
            user_file = pretrained is not None and os.path.isfile(pretrained)
            how = '' if user_file else ' ' + _how_to_get(self.arch, str(pretrained), cache_dir)
            raise CheckpointError(
                f'could not load CLIP weights pretrained={pretrained!r} into arch {self.arch!r}: '
                f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}.{how}') from e
        if not isinstance(model, open_clip.CLIP):
            raise ConfigError(f'FrozenCLIP supports archs with open_clip\'s built-in text '
                              f'transformer; {self.arch!r} builds a {type(model).__name__}')
        self.model = model
        self.pretrained = pretrained
        model.requires_grad_(False)
        super().train(False)

        pp = open_clip.get_model_preprocess_cfg(model)
        self.register_buffer('mean', torch.tensor(pp['mean']).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(pp['std']).view(1, 3, 1, 1), persistent=False)
        self.tokenizer = open_clip.get_tokenizer(self.arch)

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
        """CLIP's learned inverse temperature ``exp(logit_scale)`` (0-dim tensor, no grad)."""
        return self.model.logit_scale.detach().exp()

    def encode_image(self, img: Tensor) -> Tensor:
        """L2-normalised image features; differentiable with respect to ``img``.

        Args:
            img (Tensor): ``[N, C, H, W]`` in [0, 1], ``C`` = 1 (grey, repeated to RGB) or 3.
                Any ``H, W``: resized (bilinear) to :attr:`image_size`.

        Returns:
            Tensor: ``[N, D]`` unit-norm features.
        """
        if img.ndim != 4 or img.shape[1] not in (1, 3):
            raise ValueError(
                f'encode_image expects [N, 1 or 3, H, W] images, got {tuple(img.shape)}')
        x = img.to(self.mean.dtype)
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode='bilinear', align_corners=False)
        x = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        return F.normalize(self.model.encode_image(x), dim=-1)

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
        is the largest) and projects it. Only positions up to the end-of-text token influence
        the result.

        Args:
            embeds (Tensor): ``[K, L, W]`` token embeddings (learned or from
                :meth:`token_embedding`), ``L`` = :attr:`context_length`.
            tokens (Tensor): ``[K, L]`` token ids giving the end-of-text positions.

        Returns:
            Tensor: ``[K, D]`` unit-norm text features.
        """
        m = self.model
        cast_dtype = m.transformer.get_cast_dtype()
        x = embeds.to(cast_dtype) + m.positional_embedding.to(cast_dtype)
        x = m.transformer(x, attn_mask=m.attn_mask)
        x = m.ln_final(x)
        x = text_global_pool(x, tokens, m.text_pool_type, eos_token_id=m.text_eos_id)
        x = m.text_projection(x) if isinstance(m.text_projection, nn.Linear) \
            else x @ m.text_projection
        return F.normalize(x, dim=-1)

    def encode_text(self, texts: List[str]) -> Tensor:
        """L2-normalised features ``[K, D]`` of ``K`` texts."""
        tokens = self.tokenize(texts)
        return self.encode_token_embeddings(self.token_embedding(tokens), tokens)

    def extra_repr(self) -> str:
        return f'arch={self.arch!r}, pretrained={self.pretrained!r}, frozen'
