"""The temporal blind-spot loss: its minimiser is the true rate, its gradients go where designed."""
import pytest
import torch
from torch import nn

from spikeclip.fileio import blind_spot_indices
from spikeclip.models.losses import SelfSupervisedLoss, TemporalBlindSpotLoss
from spikeclip.models.stages import CoarseModel
from spikeclip.simulation import simulate_spikes
from spikeclip.structures import SpikeDataSample
from spikeclip.utils.errors import SpikeFormatError

WINDOW = 41
SIDE = 16


class GainModel(nn.Module):
    """``b + a * TFP(input)``: a free image ``b`` and one weight on the input's noisy rate. The
    loss decides ``a``: 0 where the input's noise says nothing about the target's, 1 where the
    target is (a copy of) the input."""

    def __init__(self, free_weight: bool = True):
        super().__init__()
        self.b = nn.Parameter(torch.full((1, 1, SIDE, SIDE), 0.2))
        self.a = nn.Parameter(torch.zeros(()), requires_grad=free_weight)

    def forward(self, spikes):
        return self.b + self.a * spikes.mean(1, keepdim=True)


@pytest.fixture(scope='module')
def still_scene():
    """A long recording of a still scene with shot noise: spikes ``[T, H, W]`` and true rate."""
    scene = torch.rand(SIDE, SIDE, generator=torch.Generator().manual_seed(1)) * 0.8 + 0.1
    spikes = simulate_spikes(scene, num_frames=12000, seed=3, gain=0.5, photons_per_frame=300.0)
    return spikes.float(), scene * 0.5


def clips_of(spikes, length, step=23):
    return torch.stack([spikes[s:s + length] for s in range(0, spikes.shape[0] - length, step)])


def minimise(loss_fn, model):
    """Minimise ``loss_fn(model)`` (a quadratic here) with L-BFGS to convergence."""
    opt = torch.optim.LBFGS([p for p in model.parameters() if p.requires_grad], lr=1,
                            max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = loss_fn(model)
        loss.backward()
        return loss

    opt.step(closure)
    return model


def rmse(a, b):
    return ((a - b) ** 2).mean().sqrt().item()


def test_minimiser_is_the_true_rate_not_a_noisy_copy(still_scene):
    spikes, rate = still_scene
    loss = TemporalBlindSpotLoss(window=WINDOW, held_out=8, guard=8, relative=False)
    clips = clips_of(spikes, WINDOW + loss.gap)
    model = minimise(lambda m: loss(clips, m), GainModel())
    test = clips_of(spikes, WINDOW, step=97)
    noisy = test.mean(1, keepdim=True)  # a noisy copy: the rate of each input window
    with torch.no_grad():
        pred = model(test)
    assert abs(model.a.item()) < 0.35  # the input's own noise is (nearly) not copied
    assert rmse(pred, rate) < 0.35 * rmse(noisy, rate)
    assert rmse(pred, noisy) > 0.8 * rmse(noisy, rate)  # far from the noisy copy

    # The same model under a loss whose target is its own input (TFP of the window) copies it.
    naive = SelfSupervisedLoss(criterion='mse')
    copy = minimise(lambda m: naive(m(clips[:, :WINDOW]), clips[:, :WINDOW]), GainModel())
    assert copy.a.item() == pytest.approx(1.0, abs=0.02)
    with torch.no_grad():
        assert rmse(copy(test), noisy) < 0.05 * rmse(noisy, rate)


def test_free_image_minimiser_is_the_true_rate(still_scene):
    spikes, rate = still_scene
    loss = TemporalBlindSpotLoss(window=WINDOW, held_out=8, guard=8, relative=False)
    clips = clips_of(spikes, WINDOW + loss.gap)
    image = minimise(lambda m: loss(clips, m), GainModel(free_weight=False))
    noisy = clips[:1, :WINDOW].mean(1, keepdim=True)
    assert rmse(image.b.detach(), rate) < 0.3 * rmse(noisy, rate)


def test_guard_band_removes_the_integrate_and_fire_leak(still_scene):
    # Without a guard band the held-out frames touch the input: a pixel that fired just before
    # the gap fires less in it (the reset), so the minimiser leans on the input's noise
    # (negatively) and ends up worse than the noisy copy; the guard band removes that.
    spikes, rate = still_scene
    test = clips_of(spikes, WINDOW, step=97)
    noisy_error = rmse(test.mean(1, keepdim=True), rate)
    errors = {}
    for guard in (0, 8):
        loss = TemporalBlindSpotLoss(window=WINDOW, held_out=8, guard=guard, relative=False)
        model = minimise(lambda m: loss(clips_of(spikes, WINDOW + loss.gap), m), GainModel())
        with torch.no_grad():
            errors[guard] = rmse(model(test), rate)
    assert errors[0] > noisy_error
    assert errors[8] < 0.35 * noisy_error


def test_relative_scale_keeps_the_minimiser(still_scene):
    spikes, rate = still_scene
    loss = TemporalBlindSpotLoss(window=WINDOW, held_out=8, guard=8, relative=True)
    model = minimise(lambda m: loss(clips_of(spikes, WINDOW + loss.gap), m), GainModel())
    test = clips_of(spikes, WINDOW, step=97)
    with torch.no_grad():
        assert rmse(model(test), rate) < 0.35 * rmse(test.mean(1, keepdim=True), rate)


def test_gradients_reach_only_the_input_frames():
    loss = TemporalBlindSpotLoss(window=9, held_out=3, guard=2, relative=False)
    length = 9 + loss.gap + 2
    spikes = (torch.rand(2, length, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3)
    spikes = spikes.float().requires_grad_(True)
    net = nn.Conv2d(9, 1, 3, padding=1)
    loss(spikes, net).backward()
    inputs, held = blind_spot_indices(length, 9, 3, 2)
    used = set(inputs.tolist())
    grad = spikes.grad.abs().sum((0, 2, 3))
    for t in range(length):
        if t in used:
            assert grad[t] > 0, t
        else:  # held-out (target, no gradient), guard and unused frames
            assert grad[t] == 0, t
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_held_out_frames_never_enter_the_input_and_guard_frames_change_nothing():
    loss = TemporalBlindSpotLoss(window=9, held_out=3, guard=2, relative=False)
    length = 9 + loss.gap
    spikes = (torch.rand(1, length, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.4)
    spikes = spikes.float()
    seen = []

    def net(x):
        seen.append(x.clone())
        return x.mean(1, keepdim=True)

    inputs, held = blind_spot_indices(length, 9, 3, 2)
    guard = sorted(set(range(length)) - set(inputs.tolist()) - set(held.tolist()))
    base = loss(spikes, net)
    flipped = spikes.clone()
    flipped[:, held] = 1 - flipped[:, held]
    assert loss(flipped, net) != base  # the target changed ...
    assert torch.equal(seen[0], seen[1])  # ... and the input did not
    flipped = spikes.clone()
    flipped[:, guard] = 1 - flipped[:, guard]
    assert loss(flipped, net) == base


def test_short_clip_is_a_clear_error():
    loss = TemporalBlindSpotLoss(window=41, held_out=8, guard=8)
    with pytest.raises(SpikeFormatError, match=r'needs clips of 65 frames .* got 41.*context'):
        loss(torch.zeros(1, 41, 8, 8), lambda x: x.mean(1, keepdim=True))


def test_coarse_model_trains_with_context_clips():
    model = CoarseModel(
        encoder=dict(type='MotionUNet', window=9, channels=(4, 8)),
        losses=[dict(type='TemporalBlindSpotLoss', window=9, held_out=2, guard=2)],
        data_preprocessor=dict(type='SpikeDataPreprocessor', window=9))
    clips = (torch.rand(2, 15, 16, 16) < 0.3).to(torch.uint8)
    samples = [SpikeDataSample() for _ in range(2)]
    for s, c in zip(samples, clips):
        s.set_field(c, 'context_spikes')
    data = model.data_preprocessor(dict(inputs=list(clips), data_samples=samples), True)
    assert data['inputs'].shape[1] == 9
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_blind_spot'} and torch.isfinite(losses['loss_blind_spot'])
    losses['loss_blind_spot'].backward()
    assert model.encoder.delta.weight.grad.abs().sum() > 0
