"""Puts the model in channels-last memory format before it runs."""
import torch
from mmengine.hooks import Hook

from ...registry import HOOKS


@HOOKS.register_module()
class MemoryFormatHook(Hook):
    """Convert the model's 4-D weights to ``torch.channels_last`` before training and testing.

    Convolutions then run in NHWC, which oneDNN (CPU) and cuDNN (tensor cores) prefer (see
    ``docs/architecture.md`` for the measurement). Inputs need no change; PyTorch follows the
    weights' format.

    Args:
        channels_last (bool): Convert (True) or leave the model as it is. Defaults to True.
    """
    priority = 'VERY_HIGH'

    def __init__(self, channels_last: bool = True):
        self.channels_last = channels_last

    def _convert(self, runner) -> None:
        if self.channels_last:
            runner.model.to(memory_format=torch.channels_last)

    def before_train(self, runner) -> None:
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)
