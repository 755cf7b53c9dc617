"""Stage-3 refiners: coarse image [N, 1, H, W] -> refined image [N, 1, H, W]."""
from .unet import UNetRefiner

__all__ = ['UNetRefiner']
