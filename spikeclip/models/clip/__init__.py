"""The frozen CLIP used by all three stages (importing this registers ``'spikeclip-tiny'``)."""
from .frozen_clip import FrozenCLIP, resolve_pretrained
from .tiny import TINY_ARCH, save_tiny_clip

__all__ = ['FrozenCLIP', 'resolve_pretrained', 'TINY_ARCH', 'save_tiny_clip']
