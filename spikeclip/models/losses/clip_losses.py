"""Losses that judge an image through the frozen CLIP.

``CLIPClassLoss`` is the stage-1 supervision of SpikeCLIP (the reconstruction must be classified
as its label by CLIP); ``PromptQualityLoss`` is the stage-3 guidance of CLIP-LIT (the refined
image must be closer to the learned high-quality prompt than to the low-quality one). Both are
differentiable with respect to ``pred`` only; CLIP and the text features stay fixed.

``HQLQPromptLoss`` and ``ClassPromptLoss`` are stage 2's: they train the prompts (differentiable
with respect to ``prompt_features``/``class_features``) on frozen image features.
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
    default_name = 'loss_clip_class'  # the automatic one would be 'loss_clipclass'

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


@LOSSES.register_module()
class HQLQPromptLoss(BaseLoss):
    """Stage-2 loss of CLIP-LIT's prompt learning: the learned (high, low)-quality prompts must
    tell the clean images (class 0) from the stage-1 reconstructions (class 1).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'`` (per image). Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_hq_lq'``.
    """
    inputs = ('lq_features', 'hq_features', 'hq_lq', 'prompt_features')
    default_name = 'loss_hq_lq'

    def forward(self, lq_features: Tensor, hq_features: Tensor, hq_lq: nn.Module,
                prompt_features: Tensor) -> Tensor:
        """Loss of CLIP features of reconstructions ``[N, D]`` and clean images ``[M, D]``
        against the (high, low) prompts ``[2, D]`` of the learner ``hq_lq``."""
        logits = hq_lq.logits(torch.cat([hq_features, lq_features]), prompt_features)
        target = torch.cat([torch.zeros(len(hq_features)), torch.ones(len(lq_features))]).long()
        return self.loss_weight * F.cross_entropy(logits, target.to(logits.device),
                                                  reduction=self.reduction)


@LOSSES.register_module()
class ClassPromptLoss(BaseLoss):
    """Stage-2 loss of the learned class prompts: cross-entropy of CLIP's logits of the
    stage-1 images' features over the class prompt features.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'`` (per image). Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_class_prompt'``.
    """
    inputs = ('lq_features', 'labels', 'clip', 'class_features')

    def forward(self, lq_features: Tensor, labels: Tensor, clip: nn.Module,
                class_features: Tensor) -> Tensor:
        """Loss of image features ``[N, D]``, labels ``[N]``, class prompt features ``[K, D]``."""
        logits = clip.logits(lq_features, class_features)  # [N, K] float32
        return self.loss_weight * F.cross_entropy(logits, labels, reduction=self.reduction)
