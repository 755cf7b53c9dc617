"""``--cfg-options key=value`` parsing that keeps the spaces of string values.

MMEngine's ``DictAction`` removes every space from a value before parsing it, so
``model.prompt_template=image of a {}`` arrived as ``'imageofa{}'`` and nothing failed (zero-shot
accuracy fell to chance). :class:`DictAction` parses values as MMEngine's does otherwise:

* ``1``, ``0.5``, ``true``/``false`` (any case), ``None``: int, float, bool, None;
* ``a,b`` or ``[a, b]``: a list; ``(a, b)``: a tuple; nested brackets nest;
* ``{a: 1, b: [2, 3]}``: a dict (string keys; a value without ``:`` items, e.g. ``{}``, stays
  the string it is, as in MMEngine, so that a prompt template ``{}`` is not an empty dict);
* ``'text'`` or ``"text"``: exactly that string (commas, brackets and digits included), the way
  to give a string with a comma (``'model.prompt_template="a {}, a pet."'`` in a shell);
* anything else: the string with its inner spaces kept and the outer ones stripped.
"""
import argparse
from typing import Any, List

_OPEN = {'[': ']', '(': ')', '{': '}'}
_CLOSE = {v: k for k, v in _OPEN.items()}


def _split_top(text: str, sep: str) -> List[str]:
    """``text`` split at the ``sep`` characters outside brackets and quotes.

    Raises:
        ValueError: Unbalanced brackets or an unclosed quote.
    """
    parts, stack, quote, start = [], [], None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char in _OPEN:
            stack.append(char)
        elif char in _CLOSE:
            if not stack or stack.pop() != _CLOSE[char]:
                raise ValueError(f'unbalanced {char!r} in {text!r}')
        elif char == sep and not stack:
            parts.append(text[start:i])
            start = i + 1
    if stack or quote:
        raise ValueError(f'unclosed {(quote or stack[-1])!r} in {text!r}')
    parts.append(text[start:])
    return parts


def _items(text: str) -> List[str]:
    """The comma-separated items of a list, tuple or dict body; a trailing comma (``a, b,``,
    ``(a,)``) ends the list, as in MMEngine's parser and Python."""
    parts = _split_top(text, ',') if text.strip() else []
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    return parts


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    return None if text == 'None' else text


def _is_quoted(text: str) -> bool:
    if len(text) < 2 or text[0] not in '\'"' or text[-1] != text[0]:
        return False
    try:  # one quoted string, not '"a", "b"'
        return len(_split_top(text, ',')) == 1 and text[1:-1].find(text[0]) < 0
    except ValueError:
        return False


def parse_cfg_value(text: str) -> Any:
    """One ``--cfg-options`` value, parsed as the module doc says.

    Raises:
        ValueError: Unbalanced brackets or quotes in a list, tuple or dict.
    """
    text = text.strip()
    if _is_quoted(text):
        return text[1:-1]
    if text[:1] == '{' and text[-1:] == '}':
        items = _items(text[1:-1])
        pairs = [_split_top(i, ':') for i in items]
        if items and all(len(p) >= 2 for p in pairs):
            out = {}
            for key, *rest in pairs:
                key = parse_cfg_value(key)
                out[str(key)] = parse_cfg_value(':'.join(rest))
            return out
        return text
    if (text[:1], text[-1:]) in (('[', ']'), ('(', ')')):
        values = [parse_cfg_value(v) for v in _items(text[1:-1])]
        return tuple(values) if text[0] == '(' else values
    try:
        parts = _split_top(text, ',')
    except ValueError:  # a plain string with a lone bracket or quote: ':) {}'
        return text
    if len(parts) > 1:
        return [parse_cfg_value(p) for p in _items(text)]
    return _scalar(text)


class DictAction(argparse.Action):
    """``--cfg-options`` action: ``key=value`` items into a dict, values parsed by
    :func:`parse_cfg_value` (spaces of strings kept); an item that is not ``key=value`` is a
    usage error (not a traceback)."""

    def __call__(self, parser, namespace, values, option_string=None):
        bad = [v for v in values if '=' not in v or v.startswith('=')]
        if bad:
            raise argparse.ArgumentError(self, f'{", ".join(map(repr, bad))}: expected '
                                         'key=value (e.g. train_cfg.max_epochs=20)')
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values:
            key, value = item.split('=', 1)
            try:
                options[key.strip()] = parse_cfg_value(value)
            except ValueError as e:
                raise argparse.ArgumentError(self, f'{item!r}: {e}') from None
        setattr(namespace, self.dest, options)
