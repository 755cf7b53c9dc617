"""Speed benchmark of a model's stages against the classic TFP baseline, and of ``.dat`` decoding.

:func:`run_benchmark` times, after warm-up and inside the same :class:`InferenceContext` that
inference uses, each stage the model has:

* ``coarse``: the stage-1 encoder on a random binary spike window ``[B, T, H, W]``;
* ``refine``: the refiner on the coarse image;
* ``classify``: CLIP image features of the final image against the class prompt features (these
  are fixed at inference, so they are computed once, outside the timing);
* ``pipeline``: coarse + refine (CLIP excluded), the figure the speed targets are about;
* ``tfp``: TFP (mean spike rate) on the same input, the baseline every figure is divided by;

and ``.dat`` decoding of the same spikes: :func:`spikeclip.fileio.read_dat` against
:func:`read_dat_per_frame`, a straightforward per-frame loop.

Every stage reports latency percentiles, throughput, peak memory and GPU power, each also as a
ratio to TFP's (``ratio_to_tfp``), so that figures from machines of different speed or load can
be compared.

:func:`compare_coarse` times the stage-1 encoders of several models in one run, in alternating
rounds (A B C A B C ...) so that a machine whose speed drifts affects all of them alike, each on
a window of its own length, with TFP on the longest window as the common baseline.
"""
import contextlib
import os
import os.path as osp
import platform
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.registry import DefaultScope
from torch import nn

from ..apis.inference import init_model
from ..engine.fast_inference import malloc_tuned, native_bf16, prepare_for_inference, to_float32
from ..fileio import check_frame_size, frame_bytes, read_dat, write_dat
from ..pretrained import is_pretrained_name, pretrained_path
from ..registry import MODELS
from ..utils.device import (
    NvmlReader,
    NvmlUnavailable,
    check_device,
    cuda_peak_memory_mib,
    current_nvml_device,
    device_name,
    peak_rss_mib,
    reset_cuda_peak_memory,
)
from ..utils.errors import ConfigError

STAGE_ORDER = ('tfp', 'coarse', 'refine', 'classify', 'pipeline')
# The figures of every timed entry; each also appears in ``ratio_to_tfp``.
FIGURES = ('p50_ms', 'p90_ms', 'p99_ms', 'mean_ms', 'throughput', 'peak_mem_mib', 'power_w')
DECODE_RATIO_FIGURES = ('p50_ms', 'p90_ms', 'p99_ms', 'mean_ms', 'throughput')
# Config fields naming earlier-stage checkpoints that a stage-2/3 model loads when built.
CHECKPOINT_FIELDS = ('coarse_checkpoint', 'prompt_checkpoint')


def build_benchmark_model(source: str, device: str = 'cpu',
                          cfg_options: Optional[dict] = None) -> nn.Module:
    """A model from a checkpoint (its weights) or a config file (random weights).

    Args:
        source (str): A stage checkpoint, a combined model file, or a ``.py`` config.
        device (str): Where the model goes. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into a config, or into a checkpoint's
            stored model config (``--cfg-options``; ``model.*`` keys for a checkpoint).

    Raises:
        ConfigError: Missing config, a config that builds its model from a checkpoint, or one
            that names earlier-stage checkpoints that do not exist.
        CheckpointError: A checkpoint that is missing or does not fit.
    """
    if not source.endswith('.py'):
        return init_model(source, device=device, cfg_options=cfg_options)
    from ..engine.runner import load_config
    cfg = load_config(source, cfg_options)
    model_cfg = cfg.model.to_dict()
    if model_cfg.pop('from_checkpoint', False):
        raise ConfigError(f'{source}: model.from_checkpoint is set, so this config has no model of '
                          'its own; benchmark the checkpoint (e.g. combined_model.pth) instead')
    for field in CHECKPOINT_FIELDS:
        path = model_cfg.get(field)
        if is_pretrained_name(path):  # a shipped model (pretrained:real): its file, or an error
            pretrained_path(path)
        elif path is not None and not osp.isfile(path):
            raise ConfigError(
                f'{source}: model.{field} names {path!r}, which does not exist. A stage-2/3 '
                'config builds on the earlier stages\' checkpoints: train them first, benchmark '
                'a checkpoint instead, or point the field elsewhere with --cfg-options')
    with DefaultScope.overwrite_default_scope('spikeclip'):
        model = MODELS.build(model_cfg)
    return model.to(device).eval()


def class_features(model: nn.Module) -> Optional[torch.Tensor]:
    """The class prompt features ``[K, D]`` a model classifies with, or None if it does not.

    Learned class prompts where the model has them, else the hand-written zero-shot prompts.
    """
    if getattr(model, 'clip', None) is None or not getattr(model, 'class_names', None):
        return None
    if getattr(model, 'class_prompt', None) is not None:
        return model.class_prompt(model.clip)
    for name in ('class_features', 'zeroshot_features'):
        if getattr(model, name, None) is not None:
            return getattr(model, name)
    return None


def read_dat_per_frame(path: str, height: int, width: int, flip: bool = True) -> np.ndarray:
    """Reference ``.dat`` decoder: one frame at a time, bits taken out with shifts.

    The straightforward loop found in many spike-camera scripts; kept as the baseline of the
    decode benchmark and to check :func:`spikeclip.fileio.read_dat` against.

    Returns:
        np.ndarray: ``[T, H, W]`` uint8 spikes (0/1), row 0 at the top.
    """
    fb = frame_bytes(height, width)
    with open(path, 'rb') as f:
        data = f.read()
    shifts = np.arange(8, dtype=np.uint8)
    frames = []
    for t in range(len(data) // fb):
        raw = np.frombuffer(data, dtype=np.uint8, count=fb, offset=t * fb)
        bits = ((raw[:, None] >> shifts) & 1).reshape(-1)[:height * width]
        frame = bits.reshape(height, width)
        frames.append(frame[::-1] if flip else frame)
    return np.stack(frames)


class _Meter:
    """Peak memory and power around a timed loop (CUDA allocator / per-stage RSS; NVML)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.nvml = None
        self.nvml_error = None
        if device.type == 'cuda':
            try:
                self.nvml = NvmlReader(current_nvml_device())
            except NvmlUnavailable as e:
                self.nvml_error = str(e)
        else:
            self.nvml_error = 'no NVML figures on a CPU device'
        self.memory_source = ('cuda_max_memory_allocated' if device.type == 'cuda' else
                              'rss_hwm_per_stage' if _reset_rss_peak() else 'rss_process_peak')
        self.power: List[float] = []

    def start(self) -> None:
        self.power = []
        if self.device.type == 'cuda':
            reset_cuda_peak_memory(self.device)
        elif self.memory_source == 'rss_hwm_per_stage':
            _reset_rss_peak()

    def sample(self) -> None:
        if self.nvml is not None:
            watts = self.nvml.read().get('gpu_power_w')
            if watts is not None:
                self.power.append(watts)

    def peak_mem_mib(self) -> Optional[float]:
        if self.device.type == 'cuda':
            return cuda_peak_memory_mib(self.device)
        if self.memory_source == 'rss_hwm_per_stage':
            return _rss_hwm_mib()
        return peak_rss_mib()

    def power_w(self) -> Optional[float]:
        return float(np.mean(self.power)) if self.power else None

    def close(self) -> None:
        if self.nvml is not None:
            self.nvml.close()


def _reset_rss_peak() -> bool:
    """Reset this process's peak RSS (Linux ``/proc/self/clear_refs``); False where impossible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return _rss_hwm_mib() is not None
    except OSError:
        return False


def _rss_hwm_mib() -> Optional[float]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def summarize(times_ms: Sequence[float], batch_size: int) -> Dict[str, float]:
    """Latency percentiles (ms), mean and throughput (samples/s) of per-call times."""
    t = np.asarray(times_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return dict(p50_ms=float(p50), p90_ms=float(p90), p99_ms=float(p99), mean_ms=float(t.mean()),
                throughput=float(batch_size * 1000.0 / t.mean()))


def time_calls(fn: Callable[[], object], iters: int, warmup: int, device: torch.device,
               meter: Optional[_Meter] = None) -> List[float]:
    """Call ``fn`` ``warmup`` times, then ``iters`` timed times; per-call wall times in ms."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    if meter is not None:
        meter.start()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
        if meter is not None:
            meter.sample()
    return times


def add_ratios(entries: Dict[str, dict], baseline: dict) -> None:
    """Add ``ratio_to_tfp`` (each figure over the baseline's; None where either is missing)."""
    for entry in entries.values():
        entry['ratio_to_tfp'] = {
            k: (entry[k] / baseline[k] if entry.get(k) is not None and baseline.get(k) else None)
            for k in FIGURES}


def benchmark_dat_decode(spikes: np.ndarray, iters: int, warmup: int = 1) -> dict:
    """Decode throughput of ``read_dat`` and of :func:`read_dat_per_frame` on one temporary file.

    Args:
        spikes (np.ndarray): ``[T, H, W]`` 0/1 spikes written to the file.
        iters (int): Timed decodes of each reader.
        warmup (int): Untimed decodes first. Defaults to 1.

    Returns:
        dict: ``file_mb``, ``frames``, ``same_output`` (both readers agree), per reader
        (``read_dat``, ``per_frame``) the latency figures and ``mb_per_s``, and ``speedup``
        (per-frame p50 over read_dat p50).
    """
    t, h, w = spikes.shape
    cpu = torch.device('cpu')
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'bench.dat')
        write_dat(path, spikes)
        size_mb = os.path.getsize(path) / 1e6
        out = dict(file_mb=size_mb, frames=t, height=h, width=w)
        readers = dict(read_dat=lambda: read_dat(path, h, w),
                       per_frame=lambda: read_dat_per_frame(path, h, w))
        out['same_output'] = bool(np.array_equal(readers['read_dat'](), readers['per_frame']()))
        for name, fn in readers.items():
            stats = summarize(time_calls(fn, iters, warmup, cpu), 1)
            stats['mb_per_s'] = size_mb * 1000.0 / stats['p50_ms']
            out[name] = stats
    out['speedup'] = out['per_frame']['p50_ms'] / out['read_dat']['p50_ms']
    return out


@contextlib.contextmanager
def _torch_threads(threads: Optional[int]):
    """``torch.set_num_threads(threads)`` for the block (None: as it is), restored after."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _random_spikes(gen: torch.Generator, batch_size: int, frames: int, height: int, width: int,
                   spike_rate: float) -> torch.Tensor:
    """A random binary spike window ``[B, T, H, W]`` uint8."""
    return (torch.rand(batch_size, frames, height, width, generator=gen) < spike_rate).to(
        torch.uint8)


def _stage1_encoder(model: nn.Module, source: str) -> nn.Module:
    encoder = getattr(model, 'encoder', None)
    if encoder is None:
        raise ConfigError(f'{source}: the model {type(model).__name__} has no stage-1 encoder '
                          'to benchmark')
    return encoder


def run_benchmark(source: str,
                  batch_size: int = 1,
                  height: int = 250,
                  width: int = 400,
                  frames: Optional[int] = None,
                  iters: int = 20,
                  warmup: int = 3,
                  device: Optional[str] = None,
                  amp: str = 'auto',
                  channels_last: Union[str, bool] = 'auto',
                  compile: bool = False,
                  threads: Optional[int] = None,
                  cfg_options: Optional[dict] = None,
                  spike_rate: float = 0.3,
                  seed: int = 0) -> dict:
    """Benchmark a checkpoint's or config's model (see module doc).

    Args:
        source (str): Stage checkpoint, combined model file, or ``.py`` config (random weights).
        batch_size (int): Samples per call B. Defaults to 1.
        height (int): Frame height H. Defaults to 250.
        width (int): Frame width W. Defaults to 400.
        frames (int, optional): Frames T of the random input; defaults to the model's window
            (``data_preprocessor.window``, 200 if unset). The model sees its window of them.
        iters (int): Timed calls per stage. Defaults to 20.
        warmup (int): Untimed calls first (compilation happens here). Defaults to 3.
        device (str, optional): ``'cpu'`` or ``'cuda'``; CUDA where available by default.
        amp (str): ``'auto'``, ``'bf16'``, ``'fp16'`` or ``'none'``. Defaults to ``'auto'``.
        channels_last (str | bool): ``'auto'``, True or False. Defaults to ``'auto'``.
        compile (bool): ``torch.compile`` the encoder and refiner. Defaults to False.
        threads (int, optional): ``torch.set_num_threads`` for the run (restored afterwards);
            the current setting if None.
        cfg_options (dict, optional): Overrides of a config source.
        spike_rate (float): Probability of a spike per pixel and frame. Defaults to 0.3.
        seed (int): Seed of the random input. Defaults to 0.

    Returns:
        dict: ``meta`` (device, threads, versions, settings, input shape), ``stages`` (per timed
        stage the :data:`FIGURES` and ``ratio_to_tfp``) and ``dat_decode``.
    """
    for name, value, low in (('--batch-size', batch_size, 1), ('--iters', iters, 1),
                             ('--warmup', warmup, 0), ('--frames', frames, 1),
                             ('--threads', threads, 1)):
        if value is not None and value < low:
            raise ConfigError(f'{name} must be at least {low}, got {value}')
    check_frame_size(height, width)
    with _torch_threads(threads):
        return _run(source, batch_size, height, width, frames, iters, warmup, device, amp,
                    channels_last, compile, cfg_options, spike_rate, seed)


def _run(source, batch_size, height, width, frames, iters, warmup, device, amp, channels_last,
         compile, cfg_options, spike_rate, seed) -> dict:
    dev = torch.device(check_device(device))
    model = build_benchmark_model(source, str(dev), cfg_options)
    model, ctx = prepare_for_inference(model, dev, amp, channels_last)
    window = getattr(getattr(model, 'data_preprocessor', None), 'window', None) or 200
    frames = frames or window
    gen = torch.Generator().manual_seed(seed)
    raw = _random_spikes(gen, batch_size, frames, height, width, spike_rate)
    if hasattr(model, 'data_preprocessor'):
        inputs = model.data_preprocessor(dict(inputs=raw, data_samples=None))['inputs']
    else:
        inputs = raw.to(dev).float()

    encoder = _stage1_encoder(model, source)
    refiner = getattr(model, 'refiner', None)
    if compile:
        encoder = torch.compile(encoder)
        refiner = torch.compile(refiner) if refiner is not None else None
    from ..models.encoders import TFP
    tfp = TFP().to(dev)
    with ctx:
        coarse_img = to_float32(encoder(inputs))
        final_img = to_float32(refiner(coarse_img)) if refiner is not None else coarse_img
        feats = class_features(model)
    if getattr(model, 'classify_on', 'refined') == 'coarse':
        final_img = coarse_img

    def pipeline():
        img = encoder(inputs)
        return refiner(img) if refiner is not None else img

    calls: Dict[str, Callable[[], object]] = dict(tfp=lambda: tfp(inputs),
                                                  coarse=lambda: encoder(inputs))
    skipped = {}
    if refiner is not None:
        calls['refine'] = lambda: refiner(coarse_img)
    else:
        skipped['refine'] = 'the model has no refiner'
    if feats is not None:
        clip = model.clip
        calls['classify'] = lambda: clip.logits(clip.encode_image(final_img), feats).softmax(-1)
    else:
        skipped['classify'] = 'the model has no CLIP with class names'
    calls['pipeline'] = pipeline

    meter = _Meter(dev)
    stages = {}
    try:
        for name in STAGE_ORDER:
            if name not in calls:
                continue
            with ctx:
                times = time_calls(calls[name], iters, warmup, dev, meter)
            stages[name] = dict(summarize(times, batch_size), peak_mem_mib=meter.peak_mem_mib(),
                                power_w=meter.power_w())
    finally:
        meter.close()
    add_ratios(stages, stages['tfp'])

    decode = benchmark_dat_decode(raw[0].cpu().numpy(), max(1, min(iters, 10)))
    for name in ('read_dat', 'per_frame'):  # one decoded window vs one TFP call
        decode[name]['ratio_to_tfp'] = {k: decode[name][k] / stages['tfp'][k]
                                        for k in DECODE_RATIO_FIGURES}

    meta = dict(
        source=osp.abspath(source), source_kind='config' if source.endswith('.py') else
        'checkpoint', model=type(model).__name__,
        encoder=type(model.encoder).__name__,
        refiner=type(model.refiner).__name__ if refiner is not None else None,
        device=str(dev), device_name=device_name(dev), threads=torch.get_num_threads(),
        torch=torch.__version__, numpy=np.__version__, python=platform.python_version(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(), native_bf16=native_bf16(dev),
        amp_requested=amp, channels_last_requested=channels_last, compile=bool(compile),
        input_shape=[batch_size, frames, height, width],
        model_input_shape=list(inputs.shape), batch_size=batch_size, iters=iters,
        warmup=warmup, spike_rate=spike_rate, seed=seed, inference_mode=True,
        malloc_retains_freed_memory=malloc_tuned(), peak_mem_source=meter.memory_source,
        power_source='pynvml' if meter.nvml else None,
        power_unavailable=meter.nvml_error, skipped=skipped,
        pipeline_parts=['coarse', 'refine'] if refiner is not None else ['coarse'],
        load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
        **ctx.describe())
    return dict(meta=meta, stages=stages, dat_decode=decode)


def _parse_labelled(source: str) -> tuple:
    """``'LABEL=SOURCE'`` or ``'SOURCE'`` -> ``(label, source)``."""
    if '=' in source and not source.startswith(('http://', 'https://')):
        label, path = source.split('=', 1)
        if label and path:
            return label, path
    return source, source


def compare_coarse(sources: Sequence[str],
                   height: int = 250,
                   width: int = 400,
                   batch_size: int = 1,
                   iters: int = 20,
                   warmup: int = 3,
                   rounds: int = 5,
                   device: Optional[str] = None,
                   amp: str = 'auto',
                   channels_last: Union[str, bool] = 'auto',
                   threads: Optional[int] = None,
                   spike_rate: float = 0.3,
                   seed: int = 0) -> dict:
    """Time the stage-1 encoders of several models in the same run (see module doc).

    Args:
        sources (Sequence[str]): Checkpoints, ``pretrained:NAME`` or ``.py`` configs, each
            optionally as ``LABEL=SOURCE``.
        height (int): Frame height H. Defaults to 250.
        width (int): Frame width W. Defaults to 400.
        batch_size (int): Samples per call. Defaults to 1.
        iters (int): Timed calls per model, spread over ``rounds``. Defaults to 20.
        warmup (int): Untimed calls per model first. Defaults to 3.
        rounds (int): Alternations between the models. Defaults to 5.
        device (str, optional): ``'cpu'`` or ``'cuda'``; CUDA where available by default.
        amp (str): As :func:`run_benchmark`. Defaults to ``'auto'``.
        channels_last (str | bool): As :func:`run_benchmark`. Defaults to ``'auto'``.
        threads (int, optional): ``torch.set_num_threads`` for the run (restored afterwards).
        spike_rate (float): Probability of a spike per pixel and frame. Defaults to 0.3.
        seed (int): Seed of the random input. Defaults to 0.

    Returns:
        dict: ``meta`` and ``models``: per label its window, the timing figures,
        ``ratio_to_tfp`` and ``ratio_to_first`` (p50 over the first model's p50).
    """
    if not sources:
        raise ConfigError('compare_coarse needs at least one model')
    if iters < 1 or rounds < 1 or warmup < 0:
        raise ConfigError(f'iters and rounds must be at least 1 and warmup at least 0, got '
                          f'{iters}, {rounds}, {warmup}')
    check_frame_size(height, width)
    with _torch_threads(threads):
        dev = torch.device(check_device(device))
        gen = torch.Generator().manual_seed(seed)
        entries, calls, ctxs = {}, {}, {}
        longest = 0
        for spec in sources:
            label, source = _parse_labelled(spec)
            if label in entries:
                raise ConfigError(f'two models are labelled {label!r}; name them LABEL=SOURCE')
            model = build_benchmark_model(source, str(dev))
            model, ctx = prepare_for_inference(model, dev, amp, channels_last)
            encoder = _stage1_encoder(model, source)
            window = getattr(model.data_preprocessor, 'window', None) or 200
            longest = max(longest, window)
            raw = _random_spikes(gen, batch_size, window, height, width, spike_rate)
            inputs = model.data_preprocessor(dict(inputs=raw, data_samples=None))['inputs']
            entries[label] = dict(source=source, encoder=type(encoder).__name__, window=window,
                                  params=sum(p.numel() for p in encoder.parameters()),
                                  **ctx.describe())
            calls[label] = (lambda e=encoder, x=inputs: e(x))
            ctxs[label] = ctx
        from ..models.encoders import TFP
        tfp_in = _random_spikes(gen, batch_size, longest, height, width, spike_rate)
        tfp_in = tfp_in.float().to(dev)
        tfp = TFP().to(dev)
        calls['TFP'] = lambda: tfp(tfp_in)
        entries['TFP'] = dict(source='TFP', encoder='TFP', window=longest, params=0)
        ctxs['TFP'] = contextlib.nullcontext()
        times = {label: [] for label in calls}
        per_round = [iters // rounds + (1 if r < iters % rounds else 0) for r in range(rounds)]
        with torch.inference_mode():
            for label, fn in calls.items():
                with ctxs[label]:
                    time_calls(fn, 0, warmup, dev)
            for n in per_round:
                for label, fn in calls.items():
                    if n:
                        with ctxs[label]:
                            times[label] += time_calls(fn, n, 0, dev)
        for label in calls:
            entries[label].update(summarize(times[label], batch_size))
        add_ratios(entries, entries['TFP'])
        first = entries[_parse_labelled(sources[0])[0]]
        for entry in entries.values():
            entry['ratio_to_first'] = entry['p50_ms'] / first['p50_ms']
        meta = dict(device=str(dev), device_name=device_name(dev),
                    threads=torch.get_num_threads(), input_hw=[height, width],
                    batch_size=batch_size, iters=iters, rounds=rounds, warmup=warmup,
                    spike_rate=spike_rate, seed=seed, torch=torch.__version__,
                    load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None)
        return dict(meta=meta, models=entries)


def format_comparison(result: dict) -> str:
    """:func:`compare_coarse`'s result as a plain-text table."""
    m = result['meta']
    lines = [f"stage 1 in one run on {m['device']} ({m['device_name']}), {m['threads']} threads, "
             f"{m['input_hw'][0]}x{m['input_hw'][1]}, batch {m['batch_size']}, "
             f"{m['iters']} calls each in {m['rounds']} alternating rounds"]
    head = (f"{'model':<28}{'window':>7}{'params':>10}{'p50 ms':>9}{'p90 ms':>9}"
            f"{'p50/first':>10}{'p50/TFP':>9}")
    lines += [head, '-' * len(head)]
    for label, e in result['models'].items():
        lines.append(f"{label[:27]:<28}{e['window']:>7}{e['params']:>10,}{e['p50_ms']:>9.2f}"
                     f"{e['p90_ms']:>9.2f}{e['ratio_to_first']:>10.2f}"
                     f"{e['ratio_to_tfp']['p50_ms']:>9.1f}")
    return '\n'.join(lines)


def format_table(result: dict) -> str:
    """The benchmark result as a plain-text table."""
    m = result['meta']
    lines = [f"{m['model']} ({m['encoder']}"
             f"{' + ' + m['refiner'] if m['refiner'] else ''}) on {m['device']} "
             f"({m['device_name']}), {m['threads']} threads, input {m['input_shape']}, "
             f"amp={m['amp']}, channels_last={m['channels_last']}, compile={m['compile']}"]
    head = (f"{'stage':<10}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'mean ms':>10}"
            f"{'samples/s':>11}{'peak MiB':>10}{'power W':>9}{'p50/TFP':>9}")
    lines += [head, '-' * len(head)]

    def fmt(v, spec):
        return format(v, spec) if v is not None else 'n/a'

    for name, s in result['stages'].items():
        lines.append(f"{name:<10}{s['p50_ms']:>10.2f}{s['p90_ms']:>10.2f}{s['p99_ms']:>10.2f}"
                     f"{s['mean_ms']:>10.2f}{s['throughput']:>11.2f}"
                     f"{fmt(s['peak_mem_mib'], '.0f'):>10}{fmt(s['power_w'], '.1f'):>9}"
                     f"{s['ratio_to_tfp']['p50_ms']:>9.2f}")
    d = result['dat_decode']
    lines.append(f".dat decode ({d['frames']} frames, {d['file_mb']:.2f} MB): read_dat "
                 f"{d['read_dat']['mb_per_s']:.0f} MB/s ({d['read_dat']['p50_ms']:.2f} ms), "
                 f"per-frame loop {d['per_frame']['mb_per_s']:.0f} MB/s "
                 f"({d['per_frame']['p50_ms']:.2f} ms), {d['speedup']:.1f}x; "
                 f"same output: {d['same_output']}")
    return '\n'.join(lines)
