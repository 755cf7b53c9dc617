"""``--cfg-options`` values keep their spaces (issue 18, item 1) and parse as MMEngine's did
otherwise, in every tool that takes them."""
import argparse
import contextlib
import glob
import io
import os.path as osp
import runpy

import pytest
from mmengine.config import DictAction as MMEngineDictAction

from spikeclip.engine.cfg_options import DictAction, parse_cfg_value
from spikeclip.testing import REPO_ROOT


@pytest.mark.parametrize('text, value', [
    ('image of a {}', 'image of a {}'),  # MMEngine's: 'imageofa{}'
    ('/data/my spikes/clip.pth', '/data/my spikes/clip.pth'),
    ('  padded  ', 'padded'),
    ('{}', '{}'),  # a prompt template, not an empty dict
    ('{} photo', '{} photo'),
    (':) {}', ':) {}'),  # a lone bracket in a plain string
    ('3', 3), ('-2', -2), ('0.5', 0.5), ('1e-3', 1e-3), ('true', True), ('False', False),
    ('None', None), ('none', 'none'),
    ('a,b', ['a', 'b']), ('a,b,', ['a', 'b']),
    ('[golden retriever, tabby cat]', ['golden retriever', 'tabby cat']),
    ('[1, 2.5, true]', [1, 2.5, True]), ('[]', []),
    ('(24, 48, 96)', (24, 48, 96)), ('(1,)', (1, )), ('()', ()),
    ('[(1, 2), [a b, c], d]', [(1, 2), ['a b', 'c'], 'd']),
    ('{a: 1, b: [2, 3], c: x y}', {'a': 1, 'b': [2, 3], 'c': 'x y'}),
    ("{'type': 'TFP', window: 8}", {'type': 'TFP', 'window': 8}),
    ('{path: C:/my dir/x}', {'path': 'C:/my dir/x'}),
    ('"a photo of a {}, a type of pet."', 'a photo of a {}, a type of pet.'),
    ("'12'", '12'),  # quoted: the string itself
    ('"it\'s a {}"', "it's a {}"),
    ('["a, b", c]', ['a, b', 'c']),
    ('"a", "b"', ['a', 'b']),
])
def test_value_kinds(text, value):
    parsed = parse_cfg_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize('text', ['1', '0.25', 'true', 'None', 'a,b', '[a, b]', '(1, 2)',
                                  '[(1, 2), [a, b], c]', 'plain'])
def test_same_as_mmengine_without_spaces_or_quotes(text):
    assert parse_cfg_value(text) == MMEngineDictAction._parse_iterable(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser


def test_the_action_collects_items_and_refuses_bad_ones():
    args = _parser().parse_args(['--cfg-options', 'model.prompt_template=image of a {}',
                                 'a.b= 2 ', 'c=x=y'])
    assert args.cfg_options == {'model.prompt_template': 'image of a {}', 'a.b': 2, 'c': 'x=y'}
    with pytest.raises(argparse.ArgumentError, match='expected key=value'):
        _parser().parse_args(['--cfg-options', 'no_equals'])
    with pytest.raises(argparse.ArgumentError, match=r"'x=\[a, \(b\]': unclosed '\('"):
        _parser().parse_args(['--cfg-options', 'x=[a, (b]'])


SOURCES = {p: open(p).read()
           for p in glob.glob(osp.join(REPO_ROOT, 'tools', '**', '*.py'), recursive=True)}
TOOLS = sorted(p for p, text in SOURCES.items() if 'action=DictAction' in text)


def _parse_with_positionals(parse_args, options):
    """``parse_args`` of a tool with as many placeholder positionals as it needs."""
    for n in range(4):
        argv = ['x'] * n + ['--out-dir', 'o'] * (n == 3) + ['--cfg-options', *options]
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                return parse_args(argv)
            except SystemExit:
                continue
    raise AssertionError('no placeholder positionals fit')


def test_every_tool_with_cfg_options_keeps_spaces():
    assert len(TOOLS) >= 6
    assert not [p for p, text in SOURCES.items() if 'mmengine.config import DictAction' in text]
    for path in TOOLS:
        tool = runpy.run_path(path, run_name='not_main')
        args = _parse_with_positionals(tool['parse_args'], [
            'model.prompt_template=image of a {}', 'model.class_names=[golden retriever, cat]'])
        assert args.cfg_options == {'model.prompt_template': 'image of a {}',
                                    'model.class_names': ['golden retriever', 'cat']}, path
