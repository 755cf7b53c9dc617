import pytest
import torch
import torch.nn.functional as F

from spikeclip.models.refiners import UNetRefiner
from spikeclip.registry import REFINERS


@pytest.mark.parametrize('size', [(3, 5), (17, 33), (8, 8), (25, 40)])
def test_shape_and_identity_at_init(size):
    torch.manual_seed(0)
    net = REFINERS.build(dict(type='UNetRefiner', base_channels=8, num_levels=3))
    x = torch.rand(2, 1, *size)
    y = net(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)  # zero-initialised tail + residual: the coarse image itself


def test_output_range_and_options():
    torch.manual_seed(0)
    x = torch.rand(1, 2, 13, 19)
    net = UNetRefiner(in_channels=2, base_channels=8, num_levels=2)
    assert torch.equal(net(x), x[:, :1])  # the residual is the first channel
    torch.nn.init.normal_(net.tail.weight, std=1.0)
    y = net(x)
    assert y.shape == (1, 1, 13, 19) and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x[:, :1])
    plain = UNetRefiner(base_channels=8, num_levels=0, residual=False)
    torch.testing.assert_close(plain(x[:, :1]), torch.full((1, 1, 13, 19), 0.5))


def test_refiner_learns():
    torch.manual_seed(0)
    target = torch.rand(2, 1, 20, 28)
    coarse = 0.5 * target + 0.25  # a low-contrast version to restore
    net = UNetRefiner(base_channels=8, num_levels=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(net(coarse), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
