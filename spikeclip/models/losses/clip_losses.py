"""Losses that judge an image through the frozen CLIP.

``CLIPClassLoss`` is the stage-1 supervision of SpikeCLIP (the reconstruction must be classified
as its label by CLIP); ``PromptQualityLoss`` is the stage-3 guidance of CLIP-LIT (the refined
image must be closer to the learned high-quality prompt than to the low-quality one). Both are
differentiable with respect to ``pred`` only; CLIP and the text features stay fixed.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeclip.registry import LOSSES

from .base import BaseLoss, reduce_loss


@LOSSES.register_module()
class CLIPClassLoss(BaseLoss):
    """Cross-entropy of CLIP's zero-shot logits ``logit_scale * img @ class_features.T``.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'`` (per image). Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_clip_class'``.
    """
    inputs = ('pred', 'labels', 'clip', 'class_features')

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean',
                 name: Optional[str] = None):
        # The automatic name of 'CLIPClass' would be 'loss_clipclass'.
        super().__init__(loss_weight=loss_weight, reduction=reduction,
                         name=name or 'loss_clip_class')

    def forward(self, pred: Tensor, labels: Tensor, clip: nn.Module,
                class_features: Tensor) -> Tensor:
        """Loss of images ``pred`` ``[N, 1, H, W]``, labels ``[N]``, class features ``[K, D]``."""
        logits = clip.logits(clip.encode_image(pred), class_features)  # [N, K] float32
        loss = F.cross_entropy(logits, labels.long(), reduction='none')
        return self.loss_weight * reduce_loss(loss, self.reduction)


@LOSSES.register_module()
class PromptQualityLoss(BaseLoss):
    """Cross-entropy pushing images towards the high-quality prompt (row 0) and away from the
    low-quality one (row 1): CLIP-LIT's prompt loss.

    Args:
        temperature (float, optional): Logits are ``img @ prompts.T / temperature``; ``None``
            uses CLIP's logit scale. Defaults to None.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'`` (per image). Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_prompt_quality'``.
    """
    inputs = ('pred', 'clip', 'prompt_features')

    def __init__(self, temperature: Optional[float] = None, loss_weight: float = 1.0,
                 reduction: str = 'mean', name: Optional[str] = None):
        super().__init__(loss_weight=loss_weight, reduction=reduction, name=name)
        if temperature is not None and temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = temperature

    def forward(self, pred: Tensor, clip: nn.Module, prompt_features: Tensor) -> Tensor:
        """Loss of images ``pred`` ``[N, 1, H, W]`` against (high, low) prompts ``[2, D]``."""
        scale = None if self.temperature is None else 1.0 / self.temperature
        logits = clip.logits(clip.encode_image(pred), prompt_features, scale)  # [N, 2] float32
        high = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        loss = F.cross_entropy(logits, high, reduction='none')
        return self.loss_weight * reduce_loss(loss, self.reduction)
