"""AdaptiveWindow: the long-window quality on still scenes, the short model's on moving ones, and
inputs from the short window up to the long one."""
import numpy as np
import pytest
import torch

from spikeclip.apis import init_model
from spikeclip.models.data_preprocessors import SpikeDataPreprocessor
from spikeclip.models.encoders import AdaptiveWindow
from spikeclip.models.stages import CoarseModel
from spikeclip.simulation import dead_leaves, simulate_spikes
from spikeclip.utils.errors import ConfigError, SpikeFormatError

H, W, T = 48, 64, 251


@pytest.fixture(scope='module')
def adaptive():
    """The shipped pretrained:real (AdaptiveWindow around the MotionUNet of real-short)."""
    return init_model('pretrained:real', device='cpu').encoder


def _scene(seed: int, speed: float = 0.0, num_frames: int = T):
    """A dead-leaves scene ``[T, H, W]`` panning by ``speed`` px/frame (whole-pixel steps) and
    its view at the centre frame."""
    img = dead_leaves(200, np.random.default_rng(seed)).astype(np.float32)
    c = num_frames // 2
    frames = np.stack([img[40:40 + H, 60 + int(round(speed * (t - c))):][:, :W]
                       for t in range(num_frames)])
    return torch.from_numpy(frames), torch.from_numpy(frames[c])[None, None]


def _psnr(pred, ref):
    gain = float((pred * ref).sum() / (pred * pred).sum())  # as the benchmarks fit it
    mse = float(((pred * gain).clamp(0, 1) - ref).pow(2).mean())
    return 10 * np.log10(1 / mse)


def _run(model, frames, seed=0, gain=0.25):
    spikes = simulate_spikes(frames[None], seed=seed, gain=gain, threshold_mismatch=0.0).float()
    return spikes, model(spikes)


@torch.inference_mode()
def test_a_still_scene_gets_the_long_window_quality(adaptive):
    frames, ref = _scene(1)
    spikes, out = _run(adaptive, frames)
    long_tfp = spikes.mean(1, keepdim=True)
    short = adaptive.short(spikes[:, 105:146])
    assert _psnr(out, ref) > _psnr(long_tfp, ref) - 0.5
    assert _psnr(out, ref) > _psnr(short, ref) + 2.0


@torch.inference_mode()
def test_a_moving_scene_is_not_smeared(adaptive):
    frames, ref = _scene(2, speed=0.4)
    spikes, out = _run(adaptive, frames)
    short = adaptive.short(spikes[:, 105:146])
    assert _psnr(out, ref) > _psnr(short, ref) - 0.5
    assert _psnr(out, ref) > _psnr(spikes.mean(1, keepdim=True), ref) + 5.0
    _, level = adaptive(spikes, return_level=True)
    assert float(level.mean()) < 0.2 * T  # mostly the short model


@torch.inference_mode()
def test_inputs_shorter_than_the_long_window(adaptive):
    frames, ref = _scene(3, num_frames=100)
    spikes, out = _run(adaptive, frames)
    assert adaptive.lengths(100) == [41, 81, 100]
    assert out.shape == (1, 1, H, W) and float(adaptive(spikes, return_level=True)[1].max()) <= 100
    assert _psnr(out, ref) > _psnr(spikes[:, 30:71].mean(1, keepdim=True), ref)
    assert adaptive(spikes[:, :41]).shape == (1, 1, H, W)  # the short window alone
    with pytest.raises(SpikeFormatError, match='takes 41 to 251 frames, but the spike window '
                                               'has T=40'):
        adaptive(spikes[:, :40])


def test_the_preprocessor_passes_short_inputs_only_with_min_window():
    pre = SpikeDataPreprocessor(window=251, min_window=41)
    assert pre(dict(inputs=torch.zeros(1, 100, 8, 8)))['inputs'].shape[1] == 100
    assert pre(dict(inputs=torch.zeros(1, 300, 8, 8)))['inputs'].shape[1] == 251
    with pytest.raises(SpikeFormatError, match='at least 41 frames .up to 251. but the input has '
                                               'only 40'):
        pre(dict(inputs=torch.zeros(1, 40, 8, 8)))
    with pytest.raises(SpikeFormatError, match='a window of 41 frames but the input has only 40'):
        SpikeDataPreprocessor(window=41)(dict(inputs=torch.zeros(1, 40, 8, 8)))
    # A fixed-window encoder is never handed a shorter input.
    with pytest.raises(ConfigError, match='min_window=41: the encoder MotionUNet reads a fixed '
                                          'window'):
        CoarseModel(encoder=dict(type='MotionUNet', window=41, channels=(4, 8)),
                    data_preprocessor=dict(type='SpikeDataPreprocessor', window=81,
                                           min_window=41))
    model = CoarseModel(encoder=dict(type='AdaptiveWindow', window=81,
                                     levels=(), short=dict(type='TFP', window=41)),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=81,
                                               min_window=41))
    assert model.encoder.min_window == 41


def test_config_errors():
    short = dict(type='MotionUNet', window=41, channels=(4, 8))
    with pytest.raises(ConfigError, match='declares no window length'):
        AdaptiveWindow(dict(type='TFP'))
    with pytest.raises(ConfigError, match='levels must lie strictly between'):
        AdaptiveWindow(short, window=81, levels=(101, ))
    with pytest.raises(ConfigError, match="mode must be 'hard' or 'soft'"):
        AdaptiveWindow(short, mode='blend')
    with pytest.raises(ConfigError, match=r'camera_share must be in \(0, 1\]'):
        AdaptiveWindow(short, camera_share=0.0)


@torch.inference_mode()
def test_a_moving_camera_keeps_the_whole_view_on_the_short_model(adaptive):
    """Where most of the view fails the test (camera motion), even the flat areas that pass it
    stay on the short model: a pan leaves the image as the short model makes it."""
    frames, ref = _scene(6, speed=0.3)
    spikes, out = _run(adaptive, frames)
    short = adaptive.short(spikes[:, 105:146])
    assert adaptive.camera_share < 1
    assert torch.allclose(out, short.clamp(0, 1), atol=1e-6)
