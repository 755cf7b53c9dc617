"""SpikeCLIP: spike-camera reconstruction and classification with CLIP, as an MMEngine toolkit."""
__version__ = '0.1.0'

from .utils.errors import SpikeCLIPError, SpikeFormatError  # noqa: E402

__all__ = ['__version__', 'SpikeCLIPError', 'SpikeFormatError']
