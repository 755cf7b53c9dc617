from .lrn import LRN
from .snn_unet import SpikingUNet
from .tfi import TFI
from .tfp import TFP, fit_gain

__all__ = ['LRN', 'SpikingUNet', 'TFI', 'TFP', 'fit_gain']
