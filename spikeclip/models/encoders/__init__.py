from .adaptive_window import AdaptiveWindow
from .lrn import LRN
from .motion_unet import MotionUNet
from .snn_unet import SpikingUNet
from .tfi import TFI
from .tfp import TFP, fit_gain

__all__ = ['AdaptiveWindow', 'LRN', 'MotionUNet', 'SpikingUNet', 'TFI', 'TFP', 'fit_gain']
