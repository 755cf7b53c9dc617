"""CombineCheckpointsHook: at the end of a stage-3 run the three stages become one model file; a
model that does not record its earlier stages is a clear error."""
import os.path as osp

import pytest
import torch

from spikeclip.models.stages.base import sub_state_dict
from spikeclip.models.stages.checkpoint_meta import read_meta
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError


def test_the_demo_refine_run_writes_the_combined_model(trained_stages):
    # configs/refine_demo.py lists the hook; the session's stage-3 run wrote the file.
    combined = load_checkpoint_file(trained_stages['combined'])
    info = read_meta(combined)
    assert info['stage'] == 'pipeline' and info['model']['type'] == 'SpikeCLIP'
    assert {k: v['path'] for k, v in info['sources'].items()} == {
        stage: osp.abspath(trained_stages[stage]) for stage in ('coarse', 'prompt', 'refine')}
    refine = load_checkpoint_file(trained_stages['refine'])['state_dict']
    for k, v in sub_state_dict(refine, 'refiner').items():
        assert torch.equal(combined['state_dict'][f'refiner.{k}'], v)


def test_named_checkpoints_are_combined_after_training(make_runner, trained_stages, tmp_path):
    out = tmp_path / 'combined.pth'
    hook = dict(type='CombineCheckpointsHook', out=str(out), coarse=trained_stages['coarse'],
                prompt=trained_stages['prompt'], refine=trained_stages['refine'])
    make_runner(stage='refine', custom_hooks=[hook], work_dir=tmp_path / 'work').train()
    assert read_meta(load_checkpoint_file(str(out)))['stage'] == 'pipeline'
    ours = load_checkpoint_file(str(out))['state_dict']
    theirs = load_checkpoint_file(trained_stages['combined'])['state_dict']
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_model_without_its_earlier_stages_is_refused(make_runner, tmp_path):
    runner = make_runner(stage='refine', custom_hooks=[dict(type='CombineCheckpointsHook')])
    with pytest.raises(CheckpointError, match='does not record its stage-1 and stage-2 '
                       'checkpoints; set coarse= and prompt='):
        runner.train()
    assert not (tmp_path.parent / 'combined_model.pth').exists()
