"""What a user imports to run a trained model: build it, reconstruct and classify recordings,
stream whole recordings to video frames, and combine stage checkpoints."""
from .combine import combine_checkpoints
from .inference import default_device, infer_files, init_model, load_window, to_uint8
from .video import Frame, FrameRange, infer_recordings, iter_frames

__all__ = ['Frame', 'FrameRange', 'combine_checkpoints', 'default_device', 'infer_files',
           'infer_recordings', 'init_model', 'iter_frames', 'load_window', 'to_uint8']
