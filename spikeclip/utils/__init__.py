from .atomic import atomic_open, atomic_save_image, atomic_torch_save, atomic_write_json
from .checkpoint import load_checkpoint_file, register_safe_globals
from .errors import CheckpointError, ConfigError, SpikeCLIPError, SpikeFormatError

__all__ = [
    'atomic_open', 'atomic_save_image', 'atomic_torch_save', 'atomic_write_json',
    'load_checkpoint_file', 'register_safe_globals', 'CheckpointError', 'ConfigError',
    'SpikeCLIPError', 'SpikeFormatError'
]
