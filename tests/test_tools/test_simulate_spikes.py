import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikeclip.datasets import PairedSpikeDataset
from spikeclip.fileio import read_dat

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'simulate_spikes.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('simulate_spikes_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    ramp = np.tile(np.linspace(40, 220, 30).astype(np.uint8), (20, 1))  # dark left, bright right
    Image.fromarray(ramp).save(folder / 'ramp.png')
    Image.fromarray(np.full((20, 30, 3), 60, np.uint8)).save(folder / 'grey.jpg')
    return str(folder)


def test_end_to_end(tool, images, tmp_path, capsys):
    out = tmp_path / 'out'
    args = [images, str(out), '--frames', '400', '--height', '16', '--width', '24', '--seed', '1',
            '--gain', '0.4', '--nominal-gain', '0.5', '--speed', '0', '--objects', '0',
            '--dark-current', '0', '--threshold-mismatch', '0', '--photons', '0']
    assert tool.main(args) == 0
    assert 'wrote 2 samples of 400x16x24' in capsys.readouterr().out
    assert sorted(os.listdir(out / 'spike')) == ['grey.dat', 'ramp.dat']
    scenes = json.loads((out / 'scenes.json').read_text())['samples']
    assert scenes['ramp']['gain'] == 0.4 and scenes['ramp']['speed'] == 0
    assert sorted(os.listdir(out / 'gt')) == ['grey.png', 'ramp.png']
    assert not (out / 'classes.txt').exists()  # no class sub-folders
    for name in ('grey', 'ramp'):
        with Image.open(out / 'gt' / f'{name}.png') as im:
            assert im.size == (24, 16) and im.mode == 'L'
            gt = np.asarray(im, np.float64) / 255
        spikes = read_dat(str(out / 'spike' / f'{name}.dat'), 16, 24)
        assert spikes.shape == (400, 16, 24)
        rate = spikes.mean(0)
        # the reference is scene * gain / nominal gain; the rate is gain * scene
        assert np.abs(rate - 0.5 * gt).max() < 0.01
    ramp = read_dat(str(out / 'spike' / 'ramp.dat'), 16, 24).mean(axis=(0, 1))
    assert ramp[-1] > 2.5 * ramp[0] and np.all(np.diff(ramp) > -0.01)  # rate tracks intensity
    first = (out / 'spike' / 'ramp.dat').read_bytes()
    assert tool.main(args) == 0  # deterministic for a seed
    assert (out / 'spike' / 'ramp.dat').read_bytes() == first


def test_default_set_with_motion_and_noise(tool, tmp_path):
    out = tmp_path / 'demo'
    assert tool.main(['default', str(out), '--frames', '12', '--height', '8', '--width', '10',
                      '--speed', '0.5', '--dark-current', '0.01', '--threshold-mismatch', '0.1',
                      '--photons', '50']) == 0
    classes = (out / 'classes.txt').read_text().split()
    assert len(os.listdir(out / 'spike')) == len(classes) >= 8
    assert json.loads((out / 'labels.json').read_text())['cat'] == 'cat'
    ds = PairedSpikeDataset(str(out), 8, 10)
    item = ds[ds.names.index('moon')]
    assert item['inputs'].shape == (12, 8, 10)
    assert item['data_samples'].label_name == 'moon'


def test_realistic_defaults_move_and_vary(tool, tmp_path):
    out = tmp_path / 'real'
    assert tool.main(['packaged', str(out), '--height', '24', '--width', '32', '--split', 'test',
                      '--per-image', '3', '--seed', '4']) == 0
    scenes = json.loads((out / 'scenes.json').read_text())['samples']
    assert len(scenes) >= 6 and all(s['source'] for s in scenes.values())
    assert sum(s['speed'] > 0 for s in scenes.values()) >= len(scenes) // 2
    rates = [s['mean_rate'] for s in scenes.values()]
    assert min(rates) < 0.2 < max(rates) and all(0.018 < r <= 0.6 for r in rates)
    # the calibrated sensor by default (docs/simulation.md)
    assert all(2000 <= s['photons_per_frame'] <= 20000 and s['threshold_mismatch'] <= 0.03
               for s in scenes.values())
    ds = PairedSpikeDataset(str(out), 24, 32)
    assert ds[0]['inputs'].shape == (41, 24, 32)
    assert tool.main(['dead_leaves', str(tmp_path / 'dl'), '--height', '16', '--width', '16',
                      '--reset', 'zero', '--reference', 'scene']) == 0
    dl = json.loads((tmp_path / 'dl' / 'scenes.json').read_text())
    assert dl['settings']['reference'] == 'scene'
    assert {s['reset'] for s in dl['samples'].values()} == {'zero'}


def test_errors(tool, tmp_path, capsys):
    assert tool.main([str(tmp_path / 'missing'), str(tmp_path / 'out')]) == 1
    assert 'missing: no such image folder' in capsys.readouterr().err
    (tmp_path / 'imgs').mkdir()
    (tmp_path / 'imgs' / 'bad.png').write_bytes(b'nope')
    assert tool.main([str(tmp_path / 'imgs'), str(tmp_path / 'out'),
                      '--on-bad-image', 'error']) == 1
    assert 'bad.png: not a readable image' in capsys.readouterr().err
    assert tool.main(['default', str(tmp_path / 'out'), '--rate', '0.1', '0.2', '0.3']) == 1
    assert '--rate takes one value or a LOW HIGH range' in capsys.readouterr().err
