"""Shared machinery of the losses: weighting, reduction, and the inputs protocol.

Every loss declares in ``inputs`` which entries of the stage model's loss context it consumes;
the stage model calls ``loss(**{k: ctx[k] for k in loss.inputs})``. The context keys are:

    pred            [N, 1, H, W] the image being trained, in [0, 1]
    target          [N, 1, H, W] the reference image, where the data has one
    spikes          [N, T, H, W] the input spike window (0/1 floats)
    context_spikes  [N, L, H, W] a longer clip around the window (L >= T, 0/1 floats) where the
                    data provides one (``context_spikes`` of the data samples), else ``spikes``
    reconstruct     the stage's trained image path, spikes [N, T, H, W] -> [N, 1, H, W]
                    (stages that train an image: 1 and 3), for losses that run it on inputs of
                    their own (the temporal blind spot)
    coarse          [N, 1, H, W] the frozen stage-1 image (stage 3)
    labels          [N] class indices, where the data has them
    clip            the stage's FrozenCLIP (see spikeclip.models.clip)
    class_features  [K, D] L2-normalised text features of the class prompts
    prompt_features [2, D] L2-normalised features of the (high, low) quality prompts
    lq_features     [N, D] CLIP features of the stage-1 images (stage 2)
    hq_features     [M, D] CLIP features of the clean images, where the data has them (stage 2)
    hq_lq           the high/low-quality prompt learner (stage 2)

A loss whose input the data lacks (say ``target`` on unlabelled data) makes the stage model raise
an error naming the loss and the missing input.
"""
from typing import Optional, Tuple

import torch
from torch import nn


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with ``'mean'``, ``'sum'`` or ``'none'``."""
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'none':
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class BaseLoss(nn.Module):
    """Base of all losses.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Key in the loss dict (``loss_<name>``); defaults to the class name
            in snake case, e.g. ``L1Loss`` -> ``loss_l1``.
        relative (bool): Pixel losses only: divide ``pred`` and ``target`` by the light level
            of each image first, so that scenes recorded in dim and bright light weigh alike
            (what PSNR after a fitted gain measures). The light level is the
            ``relative_quantile`` quantile of the target (its bright end, at least
            ``relative_floor``): unlike the mean, it does not make dark *content* (a night sky,
            a black wall) outweigh everything else. Defaults to False.
        relative_quantile (float): Defaults to 0.98.
        relative_floor (float): Smallest divisor with ``relative``. Defaults to 0.02.
    """
    inputs: Tuple[str, ...] = ('pred', 'target')
    # Loss-dict key where the class name's snake case would not read well.
    default_name: Optional[str] = None

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean', name: str = None,
                 relative: bool = False, relative_quantile: float = 0.98,
                 relative_floor: float = 0.02):
        super().__init__()
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if not relative_floor > 0 or not 0 < relative_quantile <= 1:
            raise ValueError(f'relative_floor must be positive and relative_quantile in (0, 1], '
                             f'got {relative_floor!r}, {relative_quantile!r}')
        self.loss_weight = float(loss_weight)
        self.reduction = reduction
        self.name = name or self.default_name or _default_name(type(self).__name__)
        self.relative = bool(relative)
        self.relative_quantile = float(relative_quantile)
        self.relative_floor = float(relative_floor)

    def scale_pair(self, pred: torch.Tensor, target: torch.Tensor):
        """``(pred, target)``, divided by the light level of each image with ``relative``."""
        if not self.relative:
            return pred, target
        flat = target.detach().float().flatten(1)
        s = torch.quantile(flat, self.relative_quantile, dim=1).clamp_min(self.relative_floor)
        s = s.view(-1, *([1] * (target.ndim - 1))).to(pred.dtype)
        return pred / s, target / s


def _default_name(cls_name: str) -> str:
    import re
    base = cls_name[:-4] if cls_name.endswith('Loss') else cls_name
    return 'loss_' + re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', base).lower()
