"""bf16 autocast training on CPU."""
import torch
from torch import nn

from spikeclip.engine.optim_wrapper import BF16OptimWrapper


def test_forward_runs_in_bf16_and_weights_stay_fp32():
    model = nn.Conv2d(2, 3, 3, padding=1)
    wrapper = BF16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(1, 2, 5, 5)
    with wrapper.optim_context(model):
        y = model(x)
    assert y.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(y.float().square().mean())
    assert model.weight.dtype == torch.float32 and model.weight.grad is None  # zeroed after step
    assert not torch.equal(before, model.weight)
    off = BF16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), enabled=False)
    with off.optim_context(model):
        assert model(x).dtype == torch.float32

