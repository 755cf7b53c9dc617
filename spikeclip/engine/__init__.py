from . import atomic_backend, hooks, safe_loader  # noqa: F401  (atomic writes, safe loads)
