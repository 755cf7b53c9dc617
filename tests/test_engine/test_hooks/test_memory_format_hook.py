"""MemoryFormatHook: the model's convolution weights in channels-last before training and
testing, in a real Runner; the same outputs as in NCHW."""
from types import SimpleNamespace

import torch
from torch import nn

from spikeclip.engine.hooks import MemoryFormatHook


def test_memory_format_hook_converts_conv_weights():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 1))
    runner = SimpleNamespace(model=model)
    MemoryFormatHook(channels_last=False).before_train(runner)
    assert not model[0].weight.is_contiguous(memory_format=torch.channels_last)
    MemoryFormatHook().before_train(runner)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(1, 2, 8, 8)
    assert torch.allclose(model(x), model(x.contiguous(memory_format=torch.channels_last)))


def test_a_runner_trains_and_tests_in_channels_last(make_runner):
    runner = make_runner(custom_hooks=[dict(type='MemoryFormatHook')])
    conv = runner.model.conv[2]  # [1, 4, 3, 3]: not channels-last in NCHW
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)
    runner.train()  # trains with channels-last weights, and the optimiser steps them
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert runner.iter == 2
    runner.model.to(memory_format=torch.contiguous_format)
    runner.test()
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_off_leaves_the_model_as_it_is(make_runner):
    runner = make_runner(custom_hooks=[dict(type='MemoryFormatHook', channels_last=False)])
    runner.train()
    assert not runner.model.conv[2].weight.is_contiguous(memory_format=torch.channels_last)
