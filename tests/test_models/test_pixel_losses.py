"""Pixel losses, the shared SSIM function and the self-supervised loss."""
import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from spikeclip.models.encoders import TFI, TFP
from spikeclip.models.losses import CharbonnierLoss, GradientLoss, L1Loss, MSELoss, SSIMLoss
from spikeclip.models.losses.pixel_losses import sobel_gradients, ssim
from spikeclip.models.losses.self_supervised import SelfSupervisedLoss
from spikeclip.registry import LOSSES
from spikeclip.simulation import simulate_spikes
from spikeclip.utils.errors import ConfigError

PIXEL = ['L1Loss', 'MSELoss', 'CharbonnierLoss', 'SSIMLoss', 'GradientLoss']


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0)


def image_pairs():
    rng = np.random.default_rng(0)
    cam = data.camera()[100:164, 200:290].astype(np.float64) / 255
    noisy = np.clip(cam + 0.1 * rng.standard_normal(cam.shape), 0, 1)
    yield 'random', rng.random((37, 53)), rng.random((37, 53))
    yield 'random_correlated', *(lambda a: (a, np.clip(a + 0.05 * rng.standard_normal(a.shape),
                                                       0, 1)))(rng.random((40, 40)))
    yield 'camera_noisy', cam, noisy
    yield 'camera_dark', cam, cam * 0.5
    yield 'minimum_size', rng.random((11, 11)), rng.random((11, 11))
    yield 'identical', cam, cam


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-6), (torch.float32, 1e-3)])
def test_ssim_matches_skimage(dtype, tol):
    for name, a, b in image_pairs():
        ref = skimage_ssim(a, b)
        ours = ssim(torch.tensor(a, dtype=dtype)[None, None],
                    torch.tensor(b, dtype=dtype)[None, None])
        assert ours.shape == (1,)
        assert abs(float(ours) - ref) < tol, name


def test_ssim_is_per_image_and_per_channel_mean():
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 2, 20, 24)), rng.random((2, 2, 20, 24))
    ours = ssim(torch.tensor(a), torch.tensor(b))
    ref = [np.mean([skimage_ssim(a[n, c], b[n, c]) for c in range(2)]) for n in range(2)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)


def test_ssim_rejects_small_or_mismatched_images():
    with pytest.raises(ValueError, match='11x11'):
        ssim(torch.rand(1, 1, 10, 30), torch.rand(1, 1, 10, 30))
    with pytest.raises(ValueError, match='same shape'):
        ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17))


def test_ssim_loss_is_differentiable():
    pred = torch.rand(1, 1, 12, 13, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 1, 12, 13, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: SSIMLoss()(p, target), (pred,), fast_mode=True)
    assert float(SSIMLoss()(target, target)) == pytest.approx(0.0, abs=1e-12)


def test_elementwise_losses_values_and_reductions():
    pred = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    target = torch.tensor([0.5, 0.5, 0.0]).view(1, 1, 1, 3)
    assert float(L1Loss()(pred, target)) == pytest.approx(0.5)
    assert float(MSELoss()(pred, target)) == pytest.approx((0.25 + 1) / 3)
    assert float(L1Loss(reduction='sum')(pred, target)) == pytest.approx(1.5)
    assert float(L1Loss(loss_weight=2.0)(pred, target)) == pytest.approx(1.0)
    charb = CharbonnierLoss(eps=1e-3, reduction='none')(pred, target)
    assert charb.shape == (1, 1, 1, 3)
    torch.testing.assert_close(charb.flatten(), torch.tensor([0.5, 1e-3, 1.0]), atol=1e-5,
                               rtol=0)


def test_loss_reduction_none_shapes():
    pred, target = torch.rand(3, 1, 16, 20), torch.rand(3, 1, 16, 20)
    assert SSIMLoss(reduction='none')(pred, target).shape == (3,)
    assert GradientLoss(reduction='none')(pred, target).shape == (3, 2, 16, 20)
    assert MSELoss(reduction='none')(pred, target).shape == (3, 1, 16, 20)


def test_sobel_and_gradient_loss():
    ramp = torch.arange(12.0).view(1, 1, 1, 12).expand(1, 1, 8, 12) * 0.05
    grads = sobel_gradients(ramp)
    torch.testing.assert_close(grads[0, 0, :, 1:-1], torch.full((8, 10), 0.05))  # d/dx
    torch.testing.assert_close(grads[0, 1], torch.zeros(8, 12))  # d/dy
    img = torch.rand(2, 1, 16, 16)
    assert float(GradientLoss()(img + 0.3, img)) == pytest.approx(0.0, abs=1e-6)  # offset-blind
    assert float(GradientLoss()(img.flip(-1), img)) > 0.05


@pytest.mark.parametrize('name', PIXEL)
def test_pixel_losses_protocol(name):
    loss = LOSSES.build(dict(type=name))
    assert loss.name.startswith('loss_')
    assert loss.inputs == ('pred', 'target')
    pred = torch.rand(2, 1, 16, 16, requires_grad=True)
    value = loss(pred, torch.rand(2, 1, 16, 16))
    assert value.ndim == 0 and value > 0
    value.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    with pytest.raises(ValueError, match='same shape'):
        loss(torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 17))
    with pytest.raises(ValueError, match='reduction'):
        LOSSES.build(dict(type=name, reduction='avg'))


def test_default_names():
    names = {n: LOSSES.build(dict(type=n)).name for n in [*PIXEL, 'SelfSupervisedLoss']}
    assert names == dict(L1Loss='loss_l1', MSELoss='loss_mse',
                         CharbonnierLoss='loss_charbonnier', SSIMLoss='loss_ssim',
                         GradientLoss='loss_gradient', SelfSupervisedLoss='loss_self_supervised')
    assert LOSSES.build(dict(type='L1Loss', name='loss_px')).name == 'loss_px'


def test_bad_loss_arguments_raise():
    with pytest.raises(ValueError, match='eps'):
        CharbonnierLoss(eps=0)
    with pytest.raises(ValueError, match='data_range'):
        SSIMLoss(data_range=0)


# --------------------------------------------------------------------------- self-supervised


@pytest.fixture(scope='module')
def spikes():
    scene = torch.linspace(0.1, 0.9, 24).view(1, 24).expand(16, 24)
    return simulate_spikes(scene.expand(2, -1, -1), num_frames=200, seed=0).float()


@pytest.mark.parametrize('target,encoder', [('tfp', TFP(window=64, gain=2.0)),
                                            ('tfi', TFI(gain=2.0))])
def test_self_supervised_target_is_tfp_or_tfi(spikes, target, encoder):
    kwargs = dict(window=64) if target == 'tfp' else {}
    loss = SelfSupervisedLoss(target=target, gain=2.0, criterion='l1', **kwargs)
    assert loss.inputs == ('pred', 'spikes')
    expected = encoder(spikes)
    assert float(loss(expected, spikes)) == pytest.approx(0.0, abs=1e-7)
    assert float(loss(expected + 0.1, spikes)) == pytest.approx(0.1, abs=1e-5)


def test_self_supervised_gradients_and_criteria(spikes):
    pred = torch.full((2, 1, 16, 24), 0.5, requires_grad=True)
    loss = SelfSupervisedLoss(gain=2.0, loss_weight=3.0)
    value = loss(pred, spikes)
    value.backward()
    assert pred.grad.abs().sum() > 0
    mse = SelfSupervisedLoss(gain=2.0, criterion='mse', reduction='none')(pred, spikes)
    assert mse.shape == (2, 1, 16, 24)
    charb = SelfSupervisedLoss(gain=2.0)(pred, spikes)
    assert value.item() == pytest.approx(3 * charb.item())


@pytest.mark.parametrize('kwargs,match', [(dict(target='tfx'), 'target'),
                                          (dict(criterion='huber'), 'criterion'),
                                          (dict(target='tfi', window=32), 'window'),
                                          (dict(window=0), 'window')])
def test_self_supervised_bad_args(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SelfSupervisedLoss(**kwargs)


@pytest.mark.parametrize('name', ['L1Loss', 'MSELoss', 'CharbonnierLoss', 'SSIMLoss',
                                  'GradientLoss'])
def test_relative_losses_weigh_every_light_level_alike(name):
    torch.manual_seed(0)
    target = torch.rand(2, 1, 16, 16) * 0.8 + 0.1
    pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1)
    loss = LOSSES.build(dict(type=name, relative=True, **(dict(eps=1e-6) if name ==
                                                          'CharbonnierLoss' else {})))
    # the same scene and error at a tenth of the light: the same relative loss
    torch.testing.assert_close(loss(pred * 0.1, target * 0.1), loss(pred, target),
                               rtol=1e-4, atol=1e-5)
    plain = LOSSES.build(dict(type=name))
    if name != 'SSIMLoss':  # SSIM is already insensitive to a common scale (up to its c1, c2)
        assert float(plain(pred * 0.1, target * 0.1)) < 0.5 * float(plain(pred, target))


def test_relative_scale_is_the_light_level_not_the_content():
    # a dark scene with a few bright stars at full light: divided by the bright end, not by the
    # (tiny) mean, so its loss is not inflated fifty-fold
    target = torch.zeros(1, 1, 20, 20)
    target[..., ::4, ::4] = 0.9
    pred = target + 0.01
    rel = LOSSES.build(dict(type='L1Loss', relative=True, relative_quantile=0.95))
    assert float(rel(pred, target)) == pytest.approx(0.01 / 0.9, rel=1e-4)
