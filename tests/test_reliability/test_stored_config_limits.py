"""Bounds and shapes of a checkpoint's stored model config (issue 21, items 5, 7, 11 and the
``~`` of item 1): the check never walks for long, and a stored config names no local file
through class names, prompt names or ``~``, nor a template that formats for minutes."""
import copy
import os
import tracemalloc

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeclip.apis import init_model
from spikeclip.models.stages.base import load_stage_checkpoint
from spikeclip.models.stages.checkpoint_meta import save_model_file, stage_meta
from spikeclip.models.stages.stored_config import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_STR,
    check_stored_model_cfg,
    prepare_stored_model_cfg,
)
from spikeclip.utils.errors import CheckpointError, SpikeCLIPError

SRC = 'stored.pth'


def coarse_cfg(**fields) -> dict:
    return dict(dict(type='CoarseModel', encoder=dict(type='TFP', window=8),
                     class_names=['cat', 'dog'], prompt_template='a photo of a {}.'), **fields)


def save_coarse(path, cfg) -> str:
    save_model_file(str(path), {}, stage_meta('coarse', cfg, ['cat', 'dog']))
    return str(path)


def shared_bomb(levels: int) -> list:
    x = ['leaf']
    for _ in range(levels):
        x = [x, x]  # 2**levels paths, 2 * levels objects in the file
    return x


@pytest.mark.timeout(300)  # a hang guard: the check walked 2**40 paths (weeks) before the caps
def test_shared_references_are_refused_through_a_checkpoint(tmp_path):
    path = save_coarse(tmp_path / 'bomb.pth', coarse_cfg(encoder=dict(
        type='TFP', window=8, extra=shared_bomb(40))))
    assert os.path.getsize(path) < 10_000
    with pytest.raises(CheckpointError, match=r'bomb\.pth: meta\.spikeclip\.model\.encoder'):
        load_stage_checkpoint(path)
    # Shallow enough for the depth cap, still 2**25 paths: the node cap.
    with pytest.raises(CheckpointError, match=rf'{SRC}: meta\.spikeclip\.model has more than '
                                              rf'{MAX_NODES} values'):
        check_stored_model_cfg(coarse_cfg(encoder=dict(type='TFP', extra=shared_bomb(25))), SRC)


def test_depth_long_strings_and_key_types_are_refused_with_the_field():
    deep = 'x'
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(CheckpointError, match=rf'{SRC}: meta\.spikeclip\.model\.encoder\.extra'
                                              rf'(\.0)+ is nested more than {MAX_DEPTH}'):
        check_stored_model_cfg(coarse_cfg(encoder=dict(type='TFP', extra=deep)), SRC)
    with pytest.raises(CheckpointError, match=r'model\.encoder\.note is a string of 10000000 '):
        check_stored_model_cfg(coarse_cfg(encoder=dict(type='TFP', note='x' * 10**7)), SRC)
    with pytest.raises(CheckpointError, match=r'model\.encoder has a key of type int \(3\)'):
        check_stored_model_cfg(coarse_cfg(encoder={'type': 'TFP', 3: 1}), SRC)
    with pytest.raises(CheckpointError, match=r'model has a key of type int'):
        check_stored_model_cfg({**coarse_cfg(), 7: 'x'}, SRC)
    check_stored_model_cfg(coarse_cfg(encoder=dict(type='TFP', extra=shared_bomb(10))), SRC)


@pytest.mark.parametrize('field', ['class_names', 'prompt_names'])
@pytest.mark.parametrize('value', ['/etc/passwd', '../../../../etc/os-release', 'ucaltech', 3,
                                   ['cat', 4]])
def test_stored_names_are_lists_of_strings_only(field, value):
    with pytest.raises(CheckpointError, match=rf'{SRC}: meta\.spikeclip\.model\.{field} is a '
                                              r'.*list of strings only'):
        check_stored_model_cfg(coarse_cfg(**{field: value}), SRC)
    check_stored_model_cfg(coarse_cfg(**{field: ['a', 'b']}), SRC)
    check_stored_model_cfg(coarse_cfg(**{field: None}), SRC)


def test_a_stored_class_names_file_is_not_read_but_the_users_own_may_be(tmp_path):
    names = tmp_path / 'secret.txt'
    names.write_text('alpha\nbeta\n')
    path = save_coarse(tmp_path / 'names.pth', coarse_cfg(class_names=str(names)))
    with pytest.raises(CheckpointError, match=r'names\.pth: meta\.spikeclip\.model\.class_names'):
        init_model(path, device='cpu')  # the model read the file's lines as its classes
    good = save_coarse(tmp_path / 'good.pth', coarse_cfg())
    model = init_model(good, device='cpu', cfg_options={'model.class_names': str(names)})
    assert model.class_names == ['alpha', 'beta']


@pytest.mark.parametrize('template', ['{:>200000000}', 'no braces', '{} and {}', '{0}', '{x}',
                                      '{}}', 'a {{}}', 'a {} ' + 'x' * 300, 5])
def test_stored_prompt_templates_have_one_bare_placeholder(template):
    with pytest.raises(CheckpointError, match=r'prompt_template must be a string of at most '
                                              r'256 characters with exactly one bare \{\}'):
        check_stored_model_cfg(coarse_cfg(prompt_template=template), SRC)


def test_a_huge_format_spec_is_refused_before_anything_is_formatted(tmp_path):
    path = save_coarse(tmp_path / 'template.pth', coarse_cfg(prompt_template='{:>200000000}'))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r'template\.pth: .*prompt_template'):
            init_model(path, device='cpu')
        assert tracemalloc.get_traced_memory()[1] < 100 << 20  # 3.6 GB before
    finally:
        tracemalloc.stop()


def test_tilde_is_never_expanded_in_a_stored_clip_path(tmp_path, monkeypatch, tiny_clip_file):
    home = tmp_path / 'home'
    (home / '.cache').mkdir(parents=True)
    os.link(tiny_clip_file, home / '.cache' / 'clip.pth')
    monkeypatch.setenv('HOME', str(home))
    cfg = coarse_cfg(clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                               pretrained='~/.cache/clip.pth'))
    with pytest.raises(CheckpointError, match=r"clip\.pretrained='~/\.cache/clip\.pth' starts "
                                              r'with ~, which is not expanded'):
        prepare_stored_model_cfg(cfg, str(tmp_path / 'ckpt.pth'), resolve=True)
    # The user's own --cfg-options path is theirs to give.
    out = prepare_stored_model_cfg(cfg, str(tmp_path / 'ckpt.pth'), resolve=True,
                                   options={'model.clip.pretrained': tiny_clip_file})
    assert out['clip']['pretrained'] == tiny_clip_file


# ------------------------------------------------------------------------------------- fuzz

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(['/etc/passwd', '~/x.pth', '../../a.pt',
                                                          '{:>99999999}', '{}', 'x' * (MAX_STR + 1),
                                                          'subprocess.Popen', 'os.system']))
_keys = st.one_of(st.sampled_from(['type', '_scope_', 'class_names', 'prompt_names',
                                   'prompt_template', 'pretrained', 'clip', 'encoder', 'losses',
                                   'parts', 'coarse_checkpoint', 'refiner', 'hq_lq', 'x']),
                  st.integers(-3, 3), st.text(max_size=4))
_values = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(_keys, inner, max_size=4)), max_leaves=30)


@st.composite
def stored_configs(draw) -> dict:
    cfg = coarse_cfg()
    for key, value in draw(st.dictionaries(_keys, _values, max_size=5)).items():
        cfg[key] = value
    if draw(st.booleans()):  # shared references, deep or wide
        levels = draw(st.integers(1, 60))
        where = draw(st.sampled_from(['encoder', 'extra', 'class_names', 'clip']))
        bomb = shared_bomb(levels) if draw(st.booleans()) else \
            [copy.deepcopy(['x'])] * draw(st.integers(1, 3 * MAX_NODES))
        if where == 'encoder':
            cfg['encoder'] = dict(type='TFP', extra=bomb)
        else:
            cfg[where] = bomb
    if draw(st.booleans()):
        nested = 'leaf'
        for _ in range(draw(st.integers(1, 3 * MAX_DEPTH))):
            nested = {'k': nested} if draw(st.booleans()) else [nested]
        cfg['deep'] = nested
    return cfg


@pytest.mark.timeout(600)  # a hang guard, not a speed target
@FUZZ
@given(cfg=stored_configs())
def test_fuzz_stored_configs_are_checked_in_bounded_time_and_memory(cfg):
    tracemalloc.start()
    try:
        check_stored_model_cfg(cfg, SRC)
    except SpikeCLIPError as e:  # the toolkit's own error, one line naming the file
        assert str(e).startswith(f'{SRC}: meta.spikeclip.model') and '\n' not in str(e)
    else:
        names = [cfg.get(k) for k in ('class_names', 'prompt_names')]
        assert all(n is None or (isinstance(n, (list, tuple))
                                 and all(isinstance(v, str) for v in n)) for n in names)
        template = cfg.get('prompt_template')
        assert template is None or (isinstance(template, str) and template.count('{}') == 1)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 << 20


def test_a_checkpoint_stored_config_round_trips_through_torch_load(tmp_path):
    # What the stage models write passes the check unchanged.
    cfg = coarse_cfg(prompt_names=['a cat', 'a dog'], losses=[dict(type='CharbonnierLoss')])
    path = save_coarse(tmp_path / 'ok.pth', cfg)
    stored, _ = load_stage_checkpoint(path)
    assert stored == cfg and torch.load(path, weights_only=True)['meta']
