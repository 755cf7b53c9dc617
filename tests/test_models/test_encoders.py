"""Stage-1 encoders: shapes and ranges at any size, calibration, registry, SNN state, training."""
import pytest
import torch
from spikingjelly.activation_based import functional

from spikeclip.models.encoders import LRN, TFI, TFP, MotionUNet, SpikingUNet, fit_gain
from spikeclip.models.encoders.tfi import spike_interval
from spikeclip.models.encoders.utils import bin_frames, bin_frames_even, count_parameters
from spikeclip.registry import ENCODERS
from spikeclip.simulation import simulate_spikes
from spikeclip.utils.errors import ConfigError, SpikeFormatError

T = 200
SIM_GAIN = 0.5  # simulator default: white fires every other frame, so TFP/TFI gain 2 calibrates


def scene(h: int, w: int) -> torch.Tensor:
    """A structured grey scene ``[H, W]``: a ramp with a bright square and a dark bar."""
    y = torch.linspace(0, 1, h)[:, None]
    x = torch.linspace(0, 1, w)[None, :]
    img = 0.2 + 0.5 * x * (0.5 + 0.5 * y)
    img[h // 4:h // 2, w // 4:w // 2] = 0.95
    img[3 * h // 4:, :] = 0.05
    return img


def spikes_of(img: torch.Tensor, n: int = 1, seed: int = 0) -> torch.Tensor:
    """Simulated spike window ``[n, T, H, W]`` (float 0/1) of a static scene."""
    return simulate_spikes(img.expand(n, -1, -1), num_frames=T, seed=seed).float()


@pytest.fixture(scope='module')
def big_spikes():
    return spikes_of(scene(250, 400))


def build(name: str, **kwargs):
    torch.manual_seed(0)
    if name == 'MotionUNet':
        kwargs.setdefault('window', T)
    return ENCODERS.build(dict(type=name, **kwargs))


ALL = ['TFP', 'TFI', 'LRN', 'SpikingUNet', 'MotionUNet']


@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('size', [(37, 53), (5, 7), (16, 16)])
def test_shape_and_range_any_size(name, size):
    spikes = spikes_of(scene(*size), n=2)
    with torch.no_grad():
        out = build(name).eval()(spikes)
    assert out.shape == (2, 1, *size)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize('name', ALL)
def test_shape_and_range_250x400(name, big_spikes):
    with torch.no_grad():
        out = build(name).eval()(big_spikes)
    assert out.shape == (1, 1, 250, 400)
    assert out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.05  # follows the scene, not a constant


@pytest.mark.parametrize('name', ALL)
def test_registry_builds_plain_modules(name):
    enc = build(name)
    assert type(enc).__name__ == name
    assert isinstance(enc, torch.nn.Module)


def test_parameter_counts():
    assert count_parameters(TFP()) == 0 and count_parameters(TFI()) == 0
    # 50*64*9+64 + 64*128*9+128 + 128*64*9+64 + 64*16*9+16 + 16*9+1
    assert count_parameters(LRN()) == 185_889
    assert 0.1e6 < count_parameters(SpikingUNet()) < 2e6
    # stem (41 frames + 5 rates + interval + log light = 48 -> 32), three levels down and up
    assert count_parameters(MotionUNet()) == 918_311


def test_uint8_and_float_spikes_agree():
    spikes = spikes_of(scene(20, 30))
    for enc in (TFP(), TFI(), LRN()):
        torch.testing.assert_close(enc(spikes.to(torch.uint8)), enc(spikes))


# --------------------------------------------------------------------------- TFP


def test_tfp_constant_rate_stream_returns_rate():
    periods = (1, 2, 4, 5, 8)  # T is a multiple of each period, so the rate is exact
    spikes = torch.zeros(1, T, len(periods), 6)
    for row, period in enumerate(periods):
        spikes[0, row::period, row] = 1
    out = TFP()(spikes)[0, 0]
    for row, period in enumerate(periods):
        assert torch.allclose(out[row], torch.tensor(1 / period))


def test_tfp_calibrated_on_simulated_constant_scene():
    level = 0.6
    spikes = simulate_spikes(torch.full((8, 8), level), num_frames=T, seed=1).float()[None]
    out = TFP(gain=1 / SIM_GAIN)(spikes)
    # integrate-and-fire: the count over T frames is T * rate, +-1 for the unknown start charge
    assert (out - level).abs().max() <= 1 / (SIM_GAIN * T) + 1e-6


def test_tfp_window_takes_centre_frames_and_clamps():
    spikes = torch.zeros(1, T, 2, 2)
    spikes[:, 75:125] = 1  # the centre 50 frames
    assert torch.allclose(TFP(window=50)(spikes), torch.ones(1, 1, 2, 2))
    assert torch.allclose(TFP()(spikes), torch.full((1, 1, 2, 2), 0.25))
    assert torch.allclose(TFP(gain=8.0)(spikes), torch.ones(1, 1, 2, 2))  # clamped


def test_fit_gain_closed_form():
    target = torch.rand(2, 1, 8, 8)
    assert fit_gain(target / 3, target) == pytest.approx(3.0)
    pred = torch.rand(2, 1, 8, 8)
    g = fit_gain(pred, target)
    best = ((g * pred - target) ** 2).sum()
    for dg in (-1e-2, 1e-2):  # least squares: no neighbouring gain does better
        assert ((g + dg) * pred - target).pow(2).sum() > best
    assert fit_gain(torch.zeros(4), torch.ones(4)) == 1.0
    with pytest.raises(ValueError, match='shape'):
        fit_gain(torch.zeros(4), torch.ones(5))


# --------------------------------------------------------------------------- TFI


@pytest.mark.parametrize('period', [1, 2, 3, 5, 7, 16])
def test_tfi_regular_train_returns_inverse_period(period):
    spikes = torch.zeros(1, T, 1, period)
    for phase in range(period):  # every phase relative to the centre frame
        spikes[0, phase::period, 0, phase] = 1
    out = TFI()(spikes)
    assert torch.allclose(out, torch.full_like(out, 1 / period))


def test_tfi_edge_rule_and_center():
    spikes = torch.zeros(1, 20, 1, 4)
    spikes[0, 5, 0, 1] = 1  # one spike before the centre (10): next = window edge T = 20
    spikes[0, 14, 0, 2] = 1  # one spike after the centre: prev = window edge -1
    spikes[0, [10, 12], 0, 3] = 1  # a spike exactly at the centre counts as prev
    interval = spike_interval(spikes)[0, 0, 0]
    assert interval.tolist() == [21, 15, 15, 2]
    assert spike_interval(spikes, center=19)[0, 0, 0].tolist() == [21, 15, 6, 8]
    assert spike_interval(spikes, center=0)[0, 0, 0].tolist() == [21, 6, 15, 11]
    torch.testing.assert_close(TFI(gain=2.0)(spikes), (2.0 / interval).view(1, 1, 1, 4))


def test_tfi_matches_a_loop_reference():
    spikes = (torch.rand(2, 30, 5, 6, generator=torch.Generator().manual_seed(0)) < 0.15).float()
    c = 13
    ref = torch.empty(2, 1, 5, 6)
    for idx in torch.cartesian_prod(torch.arange(2), torch.arange(5), torch.arange(6)):
        n, y, x = idx.tolist()
        times = torch.nonzero(spikes[n, :, y, x]).flatten().tolist()
        prev = max([t for t in times if t <= c], default=-1)
        nxt = min([t for t in times if t > c], default=30)
        ref[n, 0, y, x] = nxt - prev
    torch.testing.assert_close(spike_interval(spikes, center=c), ref)


# --------------------------------------------------------------------------- LRN


def test_lrn_starts_as_tfp():
    spikes = spikes_of(scene(24, 40), n=2)
    with torch.no_grad():
        torch.testing.assert_close(LRN(init_gain=2.0)(spikes), TFP(gain=2.0)(spikes))


def test_frames_mismatch_is_a_clear_error():
    spikes = torch.zeros(1, 100, 8, 8)
    for enc in (LRN(), SpikingUNet()):
        with pytest.raises(SpikeFormatError, match=r'window=200 frames.*T=100'):
            enc(spikes)
    assert LRN(window=100)(spikes).shape == (1, 1, 8, 8)
    with pytest.warns(DeprecationWarning, match='in_frames is deprecated'):
        old = LRN(in_frames=100)  # the name stored in configs of older checkpoints
    assert old.window == 100


@pytest.mark.parametrize('bad', [
    lambda: TFP(window=0), lambda: TFP(gain=0), lambda: TFI(gain=-1.0), lambda: TFI(center=-1),
    lambda: LRN(bin_size=3), lambda: LRN(channels=()), lambda: SpikingUNet(num_bins=0),
    lambda: SpikingUNet(num_bins=201), lambda: SpikingUNet(channels=(8, 0)),
    lambda: SpikingUNet(channels=(8,)), lambda: SpikingUNet(decoder_channels=(32, 32)),
    lambda: SpikingUNet(skip_bin_size=0), lambda: SpikingUNet(tau=1.0),
    lambda: MotionUNet(window=1), lambda: MotionUNet(rate_windows=(50,)),
    lambda: MotionUNet(channels=(8,)), lambda: MotionUNet(eps=0.0),
    lambda: LRN(window=41, in_frames=40)])
def test_bad_arguments_raise(bad):
    with pytest.raises(ConfigError):
        bad()


@pytest.mark.parametrize('name', ALL)
def test_bad_spike_layout_raises(name):
    with pytest.raises(SpikeFormatError, match=r'\[N, T, H, W\]'):
        build(name)(torch.zeros(T, 8, 8))


def test_window_and_center_outside_the_stream_raise():
    with pytest.raises(SpikeFormatError, match='window=300'):
        TFP(window=300)(torch.zeros(1, T, 4, 4))
    with pytest.raises(SpikeFormatError, match='center=200'):
        TFI(center=200)(torch.zeros(1, T, 4, 4))


# --------------------------------------------------------------------------- SpikingUNet


def trained_unet(steps: int = 3) -> SpikingUNet:
    """A SpikingUNet moved off its TFP initialisation (the zero head hides the SNN at first)."""
    torch.manual_seed(0)
    net = SpikingUNet(channels=(8, 16, 32))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    spikes, target = spikes_of(scene(24, 32), n=2), scene(24, 32).expand(2, 1, -1, -1)
    for _ in range(steps):
        loss = (net(spikes) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.mark.parametrize('train', [True, False])
def test_spiking_unet_reset_makes_calls_independent(monkeypatch, train):
    net = trained_unet().train(train)
    if not train:  # settle the BatchNorm running statistics so that the encoder spikes
        with torch.no_grad():
            for _ in range(10):
                net.train()(spikes_of(scene(24, 32), seed=4))
        net.eval()
    spikes = spikes_of(scene(24, 32), seed=3)
    with torch.no_grad():
        first, second = net(spikes), net(spikes)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    # Without the reset the membrane potentials carry over and the second call differs: this
    # is what the assertion above guards against.
    monkeypatch.setattr(functional, 'reset_net', lambda net: None)
    with torch.no_grad():
        net(spikes)
        carried = net(spikes)
    assert (carried - first).abs().max() > 1e-4


def test_spiking_unet_surrogate_gradients_reach_the_spiking_encoder():
    net = trained_unet()
    net.train()
    spikes = spikes_of(scene(24, 32))
    net(spikes).mean().backward()
    for block in net.encoder:
        grad = block.conv[0].weight.grad
        assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize('num_bins', [5, 8, 10])
def test_spiking_unet_time_bins(num_bins):
    # 5 and 10 bins are means of the 4-frame skip bins, 8 bins are binned from the spikes
    spikes = spikes_of(scene(21, 30))
    net = SpikingUNet(num_bins=num_bins, channels=(8, 16, 32), init_gain=2.0).eval()
    with torch.no_grad():
        torch.testing.assert_close(net(spikes), TFP(gain=2.0)(spikes))
    assert net.readouts[0].in_channels == 2 * num_bins * 8


def test_spiking_unet_starts_as_tfp():
    spikes = spikes_of(scene(24, 40), n=2)
    with torch.no_grad():
        torch.testing.assert_close(SpikingUNet(init_gain=2.0).eval()(spikes),
                                   TFP(gain=2.0)(spikes))


@pytest.mark.parametrize('name,kwargs', [('LRN', {}), ('SpikingUNet', dict(channels=(8, 16, 32)))])
def test_training_lowers_the_loss(name, kwargs):
    torch.manual_seed(0)
    net = ENCODERS.build(dict(type=name, **kwargs))  # init_gain=1: half as bright as the scene
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    img = scene(24, 32)
    spikes, target = spikes_of(img, n=2), img.expand(2, 1, -1, -1)
    losses = []
    for _ in range(8):
        loss = (net(spikes) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


SHORT = 41  # the window of the models for moving scenes


@pytest.mark.parametrize('name,kwargs', [('LRN', dict(window=SHORT, bin_size=1)),
                                         ('SpikingUNet', dict(window=SHORT)),
                                         ('MotionUNet', dict(window=SHORT))])
@pytest.mark.parametrize('size', [(5, 7), (37, 53)])
def test_short_windows_at_odd_sizes_start_as_tfp(name, kwargs, size):
    spikes = simulate_spikes(scene(*size).expand(2, -1, -1), num_frames=SHORT, seed=2).float()
    net = build(name, init_gain=2.0, **kwargs).eval()
    with torch.no_grad():
        out = net(spikes)
    assert out.shape == (2, 1, *size) and net.window == SHORT
    torch.testing.assert_close(out, TFP(gain=2.0)(spikes), atol=1e-6, rtol=1e-5)
    with pytest.raises(SpikeFormatError, match=f'window={SHORT} frames.*T=40'):
        net(spikes[:, :40])


def test_even_bins_cover_any_window():
    spikes = (torch.rand(1, 41, 3, 4) < 0.4).float()
    bins = bin_frames_even(spikes, 5)  # edges 0, 8, 16, 25, 33, 41
    assert bins.shape == (1, 5, 3, 4)
    torch.testing.assert_close(bins[:, 2], spikes[:, 16:25].mean(1))  # centred on frame 20
    torch.testing.assert_close(bin_frames_even(spikes[:, :40], 5), bin_frames(spikes[:, :40], 8))


def test_motion_unet_inputs_are_light_normalised():
    net = MotionUNet(window=SHORT)
    assert net.rate_windows == [5, 9, 17, 33, 41]
    img = scene(32, 32)
    dim = simulate_spikes(img, SHORT, seed=0, gain=0.1)[None].float()
    bright = simulate_spikes(img, SHORT, seed=0, gain=0.8)[None].float()
    (_, r_dim, s_dim), (_, r_bright, s_bright) = net.features(dim), net.features(bright)
    assert float(s_bright) > 4 * float(s_dim)  # the light scale follows the light level
    # after dividing by it, the long-window rates of both are alike (mean ~1)
    assert abs(float(r_dim[:, -1].mean()) - float(r_bright[:, -1].mean())) < 0.2
