import numpy as np
import pytest
import torch

from spikeclip.simulation import SpikeCameraModel, simulate_spikes, sliding_crops


@pytest.mark.parametrize('noise', [dict(), dict(threshold_mismatch=0.3),
                                   dict(threshold_mismatch=0.2, dark_current=0.1),
                                   dict(photons_per_frame=3.0)])
def test_saturated_pixels_stay_binary(noise):
    spikes = simulate_spikes(torch.ones(2, 40, 40), 300, seed=1, gain=1.0, **noise)
    assert spikes.dtype == torch.uint8 and spikes.max() == 1  # never 2 (or 255)


def test_rate_is_gain_times_intensity():
    ramp = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(4, 0)  # [4, 11]
    spikes = simulate_spikes(ramp, 1000, seed=0, gain=0.5)
    assert isinstance(spikes, np.ndarray) and spikes.shape == (1000, 4, 11)
    assert np.abs(spikes.mean(axis=(0, 1)) - 0.5 * ramp[0]).max() <= 1 / 1000 + 1e-9


def test_static_scene_equals_its_expanded_frames():
    scene = torch.rand(2, 9, 7)
    model = SpikeCameraModel(gain=0.7, dark_current=0.01, threshold_mismatch=0.1)
    static = simulate_spikes(scene, 50, model=model, seed=3)
    frames = simulate_spikes(scene[:, None].expand(-1, 50, -1, -1).contiguous(), model=model,
                             seed=3)
    assert static.shape == (2, 50, 9, 7) and torch.equal(static, frames)


def test_sliding_crops_match_slices_at_whole_pixels():
    img = torch.rand(30, 50)
    crops = sliding_crops(img, 5, (10, 12), (3, 7), (2.0, 1.0))
    for t in range(5):
        assert torch.allclose(crops[t], img[3 + 2 * t:13 + 2 * t, 7 + t:19 + t], atol=1e-5)
