"""Device helpers: the default device, peak-memory readers and a pynvml (NVML) reader.

Each reader says plainly when its figure cannot be measured here (``None`` or
:class:`NvmlUnavailable`), so a caller can report what is missing once and carry on.
"""
import os
import platform
import sys
from typing import Callable, Dict, Optional, Union

import torch

MIB = 1024**2

# Names of the figures that NVML gives, in the order they are reported.
NVML_FIGURES = ('gpu_util', 'gpu_mem_mib', 'gpu_power_w')


def default_device() -> str:
    """``'cuda'`` where a CUDA device is available, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def check_device(device: Optional[str]) -> str:
    """``device`` (the default one if None), checked: a ``torch.device`` string that exists here.

    Raises:
        SpikeCLIPError: An unknown device string, or CUDA (or a CUDA index) that is not there.
    """
    from .errors import SpikeCLIPError
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise SpikeCLIPError(f'--device {device!r} is not a device (use cpu, cuda or '
                             'cuda:N)') from e
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise SpikeCLIPError(f'--device {device}: no CUDA GPU is available here '
                                 '(torch.cuda.is_available() is False); use --device cpu')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SpikeCLIPError(f'--device {device}: there are only '
                                 f'{torch.cuda.device_count()} CUDA devices')
    elif dev.type != 'cpu':
        raise SpikeCLIPError(f'--device {device}: only cpu and cuda are supported')
    return str(dev)


def cuda_peak_memory_mib(device: Optional[Union[int, torch.device]] = None) -> Optional[float]:
    """Peak memory held by tensors on a CUDA device since the last reset.

    Reads the caching allocator (``torch.cuda.max_memory_allocated``); the memory that the
    allocator keeps cached but unused, and the CUDA context itself, are not counted.

    Args:
        device (int | torch.device, optional): CUDA device. Defaults to the current one.

    Returns:
        float | None: MiB, or None without CUDA.
    """
    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated(device) / MIB


def reset_cuda_peak_memory(device: Optional[Union[int, torch.device]] = None) -> None:
    """Start a new peak window for :func:`cuda_peak_memory_mib` (no-op without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)


def peak_rss_mib() -> Optional[float]:
    """Peak resident set size of this process since it started.

    Uses ``resource.getrusage`` (POSIX; Linux reports KiB, macOS bytes), else psutil's peak
    working set (Windows) if psutil is installed. Data-loader worker processes are not counted.

    Returns:
        float | None: MiB, or None where neither source is available.
    """
    try:
        import resource
    except ImportError:  # Windows
        resource = None
    if resource is not None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / MIB if sys.platform == 'darwin' else peak / 1024
    try:
        import psutil
    except ImportError:
        return None
    peak = getattr(psutil.Process().memory_info(), 'peak_wset', None)
    return None if peak is None else peak / MIB


def current_nvml_device() -> Optional[Union[int, str]]:
    """The NVML id of this process's current CUDA device.

    CUDA numbers only the visible devices; NVML numbers all of them. The current device index is
    mapped through ``CUDA_VISIBLE_DEVICES`` (indices or ``GPU-``/``MIG-`` UUIDs). NVML orders
    devices by PCI bus id, so on a machine with mixed GPU models and no ``CUDA_VISIBLE_DEVICES``
    set ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` for the two numberings to agree.

    Returns:
        int | str | None: NVML index or UUID; None without CUDA.
    """
    if not torch.cuda.is_available():
        return None
    index = torch.cuda.current_device()
    visible = [v.strip() for v in os.environ.get('CUDA_VISIBLE_DEVICES', '').split(',')]
    visible = [v for v in visible if v]
    if index >= len(visible):
        return index
    entry = visible[index]
    return int(entry) if entry.isdigit() else entry


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used here; the message says why (no pynvml, no driver, no such GPU)."""


class NvmlReader:
    """Reads utilisation, memory used and power draw of one NVIDIA GPU through pynvml.

    A figure that NVML refuses (``NVMLError``, e.g. power on a MIG slice or a GPU without a
    power sensor) is dropped for good on its first failure and its reason kept in
    :attr:`failed`; the others go on being read.

    Args:
        device (int | str): NVML index, or a ``GPU-``/``MIG-`` UUID (see
            :func:`current_nvml_device`).

    Raises:
        NvmlUnavailable: pynvml is not installed, NVML does not initialise (no driver: this is
            what ``pynvml.NVMLError`` says on a machine without a GPU), or the device is unknown.
    """

    def __init__(self, device: Union[int, str]) -> None:
        try:
            import pynvml
        except ImportError as e:
            raise NvmlUnavailable(f'pynvml is not installed ({e})') from e
        self._pynvml = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            raise NvmlUnavailable(f'NVML does not initialise: {_nvml_reason(e)}') from e
        try:
            if isinstance(device, int):
                handle = pynvml.nvmlDeviceGetHandleByIndex(device)
            else:
                handle = pynvml.nvmlDeviceGetHandleByUUID(device)
        except pynvml.NVMLError as e:
            self.close()
            raise NvmlUnavailable(f'NVML has no device {device!r}: {_nvml_reason(e)}') from e
        self.failed: Dict[str, str] = {}
        self._readers: Dict[str, Callable[[], float]] = {
            # Percent of the last sample period (1/6 s to 1 s) in which a kernel was running.
            'gpu_util': lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            # All processes on the device, CUDA context and allocator cache included.
            'gpu_mem_mib': lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / MIB,
            # NVML reports milliwatts.
            'gpu_power_w': lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
        }

    def read(self) -> Dict[str, float]:
        """Read every figure that still works.

        Returns:
            dict[str, float]: Some of ``gpu_util`` (%), ``gpu_mem_mib`` (MiB), ``gpu_power_w`` (W).
        """
        values = {}
        for name, reader in list(self._readers.items()):
            try:
                values[name] = reader()
            except self._pynvml.NVMLError as e:
                self.failed[name] = _nvml_reason(e)
                del self._readers[name]
        return values

    def close(self) -> None:
        """Shut NVML down (safe to call twice)."""
        try:
            self._pynvml.nvmlShutdown()
        except self._pynvml.NVMLError:
            pass


def _nvml_reason(e: Exception) -> str:
    return f'{type(e).__name__}: {e}'


def device_name(device: Union[str, torch.device]) -> str:
    """The GPU's name for a CUDA device, else the CPU's model name (benchmark reports)."""
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
