from .inference import default_device, infer_files, init_model, load_window
from .runner import build_runner, check_checkpoint_stage, load_config

__all__ = ['build_runner', 'check_checkpoint_stage', 'default_device', 'infer_files',
           'init_model', 'load_config', 'load_window']
