"""StageInfoHook in a real Runner: ``env.json`` in the work dir, and the SpikeCLIP entry
(``meta.spikeclip``) in every checkpoint it saves, which the stage loaders read back."""
import json

import pytest

from spikeclip.models.stages.base import load_stage_checkpoint
from spikeclip.models.stages.checkpoint_meta import read_meta
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError

HOOK = [dict(type='StageInfoHook')]


def test_every_checkpoint_records_the_stage_config_classes_sources_and_seed(make_runner,
                                                                           tmp_path):
    sources = dict(coarse='/runs/coarse_best.pth')
    make_runner(stage='prompt', class_names=['cat', 'dog'], sources=sources, epochs=2,
                custom_hooks=HOOK, randomness=dict(seed=11)).train()
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        info = read_meta(load_checkpoint_file(str(tmp_path / name)))
        assert info['stage'] == 'prompt' and info['seed'] == 11
        assert info['model'] == dict(type='ToyStage', class_names=['cat', 'dog'])
        assert info['class_names'] == ['cat', 'dog'] and info['sources'] == sources
        assert set(info['env']) == {'versions', 'git_commit', 'platform'}
    env = json.loads((tmp_path / 'env.json').read_text())
    assert env['seed'] == 11 and env['stage'] == 'prompt' and 'torch' in env['versions']


def test_the_stage_loader_recognises_the_entry(make_runner, tmp_path):
    make_runner(stage='coarse', custom_hooks=HOOK).train()
    with pytest.raises(CheckpointError, match='is a checkpoint of stage 1 .coarse '
                       'reconstruction., but stage 3 .refinement. is needed here'):
        load_stage_checkpoint(str(tmp_path / 'epoch_1.pth'), 'refine')


def test_without_the_hook_a_checkpoint_is_not_a_stage_checkpoint(make_runner, tmp_path):
    make_runner().train()
    assert read_meta(load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))) == {}
    with pytest.raises(CheckpointError, match='not a SpikeCLIP stage checkpoint'):
        load_stage_checkpoint(str(tmp_path / 'epoch_1.pth'))


def test_only_resumable_message_hub_keys_are_stored(make_runner, tmp_path):
    # DeviceMetricsHook logs figures that are not resumed (resumed=False).
    runner = make_runner(custom_hooks=HOOK + [dict(type='DeviceMetricsHook')])
    runner.train()
    hub = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))['message_hub']
    assert hub['resumed_keys'] and all(hub['resumed_keys'].values())
    assert any(not v for v in runner.message_hub.state_dict()['resumed_keys'].values())
