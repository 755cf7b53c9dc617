"""The quality comparison gives the baselines their best window and gain; realistic test sets."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.benchmarks.quality import (
    DEFAULT_WINDOWS,
    REALISTIC_TESTSETS,
    STILL_FRAMES,
    compare_with_baselines,
    evaluate_methods,
    format_report,
    format_table,
    make_realistic_testset,
    save_grid,
)
from spikeclip.datasets import (
    HELD_OUT_PHOTOS,
    PairedSpikeDataset,
    SimulatedSpikeDataset,
    simulate_folder,
)
from spikeclip.evaluation.metrics import BRISQUE, NIQE
from spikeclip.evaluation.metrics.no_reference import grey_image
from spikeclip.models.stages import CoarseModel
from spikeclip.testing import REPO_ROOT


@pytest.mark.parametrize('window', [16, 64])
def test_a_tfp_model_cannot_beat_tfp_at_its_best(window):
    data = SimulatedSpikeDataset(split='test', num_samples=6, crop_size=24, num_frames=64, seed=3)
    model = CoarseModel(encoder=dict(type='TFP', window=window, gain=2.0)).eval()
    report = compare_with_baselines(model, data, windows=(8, 16, 32, 64), batch_size=4)
    assert report['num_samples'] == 6
    assert set(report['tfp']['windows']) == {8, 16, 32, 64}
    best = report['tfp']
    assert best['psnr'] == max(w['psnr'] for w in best['windows'].values())
    # the same estimator with a fitted gain and the best window is at least as good
    assert report['margin_db'] <= 1e-6
    assert report['model']['psnr'] <= best['windows'][window]['psnr'] + 1e-6
    assert 'margin over the best baseline' in format_report({'tiny': report})


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('sets')
    return make_realistic_testset('fast_objects', str(root / 'fast'), num_frames=41, height=24,
                                  width=32, per_image=1)


def test_realistic_testset_holds_out_images_and_fixes_the_light(small_set):
    scenes = json.load(open(f'{small_set}/scenes.json'))
    assert scenes['settings']['reference'] == 'scene'
    assert list(scenes['settings']['light']['gain']) == [0.8, 0.8]
    names = set(scenes['samples'])  # one window per image: the sample names are image names
    photos = {n for n in names if not n.startswith('dead_leaves')}
    assert photos and photos <= set(HELD_OUT_PHOTOS) and len(names - photos) == 2
    assert all(s['gain'] == 0.8 and s['objects'] >= 1 for s in scenes['samples'].values())
    assert set(REALISTIC_TESTSETS) >= {'camera_pan', 'fast_objects', 'low_light', 'static'}


def test_still_sets_cover_three_light_levels_with_long_recordings(tmp_path):
    rates = {}
    for name in ('still_bright', 'still_dark'):
        folder = make_realistic_testset(name, str(tmp_path / name), height=24, width=32,
                                        per_image=1)
        data = PairedSpikeDataset(folder, 24, 32)
        assert data[0]['inputs'].shape[0] == STILL_FRAMES >= 251  # the longest TFP window fits
        rates[name] = float(torch.stack([it['inputs'] for it in data]).float().mean())
    assert 0.15 < rates['still_bright'] < 0.3 and 0.02 < rates['still_dark'] < 0.045
    assert REALISTIC_TESTSETS['still_dim']['light']['gain'] == 0.25
    assert 251 in DEFAULT_WINDOWS


def test_every_method_scored_with_a_fitted_gain(small_set, tmp_path):
    data = PairedSpikeDataset(small_set, 24, 32)
    # the same estimator at half the brightness scores exactly alike after the fitted gain
    a = CoarseModel(encoder=dict(type='TFP', window=9, gain=1.0)).eval()
    b = CoarseModel(encoder=dict(type='TFP', window=9, gain=0.5)).eval()
    r = evaluate_methods({'a': a, 'b': b}, data, windows=(5, 9, 41), keep_images=2)
    m = r['methods']
    assert m['a']['psnr'] == pytest.approx(m['b']['psnr'], abs=1e-4)
    assert 2 * m['a']['gain'] == pytest.approx(m['b']['gain'], rel=1e-4)
    assert m['a']['psnr'] == pytest.approx(r['tfp_windows'][9]['psnr'], abs=1e-4)
    best = r['best_tfp_window']
    assert m[f'TFP (best: {best} frames)']['psnr'] == max(
        w['psnr'] for w in r['tfp_windows'].values())
    table = format_table({'fast': r})
    assert 'TFP (best window)' in table and 'margin a' in table
    # the margins' 95 % intervals: paired over the recordings, around the margin itself
    lines = table.splitlines()
    start = lines.index(next(t for t in lines if t.startswith('PSNR margin, 95 % interval')))
    row = next(t for t in lines[start:] if t.startswith('a '))
    low, high = (float(v) for v in row.split('[')[1].rstrip(']').split(','))
    tfp, tfi = m[f'TFP (best: {best} frames)'], m['TFI']
    margin = m['a']['psnr'] - max(tfp['psnr'], tfi['psnr'])
    assert low - 0.01 <= margin <= high + 0.01
    grid = save_grid({'fast': r}, str(tmp_path / 'grid.png'))
    with Image.open(grid) as im:
        assert im.size == (5 * 256, 192 + 28 + 4)  # TFP, TFI, a, b, reference; 24x32 -> 192x256


def test_benchmark_quality_tool(tmp_path):
    model = CoarseModel(encoder=dict(type='TFP', window=9, gain=1.0))
    ckpt = tmp_path / 'tfp.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(spikeclip=dict(
        stage='coarse', model=model.export_cfg()))), ckpt)
    out = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/benchmark_quality.py', f'tfp9={ckpt}', '--sets',
         'camera_pan', 'static', '--frames', '41', '--height', '24', '--width', '32',
         '--per-image', '1', '--work-dir', str(tmp_path / 'q')],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert 'tfp9' in out.stdout and 'camera_pan' in out.stdout
    report = json.load(open(tmp_path / 'q' / 'quality.json'))
    assert set(report) == {'camera_pan', 'static'}
    assert (tmp_path / 'q' / 'quality_grid.png').is_file()


def test_no_reference_columns_score_the_calibrated_images(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / 'images').mkdir()
    for name in ('a', 'b'):
        img = rng.random((25, 25)).repeat(8, 0).repeat(8, 1)  # blocks: some structure
        Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / 'images' / f'{name}.png')
    simulate_folder(str(tmp_path / 'images'), str(tmp_path / 'set'), num_frames=16, height=200,
                    width=200, progress=False)
    data = PairedSpikeDataset(str(tmp_path / 'set'), 200, 200)
    model = CoarseModel(encoder=dict(type='TFP', window=16, gain=1.0)).eval()
    r = evaluate_methods({'a': model}, data, windows=(16, ), keep_images=2)
    a = r['methods']['a']
    imgs = r['images']['a']  # the calibrated images the columns score
    assert a['niqe'] == pytest.approx(sum(NIQE().score(grey_image(i)) for i in imgs) / 2)
    assert a['brisque'] == pytest.approx(sum(BRISQUE().score(grey_image(i)) for i in imgs) / 2)
    small = SimulatedSpikeDataset(split='test', num_samples=1, crop_size=24, num_frames=16)
    m = evaluate_methods({'a': model}, small, windows=(16, ))['methods']['a']
    assert m['niqe'] is None and m['brisque'] is not None  # NIQE needs 194 px a side
    table = format_table({'big': r}).splitlines()
    start = table.index(next(t for t in table if t.startswith('NIQE / BRISQUE')))
    row = next(t for t in table[start:] if t.startswith('a '))
    assert f'{a["niqe"]:.2f}/{a["brisque"]:.1f}' in row
