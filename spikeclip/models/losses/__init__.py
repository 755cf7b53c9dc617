from .base import BaseLoss, reduce_loss
from .clip_losses import ClassPromptLoss, CLIPClassLoss, HQLQPromptLoss, PromptQualityLoss
from .pixel_losses import CharbonnierLoss, GradientLoss, L1Loss, MSELoss, SSIMLoss, ssim
from .self_supervised import SelfSupervisedLoss

__all__ = ['BaseLoss', 'reduce_loss']
__all__ += ['CharbonnierLoss', 'GradientLoss', 'L1Loss', 'MSELoss', 'SSIMLoss',
            'SelfSupervisedLoss', 'ssim']
__all__ += ['CLIPClassLoss', 'ClassPromptLoss', 'HQLQPromptLoss', 'PromptQualityLoss']
