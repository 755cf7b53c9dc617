"""Combining stage checkpoints and inference from a checkpoint alone."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.apis import infer_files, init_model
from spikeclip.apis.combine import combine_checkpoints
from spikeclip.fileio import write_dat, write_npz
from spikeclip.simulation import simulate_spikes
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError


@pytest.fixture(scope='module')
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp('rec')
    rng = np.random.default_rng(0)
    scene = rng.random((30, 42))
    spikes = simulate_spikes(scene, 240, gain=0.5, seed=1)
    write_dat(str(root / 'a.dat'), spikes)
    write_npz(str(root / 'b.npz'), spikes[:210, :20, :26], 1, 'cameraman')
    return root


def test_combined_model_gives_the_same_images_as_the_stages_one_by_one(trained_stages,
                                                                        recordings, tmp_path):
    out = str(tmp_path / 'combined.pth')
    combine_checkpoints(trained_stages['coarse'], trained_stages['prompt'],
                        trained_stages['refine'], out)
    meta = load_checkpoint_file(out)['meta']['spikeclip']
    assert meta['stage'] == 'pipeline' and len(meta['class_names']) == 12
    assert set(meta['sources']) == {'coarse', 'prompt', 'refine'}
    assert meta['env']['versions']['torch']

    inputs = [str(recordings / 'a.dat'), str(recordings / 'b.npz')]
    combined = infer_files(init_model(out, device='cpu'), inputs, str(tmp_path / 'c'),
                           height=30, width=42, save_coarse=True, exposure='linear')
    coarse = infer_files(init_model(trained_stages['coarse'], device='cpu'), inputs,
                         str(tmp_path / 's1'), height=30, width=42, exposure='linear')
    refine = infer_files(init_model(trained_stages['refine'], device='cpu'), inputs,
                         str(tmp_path / 's3'), height=30, width=42, exposure='linear')
    for c, s1, s3 in zip(combined, coarse, refine):
        np.testing.assert_array_equal(np.asarray(Image.open(c['coarse'])),
                                      np.asarray(Image.open(s1['image'])))
        np.testing.assert_array_equal(np.asarray(Image.open(c['image'])),
                                      np.asarray(Image.open(s3['image'])))
        assert [t['name'] for t in c['topk']] == [t['name'] for t in s3['topk']]
        assert len(c['topk']) == 5
    assert Image.open(combined[0]['image']).size == (42, 30)
    assert Image.open(combined[1]['image']).size == (26, 20)
    saved = json.loads((tmp_path / 'c' / 'predictions.json').read_text())
    assert [e['input'] for e in saved] == inputs


def test_combine_refuses_stages_in_the_wrong_slot(trained_stages, tmp_path):
    out = tmp_path / 'combined.pth'
    with pytest.raises(CheckpointError, match='stage 2'):
        combine_checkpoints(trained_stages['coarse'], trained_stages['coarse'],
                            trained_stages['refine'], str(out))
    with pytest.raises(CheckpointError, match='stage 3'):
        combine_checkpoints(trained_stages['coarse'], trained_stages['prompt'],
                            trained_stages['prompt'], str(out))
    assert not out.exists()


def test_combine_refuses_a_refiner_trained_on_another_stage1(trained_stages, tmp_path):
    ckpt = load_checkpoint_file(trained_stages['coarse'])
    for k, v in ckpt['state_dict'].items():
        ckpt['state_dict'][k] = v + 1
    other = str(tmp_path / 'other_coarse.pth')
    torch.save(ckpt, other)
    with pytest.raises(CheckpointError, match='other encoder weights'):
        combine_checkpoints(other, trained_stages['prompt'], trained_stages['refine'],
                            str(tmp_path / 'c.pth'))


def test_infer_tool_writes_png_and_json(trained_stages, recordings, tmp_path):
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/infer.py', trained_stages['coarse'],
         str(recordings / 'a.dat'), str(recordings / 'b.npz'), '--out-dir', str(out),
         '--height', '30', '--width', '42', '--frame', '100'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out / 'a.png').is_file() and (out / 'b.png').is_file()
    entries = json.loads((out / 'predictions.json').read_text())
    assert [e['frames'] for e in entries] == [41, 41]  # the model's window, read around --frame
    bad = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/infer.py', trained_stages['coarse'],
         str(recordings / 'a.dat'), '--out-dir', str(out)],  # default 250x400 does not fit
        capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert 'a.dat' in bad.stderr and 'not a whole number of 250x400 frames' in bad.stderr
    assert 'Traceback' not in bad.stderr


def test_combine_refuses_stages_trained_with_different_clips(trained_stages, tmp_path):
    ckpt = load_checkpoint_file(trained_stages['refine'])
    identity = ckpt['meta']['spikeclip']['model']['clip_identity']
    assert set(identity) >= {'arch', 'quick_gelu', 'weights'}
    ckpt['meta']['spikeclip']['model']['clip_identity'] = dict(identity, weights='0' * 16,
                                                               quick_gelu=True)
    other = str(tmp_path / 'refine_other_clip.pth')
    torch.save(ckpt, other)
    out = tmp_path / 'c.pth'
    with pytest.raises(CheckpointError, match=r'another CLIP.*quick_gelu=True vs False.*'
                                              r'weights 0000000000000000'):
        combine_checkpoints(trained_stages['coarse'], trained_stages['prompt'], other, str(out))
    assert not out.exists()
