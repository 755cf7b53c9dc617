from . import hooks, optim_wrapper  # noqa: F401  (registered hooks, BF16OptimWrapper)
from .patches import install_patches

# The one place SpikeCLIP changes MMEngine's global state (see spikeclip/engine/patches.py).
# Every Runner with default_scope='spikeclip' imports this package through its registries.
install_patches()

__all__ = ['install_patches']
