"""What a user imports to run a trained model: build it, reconstruct and classify recordings,
stream whole recordings to video frames, combine stage checkpoints, and convert the official
SpikeCLIP weights."""
from ..utils.device import default_device
from ..utils.image import to_uint8
from .combine import combine_checkpoints
from .inference import infer_files, init_model, load_window
from .official import convert_official_checkpoint
from .video import Frame, FrameRange, infer_recordings, iter_frames

__all__ = ['Frame', 'FrameRange', 'combine_checkpoints', 'convert_official_checkpoint',
           'default_device', 'infer_files', 'infer_recordings', 'init_model', 'iter_frames',
           'load_window', 'to_uint8']
