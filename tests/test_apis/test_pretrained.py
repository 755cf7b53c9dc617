"""The shipped pretrained model: found by name and by path, self-consistent, better than TFP."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.apis import init_model
from spikeclip.datasets import simulate_folder
from spikeclip.fileio import read_dat, write_dat
from spikeclip.pretrained import PRETRAINED_MODELS, pretrained_path, resolve_checkpoint
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError


@pytest.mark.parametrize('name', ['real', 'real-short'])
def test_loads_by_name_and_by_path(name):
    path = pretrained_path(name)
    assert resolve_checkpoint(f'pretrained:{name}') == path
    assert resolve_checkpoint('some/file.pth') == 'some/file.pth'
    by_name = init_model(f'pretrained:{name}', device='cpu')
    by_path = init_model(path, device='cpu')
    a, b = by_name.state_dict(), by_path.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(CheckpointError, match="unknown pretrained model 'pretrained:nope'; "
                                              'shipped: pretrained:real, pretrained:real-short'):
        init_model('pretrained:nope', device='cpu')


def test_real_wraps_the_unchanged_weights_of_real_short():
    """pretrained:real is AdaptiveWindow around real-short's MotionUNet, not retrained."""
    ckpt = load_checkpoint_file(pretrained_path('real'))
    info = ckpt['meta']['spikeclip']
    enc = info['model']['encoder']
    assert enc['type'] == 'AdaptiveWindow' and enc['short']['type'] == 'MotionUNet'
    assert info['model']['data_preprocessor'] == dict(type='SpikeDataPreprocessor', window=251,
                                                      min_window=41)
    short = load_checkpoint_file(pretrained_path('real-short'))['state_dict']
    assert {k.replace('encoder.short.', 'encoder.'): v for k, v in
            ckpt['state_dict'].items()}.keys() == short.keys()
    assert all(torch.equal(ckpt['state_dict'][k.replace('encoder.', 'encoder.short.')], v)
               for k, v in short.items())
    prov = info['provenance']
    assert prov['retrained'] is False and prov['short']['config'] == 'configs/coarse_real.py'


def test_infer_reads_a_recording_shorter_than_the_window_whole_and_says_so(tmp_path):
    rng = np.random.default_rng(0)
    write_dat(str(tmp_path / 'clip.dat'), (rng.random((100, 16, 24)) < 0.2).astype(np.uint8))
    write_dat(str(tmp_path / 'tiny.dat'), (rng.random((40, 16, 24)) < 0.2).astype(np.uint8))
    args = [sys.executable, f'{REPO_ROOT}/tools/infer.py', 'pretrained:real', '--out-dir',
            str(tmp_path / 'out'), '--height', '16', '--width', '24']
    ok = subprocess.run(args[:3] + [str(tmp_path / 'clip.dat')] + args[3:],
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "100 frames, shorter than the model's 251-frame window: the model uses all of them" \
        in ok.stdout + ok.stderr
    assert (tmp_path / 'out' / 'clip.png').is_file()
    bad = subprocess.run(args[:3] + [str(tmp_path / 'tiny.dat')] + args[3:],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1
    assert 'the model needs at least 41 frames, but the recording holds only 40' in bad.stderr


def test_its_config_matches_its_weights_and_says_how_it_was_made():
    ckpt = load_checkpoint_file(pretrained_path('real-short'))
    info = ckpt['meta']['spikeclip']
    assert info['stage'] == 'coarse' and info['model']['encoder']['type'] == 'MotionUNet'
    window = info['model']['encoder']['window']
    assert info['model']['data_preprocessor']['window'] == window == 41
    model = init_model(pretrained_path('real-short'), device='cpu')  # strict: config fits weights
    assert sum(p.numel() for p in model.parameters()) == sum(
        v.numel() for v in ckpt['state_dict'].values())
    prov = info['provenance']
    assert prov['config'].startswith('configs/') and 'tools/train.py' in prov['command']
    assert prov['train_minutes'] > 0 and prov['figures']
    assert set(PRETRAINED_MODELS) == {'real', 'real-short'}


def _fit_psnr(preds, gts):
    p, t = np.stack(preds).astype(np.float64), np.stack(gts).astype(np.float64)
    gain = (p * t).sum() / (p * p).sum()
    mse = ((np.clip(gain * p, 0, 1) - t) ** 2).mean(axis=(1, 2))
    return float(np.mean(10 * np.log10(1 / mse)))


def test_infer_with_it_beats_tfp_on_fresh_moving_recordings(tmp_path):
    """A small behavioural check: 41-frame recordings of held-out photographs with the camera
    panning at 0.2-0.5 px/frame, scored as the benchmarks do (a gain fitted over the set)."""
    h, w = 64, 96
    root = tmp_path / 'set'
    names = simulate_folder('packaged', str(root), num_frames=41, height=h, width=w, split='test',
                            per_image=2, seed=11, reference='scene', light=dict(gain=0.5),
                            motion=dict(static_prob=0.0, min_speed=0.2, max_speed=0.5),
                            objects=None, progress=False)
    dats = [str(root / 'spike' / f'{n}.dat') for n in names]
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/infer.py', 'pretrained:real', *dats, '--out-dir',
         str(out), '--height', str(h), '--width', str(w)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    gts, model, tfp = [], [], {k: [] for k in (5, 9, 17, 41)}
    for n, dat in zip(names, dats):
        with Image.open(root / 'gt' / f'{n}.png') as im:
            gts.append(np.asarray(im, np.float64) / 255)
        with Image.open(out / f'{n}.png') as im:
            model.append(np.asarray(im, np.float64) / 255)
        spikes = read_dat(dat, h, w).astype(np.float64)
        for k in tfp:
            tfp[k].append(spikes[20 - k // 2:20 - k // 2 + k].mean(0))
    best_tfp = max(_fit_psnr(v, gts) for v in tfp.values())
    assert _fit_psnr(model, gts) > best_tfp + 3.0
