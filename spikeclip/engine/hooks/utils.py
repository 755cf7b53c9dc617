"""What the hooks share."""
from mmengine.model import is_model_wrapper
from torch import nn


def unwrapped_model(runner) -> nn.Module:
    """The model ``runner`` runs, outside MMEngine's DDP/FSDP wrapper where there is one."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model
