from .base import BaseLoss, reduce_loss
from .clip_losses import CLIPClassLoss, PromptQualityLoss

__all__ = ['BaseLoss', 'reduce_loss']
__all__ += ['CLIPClassLoss', 'PromptQualityLoss']
