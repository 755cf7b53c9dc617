from . import (  # noqa: F401  (atomic writes, safe loads)
    atomic_backend,
    hooks,
    optim_wrapper,  # noqa: F401  (BF16OptimWrapper)
    safe_loader,
)
from .runner import build_runner, check_checkpoint_stage, load_config

__all__ = ['build_runner', 'check_checkpoint_stage', 'load_config']
