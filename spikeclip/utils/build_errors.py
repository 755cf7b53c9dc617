"""A config entry that does not fit the class it builds, as one line naming the field.

Building ``dict(type='X', a=1)`` calls ``X(a=1)``: an argument ``X`` does not take, a key that
is not a string, or a required argument left out raises a ``TypeError`` deep inside MMEngine
(``EpochBasedTrainLoop.__init__() got an unexpected keyword argument 'max_epoch'``) that names
neither the config file nor the field. :func:`explain_build_errors` turns it into a
:class:`ConfigError` such as ``config configs/coarse_demo.py: train_cfg.max_epoch:
EpochBasedTrainLoop takes no argument 'max_epoch'. Did you mean 'max_epochs'? (it takes:
max_epochs, val_begin, ...)``. It does so only when the config holds the field the error is
about; any other ``TypeError`` (a bug) is left as it is.
"""
import contextlib
import difflib
import inspect
import re
from typing import Any, Iterator, List, Optional, Tuple, Type

from .errors import ConfigError, SpikeCLIPError

_UNEXPECTED = re.compile(r"^(?:(?P<cls>[\w.]+?)(?:\.__init__)?\(\) )?got an unexpected keyword "
                         r"argument '(?P<key>[^']+)'")
_MISSING = re.compile(r"^(?:(?P<cls>[\w.]+?)(?:\.__init__)?\(\) )?missing \d+ required "
                      r"(?:positional |keyword-only )?arguments?: (?P<keys>.+)$")
_NOT_STRING = 'keywords must be strings'
_MAX_LISTED = 12  # arguments listed in a message


def _walk(node: Any, path: str = '') -> Iterator[Tuple[str, dict]]:
    """Every dict in a config tree with its dotted path (depth-first, iteratively: a stored
    config may be deep)."""
    if not isinstance(node, dict) and hasattr(node, 'to_dict'):  # an MMEngine Config
        node = node.to_dict()
    stack = [(path, node)]
    seen = set()
    while stack:
        where, item = stack.pop()
        if id(item) in seen:
            continue
        if isinstance(item, dict):
            seen.add(id(item))
            yield where, item
            children = list(item.items())
        elif isinstance(item, (list, tuple)):
            seen.add(id(item))
            children = list(enumerate(item))
        else:
            continue
        for key, value in reversed(children):
            stack.append((f'{where}.{key}' if where else str(key), value))


def _type_name(node: dict) -> str:
    kind = node.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.rsplit('.', 1)[-1]


def _find(cfg: Any, cls_name: Optional[str], has) -> Optional[Tuple[str, dict]]:
    """The dict of ``cfg`` for which ``has(dict)`` holds, preferring one whose ``type`` is
    ``cls_name``, then one without a ``type`` (MMEngine builds loops and data loaders from
    untyped dicts)."""
    found = [(where, node) for where, node in _walk(cfg) if has(node)]
    for wanted in (lambda n: cls_name and _type_name(n) == cls_name, lambda n: 'type' not in n,
                   lambda n: True):
        for where, node in found:
            if wanted(node):
                return where, node
    return None


def _built_class(tb, name: Optional[str]) -> Optional[type]:
    """The class called ``name`` that the innermost frame of ``tb`` called (a call whose
    arguments do not bind raises in the caller's frame)."""
    if tb is None or not name:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    for value in (*frame.f_locals.values(), frame.f_globals.get(name)):
        if inspect.isclass(value) and value.__name__ == name:
            return value
    return None


def _parameters(cls: Optional[type]) -> List[str]:
    try:
        params = inspect.signature(cls).parameters.values() if cls is not None else []
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _takes(params: List[str]) -> str:
    if not params:
        return ''
    shown = ', '.join(params[:_MAX_LISTED]) + (', ...' if len(params) > _MAX_LISTED else '')
    return f' (it takes: {shown})'


def build_error(error: TypeError, cfg: Any, source: str, root: str = '',
                error_class: Type[SpikeCLIPError] = ConfigError) -> Optional[SpikeCLIPError]:
    """The one-line error of a ``TypeError`` raised while building from ``cfg``, or None if
    ``cfg`` holds no field that the error is about.

    Args:
        error (TypeError): What building raised.
        cfg: The config that was built (a dict, possibly nested, or a Config).
        source (str): Where ``cfg`` comes from, the start of the message (``'config X.py'``,
            a checkpoint path).
        root (str): The field path of ``cfg`` itself (``'meta.spikeclip.model'``). Defaults to
            the top level.
        error_class (type): The error to return. Defaults to :class:`ConfigError`.
    """
    message = str(error.args[0]) if error.args else ''
    prefix = f'{root}.' if root else ''
    unexpected, missing = _UNEXPECTED.match(message), _MISSING.match(message)
    if unexpected:
        name, key = unexpected['cls'], unexpected['key']
        name = name.rsplit('.', 1)[-1] if name else None
        found = _find(cfg, name, lambda node: key in node)
        if found is None:
            return None
        where, node = found
        name = name or _type_name(node) or 'it'
        params = _parameters(_built_class(error.__traceback__, name))
        close = difflib.get_close_matches(key, params, n=1)
        hint = f'. Did you mean {close[0]!r}?' if close else ''
        return error_class(f'{source}: {prefix}{where}{"." if where else ""}{key}: {name} takes '
                           f'no argument {key!r}{hint}{_takes(params)}')
    if missing:
        name = (missing['cls'] or '').rsplit('.', 1)[-1]
        found = _find(cfg, name, lambda node: name and _type_name(node) == name)
        if not name or found is None:
            return None
        where = found[0]
        return error_class(f'{source}: {prefix}{where or "(top level)"}: {name} needs '
                           f'{missing["keys"]}, which the config does not give')
    if message == _NOT_STRING:
        found = _find(cfg, None, lambda node: any(not isinstance(k, str) for k in node))
        if found is None:
            return None
        where, node = found
        key = next(k for k in node if not isinstance(k, str))
        return error_class(f'{source}: {prefix}{where or "(top level)"} has a key of type '
                           f'{type(key).__name__} ({key!r}); config keys are names (strings)')
    return None


@contextlib.contextmanager
def explain_build_errors(cfg: Any, source: str, root: str = '',
                         error_class: Type[SpikeCLIPError] = ConfigError) -> Iterator[None]:
    """Turn the ``TypeError`` of a config entry that does not fit its class into the one-line
    error of :func:`build_error` (see the module doc); other errors pass unchanged."""
    try:
        yield
    except TypeError as e:
        explained = build_error(e, cfg, source, root, error_class)
        if explained is None:
            raise
        raise explained from e
