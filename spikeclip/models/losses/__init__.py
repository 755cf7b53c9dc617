from .anchor import AnchorLoss
from .base import BaseLoss, reduce_loss
from .clip_losses import ClassPromptLoss, CLIPClassLoss, HQLQPromptLoss, PromptQualityLoss
from .pixel_losses import CharbonnierLoss, GradientLoss, L1Loss, MSELoss, SSIMLoss, ssim
from .self_supervised import SelfSupervisedLoss
from .temporal_blind_spot import TemporalBlindSpotLoss, blind_spot_split

__all__ = ['AnchorLoss', 'BaseLoss', 'TemporalBlindSpotLoss', 'blind_spot_split', 'reduce_loss']
__all__ += ['CharbonnierLoss', 'GradientLoss', 'L1Loss', 'MSELoss', 'SSIMLoss',
            'SelfSupervisedLoss', 'ssim']
__all__ += ['CLIPClassLoss', 'ClassPromptLoss', 'HQLQPromptLoss', 'PromptQualityLoss']
