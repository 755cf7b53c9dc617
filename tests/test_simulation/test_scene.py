"""Realistic scenes: camera paths, moving objects, light levels, sensor noise, determinism."""
import math

import numpy as np
import pytest
import torch

from spikeclip.simulation import (
    CameraMotionConfig,
    CameraPath,
    ObjectsConfig,
    SceneSimulator,
    dead_leaves,
    random_camera_path,
    render_view,
    simulate_spikes,
    view_grid,
)


def _image(h=120, w=160, seed=0):
    return dead_leaves(max(h, w), np.random.default_rng(seed))[:h, :w].copy()


def test_every_path_is_the_identity_at_the_centre_frame():
    rng = np.random.default_rng(0)
    cfg = CameraMotionConfig(static_prob=0.0, accel_prob=1.0, shake_prob=1.0, max_spin=1.0,
                             max_zoom=0.01)
    for t in (2, 41, 200):
        path = random_camera_path(rng, cfg, t)
        assert not path.is_static
        offset, angle, zoom = path.poses(t)
        assert np.all(offset[t // 2] == 0) and angle[t // 2] == 0 and zoom[t // 2] == 0
        assert np.abs(offset).max() > 0


def test_the_centre_frame_is_the_still_view():
    img = torch.from_numpy(_image())
    path = CameraPath(velocity=(0.7, -0.4), acceleration=(0.01, 0.0), spin=0.01,
                      zoom_rate=0.002, shake=1.0)
    frames = render_view(img, 41, (32, 48), path, centre=(60.0, 80.0))
    still = img[60 - 16 + 0:60 + 16, 80 - 24:80 + 24]  # centre at a half pixel: (h-1)/2 = 15.5
    # the regular grid around (60, 80) samples half-way between pixels
    expected = 0.25 * (img[44:76, 56:104] + img[45:77, 56:104] + img[44:76, 57:105] +
                       img[45:77, 57:105])
    assert still.shape == expected.shape
    torch.testing.assert_close(frames[20], expected, atol=1e-5, rtol=0)
    assert (frames[0] - frames[20]).abs().mean() > 0.01  # the other frames moved
    grid = view_grid(41, (32, 48), path, (60.0, 80.0))
    assert torch.allclose(grid[20, 0, 0], torch.tensor([60 - 15.5, 80 - 23.5]))


def test_scene_reference_is_the_centre_frame_times_the_light():
    sim = SceneSimulator(41, (24, 32), motion={}, objects=dict(prob=1.0),
                         light=dict(gain=(0.3, 0.3)), noise={}, view={}, nominal_gain=0.5)
    img = _image()
    frames, info = sim.render(img, np.random.default_rng(7), textures=[img])
    sample = sim.sample(img, np.random.default_rng(7), torch.Generator().manual_seed(0),
                        textures=[img])
    assert info['objects'] >= 1
    torch.testing.assert_close(sample.gt, (frames[20] * 0.3 / 0.5).clamp(0, 1))
    assert sample.spikes.shape == (41, 24, 32) and sample.spikes.dtype == torch.uint8


def test_objects_move_on_their_own_over_a_still_background():
    flat = np.full((100, 100), 0.2, np.float32)
    texture = np.full((100, 100), 0.9, np.float32)
    sim = SceneSimulator(21, (40, 40), motion=None,
                         objects=dict(prob=1.0, max_count=1, min_speed=1.0, max_speed=1.0,
                                      contrast_range=(1, 1), max_shift=0.0),
                         noise=None, view=None)
    frames, info = sim.render(flat, np.random.default_rng(3), textures=[texture])
    assert info['objects'] == 1 and info['speed'] == 0
    bright = [(f > 0.5).float() for f in frames]
    assert bright[10].sum() > 20  # the object is in view at the centre frame
    assert not torch.equal(bright[0], bright[20])  # and it moved
    # it occludes: inside the object the background is gone
    assert frames[10].max() == pytest.approx(0.9, abs=1e-4)


@pytest.mark.parametrize('rate', [0.05, 0.2, 0.6])
def test_rates_follow_the_light_level(rate):
    sim = SceneSimulator(400, (16, 16), motion=None, light=dict(mean_rate=rate), noise=None,
                         view=None)
    sample = sim.sample(_image(), np.random.default_rng(1), torch.Generator().manual_seed(1))
    # the light gain is set for the requested mean rate; pixels brighter than one spike per
    # frame saturate (at 0.6 a few do), in the sensor and in the reference alike
    assert sample.info['gain'] * float(torch.from_numpy(_image()).mean()) != 0
    assert rate * 0.95 <= sample.info['mean_rate'] <= rate + 1e-6
    assert float(sample.spikes.float().mean()) == pytest.approx(sample.info['mean_rate'],
                                                                rel=0.03)
    # the reference is the expected spike rate (nominal gain 1)
    assert float(sample.gt.mean()) == pytest.approx(sample.info['mean_rate'], rel=1e-4)


def test_noise_options_change_what_they_should():
    flat = torch.full((1, 64, 64), 0.3)
    black = torch.zeros(1, 64, 64)
    t = 2000

    def rate(x, **kw):
        return simulate_spikes(x, t, seed=0, gain=1.0, **kw).float().mean(1)[0]  # [H, W]

    assert float(rate(black).mean()) == 0
    assert float(rate(black, dark_current=0.01).mean()) == pytest.approx(0.01, rel=0.05)
    # threshold mismatch: a fixed pattern over pixels, not over time
    assert float(rate(flat).std()) < 0.002
    assert float(rate(flat, threshold_mismatch=0.1).std()) > 0.02
    # shot noise: intervals jitter, rates stay
    clean = simulate_spikes(flat, t, seed=0, gain=1.0)[0]
    noisy = simulate_spikes(flat, t, seed=0, gain=1.0, photons_per_frame=20.0)[0]
    assert float(noisy.float().mean()) == pytest.approx(0.3, rel=0.03)

    def interval_std(s):
        idx = torch.nonzero(s[:, 5, 5]).flatten().float()
        return float(idx.diff().std())
    assert interval_std(noisy) > 1.5 * interval_std(clean)
    poisson = simulate_spikes(flat, t, seed=0, gain=1.0, photons_per_frame=20.0,
                              shot_noise='poisson')[0]
    assert interval_std(poisson) == pytest.approx(interval_std(noisy), rel=0.5)
    # reset to zero loses the residual charge: 0.4 per frame fires every 3rd frame, not 2.5th
    x = torch.full((1, 8, 8), 0.4)
    assert float(rate(x).mean()) == pytest.approx(0.4, abs=1e-3)
    assert float(rate(x, reset='zero').mean()) == pytest.approx(1 / 3, abs=1e-3)


def test_simulator_settings_are_checked():
    with pytest.raises(ValueError, match='exactly one of mean_rate and gain'):
        SceneSimulator(8, (8, 8), light=dict(mean_rate=0.1, gain=0.5))
    with pytest.raises(ValueError, match="unknown options \\['speed'\\]"):
        SceneSimulator(8, (8, 8), motion=dict(speed=1.0))
    with pytest.raises(ValueError, match='reset'):
        simulate_spikes(torch.zeros(4, 4), 3, reset='half')
    with pytest.raises(ValueError, match='objects size_range'):
        ObjectsConfig(size_range=(0.5, 0.1))


def test_dead_leaves_are_deterministic_and_varied():
    a = dead_leaves(64, np.random.default_rng(5))
    b = dead_leaves(64, np.random.default_rng(5))
    c = dead_leaves(64, np.random.default_rng(6))
    assert a.shape == (64, 64) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 1 and a.std() > 0.1
    # edges at all scales: strong gradients, and flat areas
    grad = np.abs(np.diff(a, axis=1))
    assert (grad > 0.2).mean() > 0.01 and (grad < 0.01).mean() > 0.2


def test_fast_paths_shrink_to_fit_small_images():
    rng = np.random.default_rng(0)
    sim = SceneSimulator(200, (32, 32), motion=dict(static_prob=0.0, min_speed=2.0,
                                                     max_speed=2.0), view=None)
    img = _image(60, 60)
    frames, info = sim.render(img, rng)
    assert frames.shape == (200, 32, 32)
    assert info['speed'] * 199 <= 60 - 31 + 1e-6  # halved until the path fits
    assert math.isfinite(float(frames.sum()))
