"""Speed and memory figures of every loop, for the text log, the JSON scalars and TensorBoard."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.hooks import Hook, IterTimerHook

from ...registry import HOOKS
from ...utils.device import (
    NVML_FIGURES,
    NvmlReader,
    NvmlUnavailable,
    current_nvml_device,
    peak_rss_mib,
)
from ...utils.errors import ConfigError

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
        self.peaks: Dict[str, float] = {}  # peak_rss_mib: max over the loop
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
    """Adds throughput, data-loading wait, peak host memory and NVIDIA GPU readings to the
    iteration times that MMEngine's ``IterTimerHook`` measures.

    It does not time anything itself: ``IterTimerHook`` (``default_hooks.timer``, which must run
    before it) publishes ``{mode}/time`` (the iteration, from the end of the previous one) and
    ``{mode}/data_time`` (the wait for the data loader within it); this hook derives its figures
    from them. The peak memory of CUDA tensors is ``memory`` (MiB) of MMEngine's
    ``LogProcessor`` in every iteration line; it is not read twice.

    Each training iteration publishes to the message hub, so ``LoggerHook`` prints them in the
    text log and writes them to the JSON scalars file and TensorBoard (under the names below,
    without the ``train/`` prefix):

    * ``train/latency_ms``: ``IterTimerHook``'s iteration time, data wait included (ms per
      batch).
    * ``train/throughput``: samples per second of this process (one rank of a distributed job).
    * ``train/data_wait``: share of the iteration spent waiting for the data loader, in [0, 1].
    * ``train/peak_rss_mib``: peak resident memory of this process (MiB; workers not counted).
    * ``train/gpu_util`` (%), ``train/gpu_mem_mib`` (MiB, all processes on the GPU) and
      ``train/gpu_power_w`` (W): read through pynvml every ``interval`` iterations and at the end
      of each epoch, the iterations that ``LoggerHook`` prints with the same interval.

    After each training epoch one log line gives the epoch's figures (mean latency, throughput
    and data-wait share over the whole epoch, peak memory, mean GPU readings), which also go to
    the JSON scalars and TensorBoard as ``epoch_<figure>`` at step = epoch (= iteration for
    iteration-based training). Validation and test passes are measured the same way and their
    figures are published as ``val/val_<figure>`` and ``test/test_<figure>`` before
    ``LoggerHook`` writes the pass's metric line, so they appear next to the metrics.

    What cannot be measured here (no pynvml, an NVML error or an unsupported reading) is said
    once, in one log line, and the rest is recorded. The figures are rank 0's in the log of a
    distributed run. As with ``IterTimerHook``'s ``time``, in iteration-based training the
    first iteration after a validation pass also counts the end of that pass.

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

    # ------------------------------------------------------------------ run

    def before_run(self, runner) -> None:
        """Check that ``IterTimerHook`` runs first; say once which figures this machine cannot
        give.

        Raises:
            ConfigError: No ``IterTimerHook`` before this hook.
        """
        hooks = list(runner.hooks)
        earlier = hooks[:hooks.index(self)] if self in hooks else hooks
        if not any(isinstance(h, IterTimerHook) for h in earlier):
            raise ConfigError('DeviceMetricsHook reads the iteration times of IterTimerHook; '
                              "keep default_hooks.timer=dict(type='IterTimerHook') (it must "
                              'run before DeviceMetricsHook)')
        missing: Dict[str, List[str]] = {}
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
            missing.setdefault('neither resource.getrusage nor psutil', []).append('peak_rss_mib')
        if missing and not self._reported:
            lost = {name for names in missing.values() for name in names}
            kept = [n for n in (*TIMING_FIGURES, 'peak_rss_mib', *NVML_FIGURES) if n not in lost]
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

    def _after_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None,
                    outputs: Optional[Union[dict, Sequence]] = None, mode: str = 'train') -> None:
        hub = runner.message_hub
        iter_time = max(hub.get_scalar(f'{mode}/time').current(), 1e-9)  # IterTimerHook's
        data_time = min(max(hub.get_scalar(f'{mode}/data_time').current(), 0.0), iter_time)
        dataloader = getattr(runner, f'{mode}_dataloader', None)
        samples = batch_size_of(data_batch, dataloader)

        peaks = {}
        rss = peak_rss_mib()
        if rss is not None:
            peaks['peak_rss_mib'] = rss
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
                hub.update_scalar(f'train/{name}', value, resumed=False)

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

    def _read_nvml(self, runner) -> Dict[str, float]:
        values = self._nvml.read()
        new = set(self._nvml.failed) - self._known_failures
        for name in sorted(new):
            runner.logger.warning(f'DeviceMetricsHook stopped recording {name}: '
                                  f'{self._nvml.failed[name]}')
        self._known_failures |= new
        return values
