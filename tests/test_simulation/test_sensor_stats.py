"""Sensor statistics recover known simulated settings, and the calibrated defaults look like a
physical spike camera."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from spikeclip.fileio import write_dat, write_npz
from spikeclip.simulation.dead_leaves import dead_leaves
from spikeclip.simulation.scene import SceneSimulator
from spikeclip.simulation.sensor_stats import (
    quantisation_cv,
    sensor_stats,
    simulate_like,
    suggestions,
)
from spikeclip.simulation.simulator import simulate_spikes
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.errors import ConfigError

FLAT = np.full((64, 64), 0.5, np.float32)
# The realistic recipe's sensor noise before calibration (benchmarks.quality.PRE_CALIBRATION_NOISE)
OLD_NOISE = dict(dark_current=(0.0, 0.01), threshold_mismatch=(0.0, 0.06),
                 photons_per_frame=(50.0, 2000.0), dark_current_mismatch=0.0, read_noise=0.0)


def _flat(num_frames=400, seed=0, **model):
    return simulate_spikes(FLAT, num_frames=num_frames, seed=seed, **model)


def test_the_mean_rate_and_the_fixed_pattern_are_recovered():
    for mismatch in (0.0, 0.015, 0.03, 0.06):
        stats = sensor_stats(_flat(gain=0.5, threshold_mismatch=mismatch))
        assert stats['rate']['mean'] == pytest.approx(0.25, rel=0.01)
        assert stats['fixed_pattern']['relative_std'] == pytest.approx(mismatch, abs=0.004)
        assert stats['still']['looks_still']


def test_spike_timing_noise_is_seen_beyond_quantisation():
    regular = sensor_stats(_flat(gain=0.5, threshold_mismatch=0.02))
    noisy = sensor_stats(_flat(gain=0.5, threshold_mismatch=0.02, photons_per_frame=100.0))
    # a regular pixel varies only by quantisation; 100 photons per threshold add ~1/sqrt(100)
    assert regular['isi']['cv_bright'] == pytest.approx(regular['isi']['quantisation_cv_bright'],
                                                        abs=0.01)
    assert regular['isi']['excess_cv_bright'] < 0.02
    assert 0.06 < noisy['isi']['excess_cv_bright'] < 0.2
    assert regular['consecutive']['share_below_half'] == 0.0


def test_the_dark_rate_is_recovered_on_a_scene_with_black_parts():
    scene = FLAT.copy()
    scene[:, :32] = 0.0
    stats = sensor_stats(simulate_spikes(scene, num_frames=600, seed=1, gain=0.5,
                                         dark_current=0.01))
    assert stats['dark']['scene_has_dark_parts']
    assert stats['dark']['rate_p1'] == pytest.approx(0.01, abs=0.002)
    flat = sensor_stats(_flat(gain=0.5))
    assert not flat['dark']['scene_has_dark_parts']


def test_quantisation_cv_of_a_regular_pixel():
    # rate 0.25: every 4th frame exactly; rate 0.4: intervals 2 and 3, half each
    assert quantisation_cv(np.array([0.25]))[0] == pytest.approx(0.0)
    assert quantisation_cv(np.array([0.4]))[0] == pytest.approx(0.5 / 2.5)


def test_moving_scenes_and_defects_are_found():
    sim = SceneSimulator(200, (64, 64), motion=dict(static_prob=0.0, min_speed=0.5,
                                                    max_speed=1.0), objects=None,
                         light=dict(mean_rate=0.3), noise=None)
    image = dead_leaves(256, np.random.default_rng(0))
    moving = sim.sample(image, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert not sensor_stats(moving.spikes.numpy())['still']['looks_still']
    spikes = _flat(gain=0.5, threshold_mismatch=0.01)
    spikes[:, 10, 10] = 0          # dead
    spikes[:, 20, 20] = 1          # hot
    defects = sensor_stats(spikes)['defects']
    assert defects == dict(hot=1, dead=1)
    assert any('1 hot and 1 dead' in s for s in suggestions(sensor_stats(spikes)))


def test_the_calibrated_defaults_have_the_signature_of_a_real_camera():
    """Bright still scene: interval CV about what quantisation gives (~0.09 measured on physical
    cameras), no consecutive spikes below 0.5 spikes/frame, a fixed pattern of at most ~3 %; the
    earlier defaults failed the first two."""
    image = dead_leaves(192, np.random.default_rng(2))
    measured = {}
    for name, noise in (('calibrated', {}), ('old', OLD_NOISE)):
        sim = SceneSimulator(400, (64, 64), motion=None, objects=None,
                             light=dict(mean_rate=0.22), noise=noise)
        cvs, cons = [], []
        for seed in range(4):
            spikes = sim.sample(image, np.random.default_rng(seed),
                                torch.Generator().manual_seed(seed)).spikes.numpy()
            stats = sensor_stats(spikes)
            cvs.append(stats['isi']['excess_cv_bright'])
            cons.append(stats['consecutive']['share_below_half'])
        measured[name] = (max(cvs), max(cons))
    assert measured['calibrated'][0] < 0.03 and measured['calibrated'][1] < 1e-3
    assert measured['old'][0] > 0.05 or measured['old'][1] > 1e-3
    flat = SceneSimulator(400, (64, 64), motion=None, objects=None, light=dict(mean_rate=0.25),
                          noise={})
    for seed in range(3):
        spikes = flat.sample(np.full((128, 128), 0.5, np.float32), np.random.default_rng(seed),
                             torch.Generator().manual_seed(seed)).spikes.numpy()
        assert sensor_stats(spikes)['fixed_pattern']['relative_std'] < 0.035


def test_files_are_read_streamed_and_short_ones_refused(tmp_path):
    spikes = _flat(num_frames=120, gain=0.4, threshold_mismatch=0.02)
    write_dat(str(tmp_path / 'a.dat'), spikes)
    write_npz(str(tmp_path / 'a.npz'), spikes, 0, 'x')
    direct = sensor_stats(spikes)
    assert sensor_stats(str(tmp_path / 'a.dat'), 64, 64) == direct
    assert sensor_stats(str(tmp_path / 'a.npz')) == direct
    assert sensor_stats(str(tmp_path / 'a.dat'), 64, 64, max_frames=100)['frames'] == 100
    with pytest.raises(ConfigError, match='20 frames; sensor statistics need at least 32'):
        sensor_stats(spikes[:20])


def test_simulate_like_matches_the_recording_it_is_asked_for():
    stats = sensor_stats(_flat(num_frames=100, gain=0.2))
    sim = simulate_like(stats)
    assert sim.shape == (100, 64, 64)
    assert sim.mean() == pytest.approx(0.1, rel=0.25)


def _tool(*args):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, 'tools', 'sensor_stats.py'),
                           *args], capture_output=True, text=True, env=env, timeout=300)


def test_the_tool_prints_both_columns_and_what_to_change(tmp_path):
    spikes = _flat(num_frames=200, gain=0.5, threshold_mismatch=0.02, photons_per_frame=100.0)
    write_dat(str(tmp_path / 'rec.dat'), spikes)
    out = tmp_path / 'stats.json'
    r = _tool(str(tmp_path / 'rec.dat'), '--height', '64', '--width', '64', '--json', str(out))
    assert r.returncode == 0, r.stderr
    assert 'simulation' in r.stdout and 'interval CV, bright still' in r.stdout
    assert 'lower noise.photons_per_frame' in r.stdout
    report = json.loads(out.read_text())[str(tmp_path / 'rec.dat')]
    assert report['recording']['frames'] == 200 and report['simulation']['frames'] == 200
    bad = _tool(str(tmp_path / 'missing.dat'))
    assert bad.returncode == 1 and bad.stderr.count('\n') == 1 and 'missing.dat' in bad.stderr
