"""What the hooks share."""
import os.path as osp

from mmengine.model import is_model_wrapper
from torch import nn


def unwrapped_model(runner) -> nn.Module:
    """The model ``runner`` runs, outside MMEngine's DDP/FSDP wrapper where there is one."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies under it, links resolved (``a/../b`` is not in
    ``a``; a link in ``a`` to elsewhere is not either)."""
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(osp.sep) + osp.sep)
