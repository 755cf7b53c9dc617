from . import atomic_backend, hooks, safe_loader  # noqa: F401  (atomic writes, safe loads)
from . import optim_wrapper  # noqa: F401  (BF16OptimWrapper)
