"""Speed and memory figures of every loop, for the text log, the JSON scalars and TensorBoard."""
import time
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.device import (
    NVML_FIGURES,
    NvmlReader,
    NvmlUnavailable,
    cuda_peak_memory_mib,
    current_nvml_device,
    peak_rss_mib,
    reset_cuda_peak_memory,
)

DATA_BATCH = Optional[Union[dict, tuple, list]]

# Figures measured on every machine.
TIMING_FIGURES = ('latency_ms', 'throughput', 'data_wait')


def _leading_size(value) -> Optional[int]:
    """Batch size of one collated field: a tensor ``[N, ...]``, a list of N items or a dict of
    such fields."""
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.dim() > 0 else None
    if isinstance(value, (list, tuple)):
        return len(value)
    if isinstance(value, dict):
        for item in value.values():
            size = _leading_size(item)
            if size is not None:
                return size
    return None


def batch_size_of(data_batch: DATA_BATCH, dataloader=None) -> int:
    """Number of samples in a data batch (its ``inputs``, else its ``data_samples``), falling
    back to the data loader's ``batch_size``, then 1."""
    if isinstance(data_batch, dict):
        for key in ('inputs', 'data_samples'):
            size = _leading_size(data_batch.get(key))
            if size is not None:
                return size
    return getattr(dataloader, 'batch_size', None) or 1


class _LoopStats:
    """Running totals of one training epoch or one validation/test pass."""

    def __init__(self) -> None:
        self.samples = 0
        self.iter_time = 0.0  # s
        self.data_time = 0.0  # s
        self.iters = 0
        self.peaks: Dict[str, float] = {}  # peak_rss_mb, cuda_peak_mb: max over the loop
        self.gpu: Dict[str, List[float]] = {}  # NVML samples

    def add(self, samples: int, iter_time: float, data_time: float,
            peaks: Dict[str, float], gpu: Dict[str, float]) -> None:
        self.iters += 1
        self.samples += samples
        self.iter_time += iter_time
        self.data_time += data_time
        for name, value in peaks.items():
            self.peaks[name] = max(value, self.peaks.get(name, value))
        for name, value in gpu.items():
            self.gpu.setdefault(name, []).append(value)

    def summary(self) -> Dict[str, float]:
        """Mean latency, overall throughput and data-wait share, peak memory, mean NVML
        samples."""
        if self.iters == 0 or self.iter_time <= 0:
            return {}
        out = dict(latency_ms=1e3 * self.iter_time / self.iters,
                   throughput=self.samples / self.iter_time,
                   data_wait=self.data_time / self.iter_time)
        out.update(self.peaks)
        out.update({name: sum(v) / len(v) for name, v in self.gpu.items()})
        return out


@HOOKS.register_module()
class DeviceMetricsHook(Hook):
    """Records latency, throughput, data-loading wait, peak memory and NVIDIA GPU readings.

    Each training iteration publishes to the message hub, so MMEngine's ``LoggerHook`` prints
    them in the text log and writes them to the JSON scalars file and TensorBoard (under the
    names below, without the ``train/`` prefix):

    * ``train/latency_ms``: wall time of the iteration, data wait included (ms per batch).
    * ``train/throughput``: samples per second of this process (one rank of a distributed job).
    * ``train/data_wait``: share of the iteration spent waiting for the data loader, in [0, 1].
    * ``train/peak_rss_mb``: peak resident memory of this process (MiB; workers not counted).
    * ``train/cuda_peak_mb``: peak memory of CUDA tensors since the last reading (MiB).
    * ``train/gpu_util`` (%), ``train/gpu_mem_mb`` (MiB, all processes on the GPU) and
      ``train/gpu_power_w`` (W): read through pynvml every ``interval`` iterations and at the end
      of each epoch, the iterations that ``LoggerHook`` prints with the same interval.

    After each training epoch one log line gives the epoch's figures (mean latency, throughput
    and data-wait share over the whole epoch, peak memories, mean GPU readings), which also go
    to the JSON scalars and TensorBoard as ``epoch_<figure>`` at step = epoch (= iteration for
    iteration-based training). Validation and test passes are measured the same way and their
    figures are published as ``val/val_<figure>`` and ``test/test_<figure>`` before
    ``LoggerHook`` writes the pass's metric line, so they appear next to the metrics.

    What cannot be measured here (no CUDA, no pynvml, an NVML error or an unsupported reading)
    is said once, in one log line, and the rest is recorded. Time is taken with
    ``time.perf_counter`` between this hook's calls: iteration ``i`` lasts from the end of
    iteration ``i - 1`` (or the start of the loop) to the end of ``i``; the wait is the part
    before ``before_*_iter``. The figures are rank 0's in the log of a distributed run.

    Args:
        interval (int): NVML sampling interval in iterations; give it the ``LoggerHook``
            interval. Defaults to 10.
    """

    # After IterTimerHook (NORMAL, registered first) and before LoggerHook (BELOW_NORMAL), which
    # reads the message hub in its own after_*_iter / after_*_epoch.
    priority = 'NORMAL'

    def __init__(self, interval: int = 10) -> None:
        if interval < 1:
            raise ValueError(f'DeviceMetricsHook: interval must be >= 1, got {interval}')
        self.interval = interval
        self._nvml: Optional[NvmlReader] = None
        self._nvml_device: Optional[Union[int, str]] = None
        self._reported = False
        self._known_failures: set = set()
        self._stats: Dict[str, _LoopStats] = {}
        self._t_end = 0.0  # end of the previous iteration (or start of the loop)
        self._t_start = 0.0  # before_*_iter of the current iteration

    # ------------------------------------------------------------------ run

    def before_run(self, runner) -> None:
        """Find out which figures this machine gives; say once which it cannot."""
        missing: Dict[str, List[str]] = {}
        if not torch.cuda.is_available():
            missing.setdefault('no CUDA device', []).append('cuda_peak_mb')
        self._nvml_device = current_nvml_device()
        if self._nvml_device is None:
            missing.setdefault('no CUDA device', []).extend(NVML_FIGURES)
        else:
            try:
                self._nvml = NvmlReader(self._nvml_device)
            except NvmlUnavailable as e:
                missing.setdefault(str(e), []).extend(NVML_FIGURES)
            else:
                self._nvml.read()  # probe: unsupported readings land in `failed`
                for name, reason in self._nvml.failed.items():
                    missing.setdefault(reason, []).append(name)
                self._known_failures.update(self._nvml.failed)
        if peak_rss_mib() is None:
            missing.setdefault('neither resource.getrusage nor psutil', []).append('peak_rss_mb')
        if missing and not self._reported:
            lost = {name for names in missing.values() for name in names}
            kept = [n for n in (*TIMING_FIGURES, 'peak_rss_mb', 'cuda_peak_mb', *NVML_FIGURES)
                    if n not in lost]
            reasons = '; '.join(f'{", ".join(names)} ({why})' for why, names in missing.items())
            runner.logger.info(f'DeviceMetricsHook cannot give {reasons}; '
                               f'it records {", ".join(kept)}.')
        self._reported = True

    def after_run(self, runner) -> None:
        if self._nvml is not None:
            self._nvml.close()
            self._nvml = None

    # ------------------------------------------------------------ per loop

    def _before_epoch(self, runner, mode: str = 'train') -> None:
        self._stats[mode] = _LoopStats()
        reset_cuda_peak_memory()
        self._t_end = time.perf_counter()

    def _before_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                     mode: str = 'train') -> None:
        self._t_start = time.perf_counter()

    def _after_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                    outputs: Optional[Union[dict, Sequence]] = None, mode: str = 'train') -> None:
        now = time.perf_counter()
        iter_time = max(now - self._t_end, 1e-9)
        data_time = min(max(self._t_start - self._t_end, 0.0), iter_time)
        self._t_end = now
        dataloader = getattr(runner, f'{mode}_dataloader', None)
        samples = batch_size_of(data_batch, dataloader)

        peaks = {}
        rss = peak_rss_mib()
        if rss is not None:
            peaks['peak_rss_mb'] = rss
        cuda_peak = cuda_peak_memory_mib()
        if cuda_peak is not None:
            peaks['cuda_peak_mb'] = cuda_peak
        gpu = {}
        if self._nvml is not None and (self.every_n_inner_iters(batch_idx, self.interval)
                                       or self.end_of_epoch(dataloader, batch_idx)):
            gpu = self._read_nvml(runner)
        self._stats.setdefault(mode, _LoopStats()).add(samples, iter_time, data_time, peaks, gpu)

        if mode == 'train':
            figures = dict(latency_ms=1e3 * iter_time, throughput=samples / iter_time,
                           data_wait=data_time / iter_time, **peaks, **gpu)
            for name, value in figures.items():
                # resumed=False: figures of an earlier run are not carried into checkpoints.
                runner.message_hub.update_scalar(f'train/{name}', value, resumed=False)

    def _after_epoch(self, runner, mode: str = 'train') -> None:
        summary = self._stats.pop(mode, _LoopStats()).summary()
        if not summary:
            return
        if mode == 'train':
            by_epoch = getattr(runner.log_processor, 'by_epoch', True)
            step = runner.epoch + 1 if by_epoch else runner.iter
            where = f'Epoch(train) [{step}]' if by_epoch else f'Iter(train) [{step}]'
            text = '  '.join(f'{name}: {value:.4g}' for name, value in summary.items())
            runner.logger.info(f'{where}  device metrics: {text}')
            runner.visualizer.add_scalars({f'epoch_{k}': v for k, v in summary.items()},
                                          step=step, file_path=f'{runner.timestamp}.json')
        else:
            for name, value in summary.items():
                runner.message_hub.update_scalar(f'{mode}/{mode}_{name}', value, resumed=False)
        # A validation pass inside training must not count as the next iteration's data wait.
        self._t_end = time.perf_counter()

    def _read_nvml(self, runner) -> Dict[str, float]:
        values = self._nvml.read()
        new = set(self._nvml.failed) - self._known_failures
        for name in sorted(new):
            runner.logger.warning(f'DeviceMetricsHook stopped recording {name}: '
                                  f'{self._nvml.failed[name]}')
        self._known_failures |= new
        return values
