"""Every change SpikeCLIP makes to MMEngine's and torch's global state, installed by one call.

:func:`install_patches` (idempotent) installs:

* **Atomic writes**: MMEngine's local file backend becomes
  :class:`~spikeclip.engine.atomic_backend.AtomicLocalBackend` (temporary file, then rename), so
  a run killed during a checkpoint save leaves the previous file intact.
* **Safe checkpoint loading**: ``CheckpointLoader`` reads local files and ``http(s)://`` URLs
  with ``weights_only=True`` through :func:`~spikeclip.utils.checkpoint.load_checkpoint_file`
  and refuses MMEngine's other schemes (:mod:`spikeclip.engine.safe_loader`); the types MMEngine
  stores in checkpoints are allow-listed by
  :func:`~spikeclip.utils.checkpoint.register_safe_globals` (the one allow-list).
* **Loadable message hubs**: MMEngine's ``HistoryBuffer`` pickles without its default
  statistics functions (which would pickle as ``getattr`` and need an unsafe allow-list entry);
  ``__setstate__`` restores them anyway.
* With ``cpu_distributed=True`` and no CUDA: MMEngine's launchers and DDP wrapper run without a
  GPU (:func:`install_cpu_distributed_patch`).

``import spikeclip.engine`` calls it (so does every Runner with ``default_scope='spikeclip'``,
whose registries import that package); entry points call it explicitly.
"""
import torch
from mmengine.logging import HistoryBuffer

_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')
_installed = False


def _history_buffer_getstate(self) -> dict:
    state = dict(self.__dict__)
    custom = {k: v for k, v in self._statistics_methods.items() if k not in _DEFAULT_STATISTICS}
    state.pop('statistics_methods', None)
    if custom:
        state['statistics_methods'] = custom
    return state


def install_patches(cpu_distributed: bool = False) -> None:
    """Install SpikeCLIP's global patches (see the module doc); calling it again is harmless.

    Args:
        cpu_distributed (bool): Also let multi-process training run on CPU (gloo) where there
            is no CUDA. Defaults to False.
    """
    global _installed
    if not _installed:
        from ..utils.checkpoint import register_safe_globals
        from .atomic_backend import install_atomic_backend
        from .safe_loader import install_safe_loader
        HistoryBuffer.__getstate__ = _history_buffer_getstate
        register_safe_globals()
        install_atomic_backend()
        install_safe_loader()
        _installed = True
    if cpu_distributed:
        install_cpu_distributed_patch()


def install_cpu_distributed_patch() -> bool:
    """Let MMEngine's ``pytorch``/``slurm`` launchers and its DDP wrapper run without CUDA.

    MMEngine 0.10 calls ``torch.cuda.set_device(local_rank)`` before it initialises the process
    group and wraps the model in ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``; both
    fail on a machine without a GPU, so multi-process training on CPU (gloo backend) cannot
    start. Where CUDA is unavailable this makes ``torch.cuda.set_device`` a no-op and drops
    ``device_ids`` for CPU modules, which is what DDP expects for them. Where CUDA is available
    it changes nothing. Calling it twice is harmless.

    Returns:
        bool: Whether the patches are in place (False where CUDA is available).
    """
    if torch.cuda.is_available():
        return False
    from mmengine.model import MMDistributedDataParallel
    if getattr(MMDistributedDataParallel, '_spikeclip_cpu_patch', False):
        return True

    def set_device(device) -> None:
        return None  # no CUDA device to select

    ddp_init = MMDistributedDataParallel.__init__

    def init_without_device_ids(self, module, *args, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        ddp_init(self, module, *args, **kwargs)

    torch.cuda.set_device = set_device
    MMDistributedDataParallel.__init__ = init_without_device_ids
    MMDistributedDataParallel._spikeclip_cpu_patch = True
    return True
