"""The tiny CLIP's cache, and the CLIP report of a combined model."""
import json
import os
import os.path as osp
from dataclasses import replace

import pytest

from spikeclip.benchmarks.clip_report import clip_report, format_clip_report
from spikeclip.models.clip import FrozenCLIP
from spikeclip.models.clip.pretrain import CONFIG_NAME, REPORT_NAME, WEIGHTS_NAME, TinyCLIPRecipe
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.errors import ConfigError
from spikeclip.workflows.tiny_clip import ensure_tiny_clip

QUICK = replace(TinyCLIPRecipe(), steps=2, batch_size=4, warmup=1)


def test_trains_once_and_retrains_when_the_recipe_changes(tmp_path):
    lines = []
    first = ensure_tiny_clip(str(tmp_path), QUICK, evaluate=False, log=lines.append)
    assert not first['reused'] and osp.isfile(first['weights'])
    assert any('no trained tiny CLIP' in line for line in lines)
    clip = FrozenCLIP(arch='spikeclip-tiny', pretrained=first['weights'])
    assert clip.weights_file == first['weights']

    again = ensure_tiny_clip(str(tmp_path), QUICK, evaluate=False, log=lines.append)
    assert again['reused'] and again['recipe_hash'] == first['recipe_hash']
    assert FrozenCLIP(arch='spikeclip-tiny', pretrained=again['weights']).weights_fingerprint \
        == clip.weights_fingerprint

    # Another recipe never replaces them silently (the stages trained with them need them).
    trained = open(first['weights'], 'rb').read()
    with pytest.raises(ConfigError) as error:
        ensure_tiny_clip(str(tmp_path), replace(QUICK, seed=1), evaluate=False, log=lines.append)
    assert str(error.value) == (
        f'{tmp_path} holds a tiny CLIP of another recipe (seed 0 there, 1 here); training this '
        'one would replace open_clip_pytorch_model.bin, which the stages trained with it need. '
        'Train it elsewhere with --out-dir DIR, or pass --force to retrain here (the old '
        'weights are moved to a previous_<time> folder)')
    assert open(first['weights'], 'rb').read() == trained

    # force (and the demo's move_other) retrain, keeping the earlier files aside.
    for seed, kwargs in ((1, dict(force=True)), (2, dict(move_other=True))):
        lines.clear()
        other = ensure_tiny_clip(str(tmp_path), replace(QUICK, seed=seed), evaluate=False,
                                 log=lines.append, **kwargs)
        assert not other['reused'] and other['recipe_hash'] != first['recipe_hash']
        with open(osp.join(str(tmp_path), REPORT_NAME)) as f:
            assert json.load(f)['recipe']['seed'] == seed
        moved = other['previous']
        assert sorted(os.listdir(moved)) == [CONFIG_NAME, WEIGHTS_NAME, REPORT_NAME]
        with open(osp.join(moved, WEIGHTS_NAME), 'rb') as f:
            assert f.read() == trained  # the previous seed's weights, whole
        with open(osp.join(moved, REPORT_NAME)) as f:
            assert json.load(f)['recipe']['seed'] == seed - 1
        assert any('moved the earlier' in line and moved in line for line in lines)
        trained = open(other['weights'], 'rb').read()
    assert len([d for d in os.listdir(tmp_path) if d.startswith('previous_')]) == 2


def test_weights_without_a_readable_report_are_not_replaced(tmp_path):
    (tmp_path / WEIGHTS_NAME).write_bytes(b'weights of unknown origin')
    with pytest.raises(ConfigError, match=f'no trained tiny CLIP in {tmp_path}; training this '
                       'one would replace open_clip_pytorch_model.bin'):
        ensure_tiny_clip(str(tmp_path), QUICK, evaluate=False, log=lambda _: None)
    (tmp_path / REPORT_NAME).write_text('{not json')
    with pytest.raises(ConfigError, match=f'{tmp_path / REPORT_NAME} is unreadable'):
        ensure_tiny_clip(str(tmp_path), QUICK, evaluate=False, log=lambda _: None)
    assert (tmp_path / WEIGHTS_NAME).read_bytes() == b'weights of unknown origin'


def test_clip_report_of_a_combined_model(trained_stages):
    report = clip_report(trained_stages['combined'],
                         osp.join(REPO_ROOT, 'configs', 'pipeline_demo.py'), num=5,
                         batch_size=3, device='cpu')
    assert report['samples'] == 5 and report['classes'] == 12
    for row in ('clean', 'tfp', 'coarse', 'refined'):
        assert 0 <= report['zero_shot'][row]['top1'] <= report['zero_shot'][row]['top5'] <= 100
        assert 0 <= report['hq_prob'][row] <= 1
    assert set(report['learned']) == {'coarse', 'refined'}
    assert report['psnr']['coarse'] > 0 and 0 <= report['hq_lq_acc'] <= 100
    assert isinstance(report['stage3_hq_up'], bool)
    # every rate carries its interval, and the quality prompts their hand-written baseline
    assert 1 <= report['images'] <= 5
    for rates in (*report['zero_shot'].values(), *report['learned'].values()):
        for k in ('top1', 'top5'):
            low, high = rates[f'{k}_ci']
            assert 0 <= low <= rates[k] <= high <= 100
    low, high = report['hq_lq_acc_handwritten_ci']
    assert low <= report['hq_lq_acc_handwritten'] <= high
    assert report['hq_lq_handwritten_texts'] == ['high quality', 'low quality']
    for gain in report['gains'].values():
        assert gain['ci'][0] <= gain['mean'] <= gain['ci'][1]
    json.dumps(report)  # the demo writes it as JSON
    text = format_clip_report(report)
    assert 'HQ/LQ separation' in text and 'refined (stage 3)' in text
    assert "hand-written 'high quality' / 'low quality'" in text and '95 %' in text
