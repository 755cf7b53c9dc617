"""DeviceMetricsHook in a real MMEngine Runner on CPU: figures in the text log and the JSON
scalars, one "cannot give" line, and pynvml failures (real NVMLError) or a working fake NVML."""
import json
import os.path as osp
import sys
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pynvml
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import spikeclip.engine.hooks.device_metrics_hook as hook_module
from spikeclip.engine.hooks import DeviceMetricsHook
from spikeclip.utils.device import NvmlReader, NvmlUnavailable, current_nvml_device, peak_rss_mib
from spikeclip.utils.errors import ConfigError

BATCH = 2
SAMPLES = 8  # 4 iterations per epoch
EPOCHS = 2
LOAD_SLEEP = 0.005  # s per sample, so that every iteration waits for its data


class SleepyDataset(Dataset):
    """Tiny regression set whose loading takes a known minimum time."""

    def __len__(self):
        return SAMPLES

    def __getitem__(self, i):
        time.sleep(LOAD_SLEEP)
        x = torch.full((4,), float(i))
        return dict(inputs=x, data_samples=x.sum(0, keepdim=True))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        pred = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=F.mse_loss(pred, data_samples))
        if mode == 'predict':
            return [dict(pred=p, gt=t) for p, t in zip(pred, data_samples)]
        return pred


class ToyMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results += [float((s['pred'] - s['gt']).abs().mean()) for s in data_samples]

    def compute_metrics(self, results):
        return dict(mae=sum(results) / len(results))


def _loader():
    return dict(dataset=SleepyDataset(), batch_size=BATCH, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='default_collate'))


def _run(tmp_path, test: bool = False, timer: bool = True, **hook_kwargs):
    """Train 2 epochs (with validation), optionally test; return (log text, scalars, runner)."""
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), experiment_name=f'dm_{uuid.uuid4().hex}',
        train_dataloader=_loader(), val_dataloader=_loader(), test_dataloader=_loader(),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS, val_interval=1), val_cfg=dict(),
        test_cfg=dict(), val_evaluator=Evaluator(ToyMetric()),
        test_evaluator=Evaluator(ToyMetric()),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=2),
                           checkpoint=dict(type='CheckpointHook', interval=100),
                           **({} if timer else dict(timer=None))),
        custom_hooks=[dict(type='DeviceMetricsHook', **hook_kwargs)],
        default_scope='spikeclip')
    runner.train()
    if test:
        runner.test()
    log_dir = osp.join(str(tmp_path), runner.timestamp)
    with open(osp.join(log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        scalars = [json.loads(line) for line in f]
    return log, scalars, runner


def _fake_nvml(monkeypatch, calls: list, power_error: bool = False):
    """Make the real pynvml module answer like a GPU at 42 %, 512 MiB, 75 W."""
    monkeypatch.setattr(hook_module, 'current_nvml_device', lambda: 0)
    monkeypatch.setattr(pynvml, 'nvmlInit', lambda: None)
    monkeypatch.setattr(pynvml, 'nvmlShutdown', lambda: None)
    monkeypatch.setattr(pynvml, 'nvmlDeviceGetHandleByIndex', lambda i: f'handle{i}')

    def util(handle):
        calls.append(handle)
        return SimpleNamespace(gpu=42, memory=10)

    def power(handle):
        if power_error:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 75_000  # mW

    monkeypatch.setattr(pynvml, 'nvmlDeviceGetUtilizationRates', util)
    monkeypatch.setattr(pynvml, 'nvmlDeviceGetMemoryInfo',
                        lambda h: SimpleNamespace(used=512 * 2**20, total=2**34))
    monkeypatch.setattr(pynvml, 'nvmlDeviceGetPowerUsage', power)


def test_registered_and_built_by_scope():
    from spikeclip.registry import HOOKS
    hook = HOOKS.build(dict(type='DeviceMetricsHook', interval=3))
    assert isinstance(hook, DeviceMetricsHook) and hook.interval == 3
    with pytest.raises(ValueError, match='interval'):
        DeviceMetricsHook(interval=0)


def test_needs_iter_timer_hook(tmp_path):
    with pytest.raises(ConfigError, match='DeviceMetricsHook reads the iteration times of '
                       'IterTimerHook'):
        _run(tmp_path, timer=False, interval=2)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only messages')
def test_cpu_run_records_figures(tmp_path):
    log, scalars, runner = _run(tmp_path, test=True, interval=2)

    # One line says what a CPU cannot give, although before_run ran twice (train, then test).
    assert log.count('DeviceMetricsHook cannot give') == 1
    line = next(ln for ln in log.splitlines() if 'cannot give' in ln)
    for name in ('gpu_util', 'gpu_mem_mib', 'gpu_power_w', 'no CUDA device'):
        assert name in line
    assert 'cuda_peak' not in log  # the CUDA peak is LogProcessor's `memory`, not read here
    assert 'it records latency_ms, throughput, data_wait, peak_rss_mib.' in line

    # Iteration lines of the text log carry the figures.
    iter_lines = [ln for ln in log.splitlines() if 'Epoch(train)' in ln and 'loss:' in ln]
    assert len(iter_lines) == EPOCHS * SAMPLES // BATCH // 2  # LoggerHook interval 2
    for name in ('latency_ms:', 'throughput:', 'data_wait:', 'peak_rss_mib:'):
        assert all(name in ln for ln in iter_lines)
    assert 'gpu_util' not in ''.join(iter_lines)
    # One summary line per epoch, and the figures next to the validation and test metrics.
    for epoch in range(1, EPOCHS + 1):
        assert f'Epoch(train) [{epoch}]  device metrics: latency_ms:' in log
    val_lines = [ln for ln in log.splitlines() if 'Epoch(val)' in ln and 'mae:' in ln]
    assert len(val_lines) == EPOCHS and all('val_latency_ms:' in ln for ln in val_lines)
    test_line = next(ln for ln in log.splitlines() if 'Epoch(test)' in ln and 'mae:' in ln)
    assert 'test_throughput:' in test_line and 'test_data_wait:' in test_line

    # JSON scalars: every logged iteration, one summary per epoch, the validation passes.
    iters = [s for s in scalars if 'loss' in s]
    assert [s['step'] for s in iters] == [2, 4, 6, 8]
    for s in iters:
        # Each iteration loads 2 samples sleeping 5 ms each, so it lasts at least 10 ms.
        assert s['latency_ms'] >= 1e3 * BATCH * LOAD_SLEEP
        assert s['throughput'] == pytest.approx(BATCH / (s['latency_ms'] / 1e3), rel=1e-6)
        assert 0 < s['data_wait'] <= 1
        assert s['peak_rss_mib'] > 0
        assert not {'gpu_util', 'gpu_mem_mib', 'gpu_power_w'} & set(s)
    epochs = [s for s in scalars if 'epoch_latency_ms' in s]
    assert [s['step'] for s in epochs] == [1, 2]
    for s in epochs:
        assert s['epoch_throughput'] == pytest.approx(
            BATCH / (s['epoch_latency_ms'] / 1e3), rel=1e-6)
        assert 0 < s['epoch_data_wait'] <= 1 and s['epoch_peak_rss_mib'] >= iters[0]['peak_rss_mib']
    vals = [s for s in scalars if 'mae' in s]
    assert len(vals) == EPOCHS and all(s['val_latency_ms'] > 0 for s in vals)

    # The hook extends IterTimerHook's figures instead of timing every iteration again.
    hub = runner.message_hub
    latency, data_wait = (hub.get_scalar(f'train/{k}').data[0] for k in ('latency_ms', 'data_wait'))
    time_s, data_s = (hub.get_scalar(f'train/{k}').data[0] for k in ('time', 'data_time'))
    assert len(latency) == EPOCHS * SAMPLES // BATCH
    np.testing.assert_allclose(latency, 1e3 * time_s, rtol=1e-9)
    np.testing.assert_allclose(data_wait, data_s / time_s, rtol=1e-9)

    # The figures are not resumed from checkpoints (they describe one run's machine).
    assert 'train/latency_ms' not in runner.message_hub.state_dict()['log_scalars']


@pytest.mark.parametrize('failure', ['import', 'init'])
def test_nvml_unavailable_reported_once(tmp_path, monkeypatch, failure):
    monkeypatch.setattr(hook_module, 'current_nvml_device', lambda: 0)  # as if on a GPU
    if failure == 'import':
        monkeypatch.setitem(sys.modules, 'pynvml', None)  # `import pynvml` raises ImportError
        reason = 'pynvml is not installed'
    else:
        def init():
            raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
        monkeypatch.setattr(pynvml, 'nvmlInit', init)
        reason = 'NVML does not initialise: NVMLError_DriverNotLoaded: Driver Not Loaded'

    log, scalars, _ = _run(tmp_path, interval=2)
    assert log.count('DeviceMetricsHook cannot give') == 1
    line = next(ln for ln in log.splitlines() if 'cannot give' in ln)
    assert f'gpu_util, gpu_mem_mib, gpu_power_w ({reason}' in line
    iters = [s for s in scalars if 'loss' in s]
    assert len(iters) == 4 and all('latency_ms' in s and 'gpu_util' not in s for s in iters)


@pytest.mark.parametrize('power_error', [False, True])
def test_fake_nvml_recorded_every_interval(tmp_path, monkeypatch, power_error):
    calls = []
    _fake_nvml(monkeypatch, calls, power_error=power_error)
    log, scalars, _ = _run(tmp_path, interval=2)

    # Probe + every 2nd training iteration (2 per epoch) + every 2nd validation iteration.
    assert len(calls) == 1 + EPOCHS * 2 + EPOCHS * 2
    iters = [s for s in scalars if 'loss' in s]
    assert len(iters) == 4
    for s in iters:
        assert s['gpu_util'] == 42 and s['gpu_mem_mib'] == 512
        assert ('gpu_power_w' in s) is not power_error
        if not power_error:
            assert s['gpu_power_w'] == 75
    epochs = [s for s in scalars if 'epoch_latency_ms' in s]
    assert len(epochs) == EPOCHS and all(s['epoch_gpu_util'] == 42 for s in epochs)
    assert all(s['val_gpu_mem_mib'] == 512 for s in scalars if 'mae' in s)
    # Only what is really missing is named: power where NVML refuses it.
    assert log.count('DeviceMetricsHook cannot give') == int(power_error)
    line = next((ln for ln in log.splitlines() if 'cannot give' in ln), '')
    line = line.split('; it records')[0]
    assert 'gpu_util' not in line and 'gpu_mem_mib' not in line
    assert ('gpu_power_w (NVMLError_NotSupported: Not Supported)' in line) is power_error


def test_nvml_reader_drops_a_reading_that_starts_failing(monkeypatch):
    calls = []
    _fake_nvml(monkeypatch, calls)
    reader = NvmlReader(0)
    assert reader.read() == dict(gpu_util=42.0, gpu_mem_mib=512.0, gpu_power_w=75.0)

    def lost(handle):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
    monkeypatch.setattr(pynvml, 'nvmlDeviceGetMemoryInfo', lost)
    assert reader.read() == dict(gpu_util=42.0, gpu_power_w=75.0)
    assert reader.failed == dict(gpu_mem_mib='NVMLError_GpuIsLost: GPU is lost')
    monkeypatch.setattr(pynvml, 'nvmlDeviceGetMemoryInfo', lambda h: 1 / 0)  # not asked again
    assert reader.read() == dict(gpu_util=42.0, gpu_power_w=75.0)
    reader.close()


def test_nvml_reader_unknown_device(monkeypatch):
    _fake_nvml(monkeypatch, [])

    def by_uuid(uuid):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
    monkeypatch.setattr(pynvml, 'nvmlDeviceGetHandleByUUID', by_uuid)
    with pytest.raises(NvmlUnavailable, match="no device 'GPU-123'.*Not Found"):
        NvmlReader('GPU-123')


def test_current_nvml_device_maps_visible_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 1)
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '3,5')
    assert current_nvml_device() == 5
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', 'GPU-aaa,MIG-bbb')
    assert current_nvml_device() == 'MIG-bbb'
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES')
    assert current_nvml_device() == 1
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert current_nvml_device() is None


def test_peak_rss_matches_the_kernel_high_water_mark():
    with open('/proc/self/status') as f:  # Linux: VmHWM is the peak RSS in kB
        hwm_kib = next(int(ln.split()[1]) for ln in f if ln.startswith('VmHWM:'))
    # Within 16 MiB: the peak can only have grown a little between the two readings.
    assert peak_rss_mib() == pytest.approx(hwm_kib / 1024, abs=16)
