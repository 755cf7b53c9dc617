from . import hooks, optim_wrapper  # noqa: F401  (registered hooks, BF16OptimWrapper)
from .patches import install_patches
from .runner import build_runner, check_checkpoint_stage, load_config

# The one place SpikeCLIP changes MMEngine's global state (see spikeclip/engine/patches.py).
# Every Runner with default_scope='spikeclip' imports this package through its registries.
install_patches()

__all__ = ['build_runner', 'check_checkpoint_stage', 'install_patches', 'load_config']
