"""The model config a checkpoint carries (``meta.spikeclip.model``): checked before anything is
built from it, and its file paths resolved.

The stored config is data read from a file that may come from anywhere. MMEngine's
``Registry.build`` imports any ``type`` it does not find registered (``type='subprocess.Popen'``
runs a command; an unknown plain name is imported as a module), so a stored config must never
reach a registry unchecked. :func:`check_stored_model_cfg` walks it first and accepts only what
the stage models build from their configs:

* the top level: a registered stage model (``CoarseModel``, ``PromptModel``, ``RefineModel``,
  ``SpikeCLIP``);
* ``encoder``, ``coarse`` and ``parts.encoder``: a registered encoder (and the encoder it wraps,
  ``short`` of ``AdaptiveWindow``); ``hq_lq`` and
  ``class_prompt`` (also under ``parts``): a registered adapter; ``refiner``: a registered
  refiner; each entry of ``losses``: a registered loss; ``clip``: ``FrozenCLIP``;
  ``data_preprocessor``: a registered data preprocessor (MMEngine's included);
* nowhere else a ``type`` or a ``_scope_``; every other value a plain ``str``/``int``/``float``/
  ``bool``/``None``, or a list, tuple or dict of them.

A type must be a plain name found in the registry's own tables (never through
``Registry.get``, which would import it): dotted (``'os.system'``) and scoped (``'mmdet.X'``)
names and non-string types are refused with a :class:`CheckpointError` that names the file and
the field, e.g. ``meta.spikeclip.model.refiner.type``. A component of your own must be imported
(``custom_imports``) before a checkpoint that uses it is loaded.

Before that walk, :func:`check_stored_limits` bounds the config iteratively (a few pickled bytes of
shared references, ``x = [x, x]`` 40 levels deep, are 2**40 paths): at most :data:`MAX_NODES`
values, :data:`MAX_DEPTH` levels and :data:`MAX_STR` characters a string, string keys only. Fields
that would read a file or format for long take one shape only: ``class_names`` and
``prompt_names`` a list of strings (a string there names a file or a packaged list; the user's
own config and ``--cfg-options`` still may), ``prompt_template`` a string of at most
:data:`MAX_TEMPLATE` characters with exactly one bare ``{}`` (a format spec such as
``'{:>200000000}'`` would build a huge string per class).

The frozen CLIP's ``pretrained`` may name a weight file: new checkpoints store it absolute
(:func:`absolute_paths`); a relative one (older checkpoints, or written by hand) is resolved
against the checkpoint's folder, then the current directory (``~`` is never expanded: a stored
path starting with it is refused), and a missing one is an error that
says where the path came from and how to point it elsewhere (``--cfg-options
model.clip.pretrained=...``). It may also name an open_clip tag (``'openai'``) whose weights
open_clip downloads when they are not cached. :func:`spikeclip.utils.env.offline`
(``SPIKECLIP_OFFLINE=1``, or ``--offline`` of the tools) forbids that: such a file is refused
before anything is built.
"""
import copy
import logging
import os
import os.path as osp
import re
from typing import Any, Optional

from mmengine.logging import print_log

from ...registry import ADAPTERS, ENCODERS, LOSSES, MODELS, REFINERS
from ...utils.env import OFFLINE_ENV, offline
from ...utils.errors import CheckpointError

ROOT_FIELD = 'meta.spikeclip.model'
# FrozenCLIP's default ``pretrained`` (a stored clip config without the key loads it).
_CLIP_DEFAULT_PRETRAINED = 'openai'
_PLAIN_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
_PLAIN_TYPES = (str, int, float, bool, type(None))
# Bounds of a stored config: far above what the stage models store (a few hundred values, depth
# under 10), far below what makes the check slow (shared references visited once per path).
MAX_NODES = 100_000
MAX_DEPTH = 32
MAX_STR = 4096
MAX_TEMPLATE = 256
# Fields that take names: lists of strings only in a stored config (a string names a file or a
# packaged list, and a stored config may come from anyone; the user's own config still may).
_NAME_LIST_FIELDS = ('class_names', 'prompt_names')
# Stored fields that name earlier-stage checkpoints: exported configs replace them with the
# configs of the parts those checkpoints held, so a stored config never has them.
_CHECKPOINT_FIELDS = ('coarse_checkpoint', 'prompt_checkpoint')
# Encoder arguments that are themselves encoder configs (AdaptiveWindow's short model).
_WRAPPED_ENCODER_FIELDS = ('short', )


def _component_kinds() -> dict:
    """Field -> (registry, base class or None, what it is called in messages)."""
    from mmengine.model import BaseDataPreprocessor

    from ..clip import FrozenCLIP
    return {
        'encoder': (ENCODERS, None, 'encoder'),
        'coarse': (ENCODERS, None, 'encoder'),
        'zeroshot_encoder': (ENCODERS, None, 'encoder'),
        'hq_lq': (ADAPTERS, None, 'prompt adapter'),
        'class_prompt': (ADAPTERS, None, 'prompt adapter'),
        'refiner': (REFINERS, None, 'refiner'),
        'losses': (LOSSES, None, 'loss'),
        'clip': (MODELS, FrozenCLIP, 'CLIP model'),
        'data_preprocessor': (MODELS, BaseDataPreprocessor, 'data preprocessor'),
    }


def _registered(registry, name: str) -> Optional[type]:
    """The class registered as ``name`` in ``registry`` or its parents, without importing."""
    while registry is not None:
        registry.import_from_location()
        if name in registry.module_dict:
            return registry.module_dict[name]
        registry = registry.parent
    return None


def _registered_names(registry, base) -> list:
    names = set()
    while registry is not None:
        registry.import_from_location()
        names.update(n for n, c in registry.module_dict.items()
                     if base is None or (isinstance(c, type) and issubclass(c, base)))
        registry = registry.parent
    return sorted(names)


def _refuse(source: str, where: str, what: str) -> CheckpointError:
    return CheckpointError(f'{source}: {where} {what}; refusing to build anything from this file')


def _check_field(key: str, value: Any, source: str, where: str) -> None:
    """The fields a stored config may only hold in one shape (module doc)."""
    if key in _NAME_LIST_FIELDS and value is not None:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _refuse(source, where, f'is a {type(value).__name__}; a stored config takes '
                          'names as a list of strings only (a file or a named list can be given '
                          f'by your own config or --cfg-options {_option(where)}=...)')
    elif key == 'prompt_template' and value is not None:
        if not isinstance(value, str) or len(value) > MAX_TEMPLATE or value.count('{}') != 1 \
                or '{' in value.replace('{}', '') or '}' in value.replace('{}', ''):
            raise _refuse(source, where, f'must be a string of at most {MAX_TEMPLATE} characters '
                          'with exactly one bare {} (where the class name goes) and no other '
                          'braces')


def check_stored_limits(cfg: Any, source: str, where: str = ROOT_FIELD) -> None:
    """Bound a stored config before it is walked: at most :data:`MAX_NODES` values (a value
    reached through several shared references counts each time), :data:`MAX_DEPTH` levels,
    :data:`MAX_STR` characters a string; string keys only; names and prompt templates in the
    shapes of :func:`_check_field`. Iterative, so that no input recurses or runs long.

    Raises:
        CheckpointError: Naming ``source`` and the field path where a bound is passed.
    """
    todo, visited = [(cfg, where, 0)], 0
    while todo:
        value, field, depth = todo.pop()
        visited += 1
        if visited > MAX_NODES:
            raise _refuse(source, where, f'has more than {MAX_NODES} values (counting shared '
                          f'references each time; still going at {field})')
        if depth > MAX_DEPTH:
            raise _refuse(source, field, f'is nested more than {MAX_DEPTH} levels deep')
        if isinstance(value, str) and len(value) > MAX_STR:
            raise _refuse(source, field, f'is a string of {len(value)} characters (more than '
                          f'{MAX_STR})')
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _refuse(source, field, f'has a key of type {type(key).__name__} '
                                  f'({_short(key)})')
                if len(key) > MAX_STR:
                    raise _refuse(source, field, f'has a key of {len(key)} characters')
                _check_field(key, item, source, f'{field}.{key}')
                todo.append((item, f'{field}.{key}', depth + 1))
        elif isinstance(value, (list, tuple)):
            if visited + len(value) > MAX_NODES:
                raise _refuse(source, field, f'has more than {MAX_NODES} values')
            todo.extend((item, f'{field}.{i}', depth + 1) for i, item in enumerate(value))


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (int, float, bool, type(None))) else \
        type(value).__name__
    return text if len(text) <= 40 else text[:37] + '...'


def _check_plain(value: Any, source: str, where: str) -> None:
    """No ``type``/``_scope_`` anywhere below ``value``; only plain values and containers."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _refuse(source, where, f'has a key of type {type(key).__name__}')
            if key in ('type', '_scope_'):
                raise _refuse(source, f'{where}.{key}', 'is not a field that builds anything')
            _check_plain(item, source, f'{where}.{key}')
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, source, f'{where}.{i}')
    elif not isinstance(value, _PLAIN_TYPES):
        raise _refuse(source, where, f'holds a {type(value).__name__}, not a plain config value')


def _plural(title: str) -> str:
    return title + ('es' if title.endswith('s') else 's')  # 'losses', not 'losss'


def _check_type(cfg: Any, kind: tuple, source: str, where: str) -> None:
    """``cfg`` is a dict whose ``type`` is a plain name registered for ``kind``."""
    registry, base, title = kind
    if not isinstance(cfg, dict):
        raise _refuse(source, where, f'should be a {title} config (a dict), got a '
                      f'{type(cfg).__name__}')
    if '_scope_' in cfg:
        raise _refuse(source, f'{where}._scope_', 'is set (a stored config builds nothing from '
                      'another scope)')
    if 'type' not in cfg:
        raise _refuse(source, where, f'has no type (expected a registered {title})')
    name = cfg['type']
    if not isinstance(name, str):
        raise _refuse(source, f'{where}.type', f'is a {type(name).__name__}, not the name of a '
                      f'registered {title}')
    known = ', '.join(_registered_names(registry, base))
    if not _PLAIN_NAME.match(name):
        raise _refuse(source, f'{where}.type={name!r}',
                      f'is not a plain registered name (a dotted or scoped name would make '
                      f'MMEngine import code); registered {_plural(title)}: {known}')
    cls = _registered(registry, name)
    if cls is None or (base is not None and not (isinstance(cls, type) and issubclass(cls, base))):
        raise _refuse(source, f'{where}.type={name!r}',
                      f'is not a registered {title} (registered: {known}); a component of your '
                      'own must be imported first (custom_imports)')


def _check_component(cfg: Any, kind: tuple, source: str, where: str) -> None:
    """A registered component whose arguments are plain values (or, for an encoder, the
    encoder it wraps: :data:`_WRAPPED_ENCODER_FIELDS`)."""
    _check_type(cfg, kind, source, where)
    for key, value in cfg.items():
        if key in _WRAPPED_ENCODER_FIELDS and kind[0] is ENCODERS:
            _check_component(value, kind, source, f'{where}.{key}')
        elif key != 'type':
            _check_plain(value, source, f'{where}.{key}')


def check_stored_model_cfg(cfg: Any, source: str, where: str = ROOT_FIELD) -> None:
    """Check a stored model config before anything is built from it (see the module doc).

    Args:
        cfg: The stored config (``meta.spikeclip.model``).
        source (str): The file it came from, for messages.
        where (str): Its field path, for messages. Defaults to ``'meta.spikeclip.model'``.

    Raises:
        CheckpointError: A type that is not a plain name registered for its field, a ``type`` or
            ``_scope_`` where nothing is built, a value that is not plain config data, or a
            bound of :func:`check_stored_limits` passed.
    """
    from .base import StageModel
    check_stored_limits(cfg, source, where)
    kinds = _component_kinds()
    _check_type(cfg, (MODELS, StageModel, 'stage model'), source, where)
    for key, value in cfg.items():
        field = f'{where}.{key}'
        if not isinstance(key, str):
            raise _refuse(source, where, f'has a key of type {type(key).__name__}')
        if key == 'type':
            continue
        if key in _CHECKPOINT_FIELDS and value is not None:
            raise _refuse(source, field, 'names a checkpoint file (a stored config is '
                          'self-contained)')
        if value is None:
            continue
        if key == 'losses':
            if not isinstance(value, (list, tuple)):
                raise _refuse(source, field, f'should be a list of loss configs, got a '
                              f'{type(value).__name__}')
            for i, loss in enumerate(value):
                _check_component(loss, kinds['losses'], source, f'{field}.{i}')
        elif key == 'parts':
            if not isinstance(value, dict):
                raise _refuse(source, field, f'should be a dict of part configs, got a '
                              f'{type(value).__name__}')
            for part, part_cfg in value.items():
                if part not in ('encoder', 'hq_lq', 'class_prompt'):
                    raise _refuse(source, f'{field}.{part}', 'is not a part of a stage-3 model '
                                  '(encoder, hq_lq, class_prompt)')
                if part_cfg is not None:
                    _check_component(part_cfg, kinds[part], source, f'{field}.{part}')
        elif key in kinds:
            _check_component(value, kinds[key], source, field)
        else:
            _check_plain(value, source, field)


def _check_clip_download(clip: dict, source: str, where: str) -> None:
    """Refuse (offline) or announce a CLIP tag whose weights are not cached locally."""
    import open_clip

    from ..clip import resolve_pretrained
    tag = clip.get('pretrained', _CLIP_DEFAULT_PRETRAINED)
    arch = str(clip.get('arch', 'ViT-B-32')).replace('/', '-')
    if not open_clip.get_pretrained_cfg(arch, tag):
        return  # not a tag of this arch: FrozenCLIP refuses it, nothing is downloaded
    saved = os.environ.get('HF_HUB_OFFLINE')
    os.environ['HF_HUB_OFFLINE'] = '1'  # only look at the cache
    try:
        resolve_pretrained(arch, tag, clip.get('cache_dir'))
        return  # cached: nothing is downloaded
    except CheckpointError:
        pass
    finally:
        if saved is None:
            del os.environ['HF_HUB_OFFLINE']
        else:
            os.environ['HF_HUB_OFFLINE'] = saved
    if offline(hub=True):
        raise CheckpointError(
            f'{source}: {where}.pretrained={tag!r} names an open_clip tag whose weights are not '
            f'in the local cache, and downloads are off (--offline, {OFFLINE_ENV}=1 or '
            'HF_HUB_OFFLINE=1); copy open_clip\'s cache here or point the field at a local '
            'weight file')
    print_log(f'{source}: {where}.pretrained={tag!r} names an open_clip tag that is not cached; '
              f'open_clip will download it (pass --offline or set {OFFLINE_ENV}=1 to forbid '
              'downloads)', logger='current', level=logging.WARNING)


def _resolve_file(path: str, checkpoint: str, where: str) -> str:
    """An absolute path for a stored file path: absolute as it is; relative against the
    checkpoint's folder, then the current directory (checkpoints written before paths were
    stored absolute name them relative to the directory training ran in).

    ``~`` is never expanded: a stored path names no file in the user's home through it.

    Raises:
        CheckpointError: The file exists in none of those places, or the path starts with ``~``.
    """
    if path.startswith('~'):
        raise CheckpointError(
            f'{checkpoint}: {where}={path!r} starts with ~, which is not expanded in a path '
            f'stored in a checkpoint; point it at the file with --cfg-options '
            f'{_option(where)}=/path/to/file')
    if osp.isabs(path):
        if osp.isfile(path):
            return path
        raise CheckpointError(
            f'{checkpoint}: {where}={path!r} does not exist (the path is stored in the '
            f'checkpoint); point it at the file with --cfg-options {_option(where)}=/path/to/file')
    candidates = [osp.join(osp.dirname(osp.abspath(checkpoint)), path), osp.abspath(path)]
    for candidate in candidates:
        if osp.isfile(candidate):
            return candidate
    raise CheckpointError(
        f'{checkpoint}: {where}={path!r} is a relative path stored in the checkpoint, and it '
        f'exists neither next to the checkpoint ({candidates[0]}) nor in the current directory '
        f'({candidates[1]}); point it at the file with --cfg-options '
        f'{_option(where)}=/path/to/file')


def _option(where: str) -> str:
    """The ``--cfg-options`` key of a stored field (``meta.spikeclip.model.clip.pretrained`` ->
    ``model.clip.pretrained``)."""
    return 'model' + where[len(ROOT_FIELD):] if where.startswith(ROOT_FIELD) else where


def _looks_like_file(value: str) -> bool:
    return ('/' in value or os.sep in value or osp.isfile(value)
            or value.lower().endswith(('.pt', '.pth', '.bin', '.safetensors', '.ckpt')))


def apply_model_options(cfg: dict, options: Optional[dict], source: str) -> dict:
    """``cfg`` with ``--cfg-options`` overrides of the model applied (keys ``model.<field>...``).

    Raises:
        ConfigError: A key that does not start with ``model.``, or one that does not fit.
    """
    if not options:
        return cfg
    from mmengine.config import Config

    from ...utils.errors import ConfigError
    bad = [k for k in options if not k.startswith('model.')]
    if bad:
        raise ConfigError(f'--cfg-options {", ".join(bad)}: only model.* keys apply to the model '
                          f'config stored in {source}')
    merged = Config(dict(model=cfg))
    try:
        merged.merge_from_dict(options)
    except Exception as e:  # KeyError, TypeError of a key that descends into a non-dict
        raise ConfigError(f'--cfg-options {", ".join(options)} do not fit the model config '
                          f'stored in {source}: {e}') from e
    return merged.to_dict()['model']


def prepare_stored_model_cfg(cfg: Any, source: str, where: str = ROOT_FIELD,
                             resolve: bool = False, options: Optional[dict] = None) -> dict:
    """Check a stored model config (:func:`check_stored_model_cfg`) and return a copy.

    With ``resolve`` (the whole model is to be built from it), ``options`` (``--cfg-options``
    keys ``model.<field>``, the user's own, not checked) are applied, and the frozen CLIP's
    ``pretrained``, where the file still names it, is resolved: an absolute path must exist; a
    relative one is looked up next to the checkpoint, then in the current directory. An
    open_clip tag whose weights are not cached is refused when
    :func:`~spikeclip.utils.env.offline`, and announced as a download otherwise.

    Args:
        cfg: The stored config (``meta.spikeclip.model``).
        source (str): The checkpoint it came from.
        where (str): Its field path, for messages.
        resolve (bool): Apply ``options`` and resolve the CLIP weights. Defaults to False.
        options (dict, optional): ``--cfg-options`` overrides of the model.

    Raises:
        CheckpointError: See :func:`check_stored_model_cfg`; a CLIP weight file that cannot be
            found (the message names the field and the option that points it elsewhere); a
            download while offline.
        ConfigError: ``options`` that do not fit.
    """
    check_stored_model_cfg(cfg, source, where)
    if not resolve:
        return copy.deepcopy(cfg)
    stored = (cfg.get('clip') or {}).get('pretrained', _CLIP_DEFAULT_PRETRAINED)
    cfg = apply_model_options(copy.deepcopy(cfg), options, source)
    clip = cfg.get('clip')
    pretrained = clip.get('pretrained', _CLIP_DEFAULT_PRETRAINED) if isinstance(clip, dict) \
        else None
    if isinstance(pretrained, str) and _looks_like_file(pretrained):
        if pretrained == stored:  # as the file says (a path given in options is the user's)
            clip['pretrained'] = _resolve_file(pretrained, source, f'{where}.clip.pretrained')
    elif isinstance(pretrained, str):
        _check_clip_download(clip, source, f'{where}.clip')
    return cfg


def absolute_paths(cfg: dict) -> dict:
    """A model config to store in a checkpoint, its CLIP weight file made absolute so that the
    checkpoint loads from any directory."""
    cfg = copy.deepcopy(cfg)
    clip = cfg.get('clip')
    if isinstance(clip, dict) and isinstance(clip.get('pretrained'), str) and \
            osp.isfile(osp.expanduser(clip['pretrained'])):
        clip['pretrained'] = osp.abspath(osp.expanduser(clip['pretrained']))
    return cfg
