from .inference import default_device, infer_files, init_model, load_window, to_uint8
from .runner import build_runner, check_checkpoint_stage, load_config
from .video import Frame, FrameRange, infer_recordings, iter_frames

__all__ = ['Frame', 'FrameRange', 'build_runner', 'check_checkpoint_stage', 'default_device',
           'infer_files', 'infer_recordings', 'init_model', 'iter_frames', 'load_config',
           'load_window', 'to_uint8']
