"""Fast inference: inference mode, channels_last weights and bf16/fp16 autocast, chosen per part.

:func:`prepare_for_inference` resolves ``amp='auto'`` and ``channels_last='auto'`` for a device and
returns the model together with an :class:`InferenceContext` to run it in::

    model, ctx = prepare_for_inference(model, 'cpu')
    with ctx:
        refined, coarse = to_float32(model(spikes, mode='tensor'))

What ``'auto'`` picks, and why (measured with ``tools/benchmark.py`` and a study of fp32 /
channels_last / bf16 / both on a 2-core Sapphire Rapids CPU, 250x400 frames, batch 1):

* ``amp``: bf16 autocast where the device computes bf16 natively (CPUs with AMX or AVX512-BF16,
  CUDA GPUs that support bf16), fp32 elsewhere. On the CPU above bf16 together with channels_last
  made LRN ~3.5x (134 -> 39 ms), the UNet refiner ~3-4x and the spiking U-Net ~1.2x faster than
  fp32. Against the reference images of the 12 simulated 250x400 demo recordings the PSNR moved
  by -0.09 dB for a trained LRN (30 dB; -0.21 dB on its best, 39 dB image: bf16 rounding of the
  weights and activations costs ~58 dB against the fp32 output), by <0.001 dB for the spiking
  U-Net (88 dB against fp32) and the refiners (94-108 dB). The LRN sits just inside a 0.1 dB
  budget; quality benchmarks should use ``amp='none'``. fp16 is never picked by ``'auto'``:
  without AMX-FP16 it is slower than fp32 on CPUs.
* ``channels_last``: on together with low-precision autocast (where oneDNN's blocked bf16
  kernels need it), off in fp32, so that ``amp='none'`` reproduces the plain fp32 model
  bit for bit. Pass ``channels_last=True`` for fp32 speed (LRN ~1.5x) at ~1e-6 differences.
* Per-part exceptions: a module class may set ``supports_bf16 = False`` (kept in fp32 under
  autocast) or ``supports_channels_last = False`` (kept contiguous). ``SpikingUNet`` sets the
  second (channels_last gained it nothing); the frozen CLIP sets the first: its class
  decisions must be those of ``tools/test.py`` (fp32), and bf16 towers flip some close top-1
  decisions (docs/clip.md, "Precision"); one CLIP image forward per input is cheap next to the
  image networks at 250x400. Convolutions with one output channel
  (the image heads of LRN, SpikingUNet and UNetRefiner) always run in fp32: they cost <0.1% of
  the compute, and a bf16 head would round the image to 8 bits of mantissa (LRN: 49.7 -> 52.8 dB
  against its fp32 output with the head in fp32).
"""
import contextlib
import ctypes
import platform
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import nn

from ..utils.errors import ConfigError

AMP_MODES = ('auto', 'bf16', 'fp16', 'none')
_AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16, 'none': None}


def native_bf16(device: Union[str, torch.device]) -> bool:
    """Whether ``device`` computes bf16 in hardware.

    CPU: AMX tiles or AVX512-BF16 (``torch.cpu`` reports them; ``get_cpu_capability()`` says only
    ``'AVX512'`` even on AMX machines). Without them oneDNN emulates bf16, slower than fp32.
    CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and newer).
    """
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == 'cpu':
        checks = ('_is_amx_tile_supported', '_is_avx512_bf16_supported')
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_amp(amp: str, device: Union[str, torch.device]) -> Optional[torch.dtype]:
    """The autocast dtype for ``amp`` on ``device``: bf16, fp16, or None for fp32.

    Args:
        amp (str): ``'auto'`` (bf16 where :func:`native_bf16`, else fp32), ``'bf16'``,
            ``'fp16'`` or ``'none'``.
        device (str | torch.device): Where the model runs.

    Raises:
        ConfigError: Unknown ``amp``.
    """
    if amp not in AMP_MODES:
        raise ConfigError(f'amp must be one of {AMP_MODES}, got {amp!r}')
    if amp == 'auto':
        return torch.bfloat16 if native_bf16(device) else None
    return _AMP_DTYPES[amp]


def resolve_channels_last(channels_last: Union[str, bool],
                          amp_dtype: Optional[torch.dtype]) -> bool:
    """``'auto'``: channels_last with low-precision autocast, contiguous in fp32 (bit-exact).

    Raises:
        ConfigError: Neither ``'auto'`` nor a bool.
    """
    if channels_last == 'auto':
        return amp_dtype is not None
    if not isinstance(channels_last, bool):
        raise ConfigError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    return channels_last


def part_option(module: nn.Module, name: str) -> bool:
    """A part's ``'auto'`` exception: its class attribute ``name`` (``supports_bf16`` or
    ``supports_channels_last``), True where the class does not set it."""
    return bool(getattr(type(module), name, True))


class InferenceContext:
    """Reusable ``with`` block: ``torch.inference_mode()`` plus autocast at the resolved dtype.

    Attributes:
        device_type (str): ``'cpu'`` or ``'cuda'``.
        dtype (torch.dtype | None): Autocast dtype; None runs in fp32.
        channels_last (bool): Whether the model's weights were made channels_last.
        fp32_parts (list[str]): Modules kept in fp32 under autocast (image heads, opt-outs).
        contiguous_parts (list[str]): Modules kept contiguous when ``channels_last``.
    """

    def __init__(self, device_type: str, dtype: Optional[torch.dtype], channels_last: bool,
                 fp32_parts: List[str], contiguous_parts: List[str]):
        self.device_type = device_type
        self.dtype = dtype
        self.channels_last = channels_last
        self.fp32_parts = fp32_parts
        self.contiguous_parts = contiguous_parts
        self._stacks: List[contextlib.ExitStack] = []

    @property
    def amp(self) -> str:
        """``'bf16'``, ``'fp16'`` or ``'none'``."""
        return {torch.bfloat16: 'bf16', torch.float16: 'fp16'}.get(self.dtype, 'none')

    def describe(self) -> Dict[str, Any]:
        """The resolved settings as JSON-ready values."""
        return dict(amp=self.amp, channels_last=self.channels_last,
                    fp32_parts=list(self.fp32_parts), contiguous_parts=list(self.contiguous_parts))

    def __enter__(self) -> 'InferenceContext':
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.dtype is not None:
            stack.enter_context(torch.autocast(self.device_type, dtype=self.dtype))
        self._stacks.append(stack)
        return self

    def __exit__(self, *exc) -> Optional[bool]:
        return self._stacks.pop().__exit__(*exc)


class _FP32Forward:
    """Mixin of :func:`keep_fp32`: the module's forward with autocast switched off."""

    def forward(self, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        device_type = tensors[0].device.type if tensors else 'cpu'
        if not torch.is_autocast_enabled(device_type):
            return super().forward(*args, **kwargs)
        args = tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                     for a in args)
        with torch.autocast(device_type, enabled=False):
            return super().forward(*args, **kwargs)


_FP32_CLASSES: Dict[type, type] = {}


def keep_fp32(module: nn.Module) -> nn.Module:
    """Run ``module`` in fp32 even inside an autocast region (its inputs are cast to fp32).

    Swaps the module's class for a subclass with the same name whose ``forward`` switches
    autocast off (as ``torch.nn.utils.parametrize`` swaps classes): state dicts, deep copies,
    ``isinstance`` checks and ``torch.compile`` are unaffected; outside autocast it computes
    exactly what it did. Calling it twice is harmless. A module used through other methods than
    ``forward`` declares an ``fp32_towers`` flag that its methods honour (``FrozenCLIP``).
    """
    if hasattr(module, 'fp32_towers'):
        module.fp32_towers = True
    cls = type(module)
    if not issubclass(cls, _FP32Forward):
        if cls not in _FP32_CLASSES:
            _FP32_CLASSES[cls] = type(cls.__name__, (_FP32Forward, cls),
                                      {'__module__': cls.__module__})
        module.__class__ = _FP32_CLASSES[cls]
    return module


def _is_image_head(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.out_channels == 1


def prepare_for_inference(model: nn.Module, device: Union[str, torch.device, None] = None,
                          amp: str = 'auto', channels_last: Union[str, bool] = 'auto'
                          ) -> Tuple[nn.Module, InferenceContext]:
    """Put ``model`` in eval mode on ``device`` with the fastest accurate settings.

    Changes the model in place: eval mode, device, memory format of its 4-D weights, and
    :func:`keep_fp32` on image heads and opt-out parts (which acts only under autocast, so the
    model still computes exactly what it did in fp32 outside the returned context).

    Args:
        model (nn.Module): A stage model or any network.
        device (str | torch.device, optional): Defaults to where the model's parameters are.
        amp (str): ``'auto'``, ``'bf16'``, ``'fp16'`` or ``'none'`` (see module doc).
            Defaults to ``'auto'``.
        channels_last (str | bool): ``'auto'`` (with low precision only), True or False.
            Defaults to ``'auto'``.

    Returns:
        tuple: ``(model, ctx)``; run the model inside ``with ctx:`` and pass the outputs through
        :func:`to_float32`.

    Raises:
        ConfigError: Unknown ``amp`` or ``channels_last``.
    """
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device('cpu')
    device = torch.device(device)
    dtype = resolve_amp(amp, device)
    use_cl = resolve_channels_last(channels_last, dtype)
    model = model.to(device).eval()
    model.to(memory_format=torch.channels_last if use_cl else torch.contiguous_format)
    fp32_parts, contiguous_parts = [], []
    for name, module in model.named_modules():
        if use_cl and not part_option(module, 'supports_channels_last'):
            module.to(memory_format=torch.contiguous_format)
            contiguous_parts.append(name or type(module).__name__)
        if _is_image_head(module) or not part_option(module, 'supports_bf16'):
            keep_fp32(module)
            fp32_parts.append(name or type(module).__name__)
    ctx = InferenceContext(device.type, dtype, use_cl, fp32_parts, contiguous_parts)
    return model, ctx


def to_float32(obj: Any) -> Any:
    """Cast every floating tensor in ``obj`` (a tensor, list/tuple/dict of them, or data samples
    with tensor fields) to float32; other values pass through. Data samples are updated in place.
    """
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_float32(o) for o in obj)
    if isinstance(obj, dict):
        return {k: to_float32(v) for k, v in obj.items()}
    if hasattr(obj, 'set_data') and hasattr(obj, 'items'):  # mmengine BaseDataElement
        obj.set_data({k: to_float32(v) for k, v in obj.items()})
    return obj


@contextlib.contextmanager
def cached_prompt_features(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, the model's frozen prompt learners (``hq_lq``, ``class_prompt``) return
    features computed once on entry instead of running CLIP's text encoder on every call.

    Stage-2/3 and combined models recompute their prompt features in every ``'predict'`` call;
    with ViT-B/32 and the 101 U-CALTECH classes that is ~1.8 s (bf16) to 2.7 s (fp32) per image on
    two CPU threads, against ~0.1 s for the whole image pipeline. Enter it inside the
    :class:`InferenceContext` so that the features have the dtype the uncached path would give.
    The learners must not change inside the block (they are frozen at inference).
    """
    patched = []
    try:
        for name in ('hq_lq', 'class_prompt'):
            learner = getattr(model, name, None)
            if learner is not None and getattr(model, 'clip', None) is not None:
                features = learner(model.clip)
                learner.forward = lambda *args, _f=features, **kwargs: _f
                patched.append(learner)
        yield model
    finally:
        for learner in patched:
            del learner.forward


_MALLOC_TUNED = False


def retain_freed_memory() -> bool:
    """Keep freed heap memory in this process instead of returning it to the OS (glibc only).

    glibc hands large freed blocks back to the OS (blocks over its dynamic mmap threshold, and
    heap tops over the trim threshold), so every forward pass page-faults its activations in
    again: ~14k minor faults (58 MB) per LRN call at 250x400, ~15 ms of a ~50 ms bf16 forward on
    the 2-core VM this was measured on. Fixing the mmap threshold at glibc's maximum (32 MiB) and
    never trimming removes them. Process-wide, so the tools call it (an inference process), not
    the library; the process keeps its peak heap.

    Returns:
        bool: Whether the settings are in place (False on other C libraries).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    _MALLOC_TUNED = bool(libc.mallopt(m_mmap_threshold, 32 << 20) and
                         libc.mallopt(m_trim_threshold, 2**31 - 1))
    return _MALLOC_TUNED


def malloc_tuned() -> bool:
    """Whether :func:`retain_freed_memory` has taken effect in this process."""
    return _MALLOC_TUNED
