"""The display exposure of inference output: one gain per recording, recorded, recoverable."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from spikeclip.apis import infer_files, infer_recordings, iter_frames, to_uint8
from spikeclip.fileio import write_dat
from spikeclip.models.stages.coarse import CoarseModel
from spikeclip.utils.exposure import to_display

H, W, T = 20, 28, 200


def tfp_model(window: int = 9) -> CoarseModel:
    return CoarseModel(encoder=dict(type='TFP', window=window),
                       data_preprocessor=dict(type='SpikeDataPreprocessor', window=window)).eval()


@pytest.fixture(scope='module')
def ramp(tmp_path_factory):
    """A scene brightening over time: the firing probability is ``scene * (0.04 + 0.2 t / T)``
    (about 5x brighter at the end than at the start)."""
    rng = np.random.default_rng(0)
    scene = np.linspace(0.3, 1.0, W)[None, :] * np.ones((H, 1))
    level = 0.04 + 0.2 * np.arange(T) / T
    spikes = (rng.random((T, H, W)) < scene * level[:, None, None]).astype(np.uint8)
    path = str(tmp_path_factory.mktemp('ramp') / 'ramp.dat')
    write_dat(path, spikes)
    return path


def frames_of(folder, names):
    return {n: np.asarray(Image.open(osp.join(folder, f'{n:06d}.png'))) for n in names}


def test_auto_is_one_gain_per_recording_and_keeps_the_ratio_of_frames(ramp, tmp_path):
    out = str(tmp_path / 'out')
    entry = infer_recordings(tfp_model(), [ramp], out, '10:190:20', height=H, width=W,
                             save_float=True)[0]
    with open(osp.join(out, 'predictions.json')) as f:
        recorded = json.load(f)[0]
    gain = recorded['gain']
    assert recorded['exposure'] == 'auto' and gain == entry['gain'] > 2  # brightened
    with open(osp.join(out, 'ramp', 'run.json')) as f:
        assert json.load(f)['gain'] == gain
    first, last = 10, 170
    pngs = frames_of(osp.join(out, 'ramp'), range(10, 190, 20))
    for item in recorded['per_frame']:  # every frame at the same gain: the rates are recovered
        rates = np.load(item['float'])
        assert rates.dtype == np.float32 and rates.shape == (H, W)
        np.testing.assert_array_equal(pngs[item['frame']], to_uint8(gain * rates))
    rate_first = np.load(recorded['per_frame'][0]['float']).mean()
    rate_last = np.load(recorded['per_frame'][-1]['float']).mean()
    assert rate_last / rate_first > 3
    # the brightening survives in the images (a per-frame gain would make them alike)
    ratio = pngs[last].astype(float).mean() / pngs[first].astype(float).mean()
    assert ratio == pytest.approx(rate_last / rate_first, rel=0.05)
    assert pngs[last].max() == 255  # the range is used: the bright end reaches white


def test_linear_is_the_rate_bit_for_bit(ramp, tmp_path):
    frames = list(iter_frames(tfp_model(), ramp, '10:30:5', height=H, width=W))
    assert all(f.gain == 1.0 for f in frames)
    infer_recordings(tfp_model(), [ramp], str(tmp_path / 'v'), '10:30:5', height=H, width=W,
                     exposure='linear')
    single = infer_files(tfp_model(), [ramp], str(tmp_path / 's'), frame=15, height=H, width=W,
                         exposure='linear')[0]
    for f in frames:
        png = frames_of(str(tmp_path / 'v' / 'ramp'), [f.index])[f.index]
        np.testing.assert_array_equal(png, to_uint8(f.image))
        np.testing.assert_array_equal(png, f.pixels())
    assert single['gain'] == 1.0 and single['exposure'] == 'linear'
    np.testing.assert_array_equal(np.asarray(Image.open(single['image'])),
                                  to_uint8(frames[1].image))


def test_iter_frames_auto_and_fixed_gains_are_one_per_range(ramp):
    auto = list(iter_frames(tfp_model(), ramp, '10:190:30', height=H, width=W, exposure='auto'))
    assert len({f.gain for f in auto}) == 1 and auto[0].gain > 2
    np.testing.assert_array_equal(auto[2].pixels(), to_display(auto[2].image, auto[0].gain))
    fixed = list(iter_frames(tfp_model(), ramp, '10:40:10', height=H, width=W, exposure=3))
    assert {f.gain for f in fixed} == {3.0}


def test_single_image_auto_and_fixed_gain_recover_the_rates(ramp, tmp_path):
    for exposure in ('auto', '2.5'):
        out = str(tmp_path / exposure)
        entry = infer_files(tfp_model(), [ramp], out, height=H, width=W, exposure=exposure,
                            save_float=True)[0]
        rates = np.load(entry['float'])
        png = np.asarray(Image.open(entry['image']))
        np.testing.assert_array_equal(png, to_uint8(entry['gain'] * rates))
        with open(osp.join(out, 'predictions.json')) as f:
            assert json.load(f)[0]['gain'] == entry['gain']
    assert entry['gain'] == 2.5


def test_a_resumed_run_reuses_the_recorded_gain(ramp, tmp_path):
    """Extending a range to brighter frames keeps the first run's gain: the folder's frames stay
    comparable (a fresh 'auto' over the longer range would pick a smaller gain)."""
    out = str(tmp_path / 'out')
    first = infer_recordings(tfp_model(), [ramp], out, '10:60:10', height=H, width=W)[0]['gain']
    fresh = infer_recordings(tfp_model(), [ramp], str(tmp_path / 'fresh'), '10:190:10',
                             height=H, width=W)[0]['gain']
    assert fresh < first * 0.8
    entry = infer_recordings(tfp_model(), [ramp], out, '10:190:10', height=H, width=W,
                             save_float=True)[0]
    assert entry['gain'] == first and entry['complete']
    rates = np.load(osp.join(out, 'ramp', '000100.npy'))
    np.testing.assert_array_equal(frames_of(osp.join(out, 'ramp'), [100])[100],
                                  to_uint8(first * rates))
