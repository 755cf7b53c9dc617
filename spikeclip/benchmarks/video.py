"""Speed and memory of whole-recording reconstruction (``tools/infer.py --frames``).

:func:`run_video_benchmark` simulates moving 250x400 recordings (a dead-leaves scene panned back
and forth, written chunk by chunk) and measures, in one run:

* **throughput**: reconstructed frames per second (and the process's CPU time per frame) of the
  model and of TFP over the same window, for each batch size, three times: ``model`` (the
  forward pass alone on a batch of windows), ``stream`` (:func:`~spikeclip.apis.iter_frames`:
  read, decode, model, after one warm-up batch) and ``files``
  (:func:`~spikeclip.apis.infer_recordings` into a temporary folder: the PNGs too, what
  ``tools/infer.py`` does), plus ``stream`` without the reader thread at the default batch size
  and ``files`` without the writer thread either (what overlapping the reading and writing with
  the model gains);
* **profile** of the learned model: FLOPs per frame, the FLOP rate its forward pass reaches,
  and the operators that take the time (``torch.profiler``, one batch at the default size);
* **memory**: the peak resident memory of a fresh process that runs
  :func:`~spikeclip.apis.infer_recordings` (PNGs and an MP4) over every frame of a short and a
  long recording (2,000 and 20,000 frames by default); streaming keeps the two equal. The
  learned model reconstructs every ``memory_step``-th frame there (its windows still overlap,
  so the whole file is read); TFP every frame.

Timings depend on what else runs on the machine: the result records the load average.
"""
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch

from ..apis.inference import init_model
from ..apis.video import infer_recordings, iter_frames, model_window
from ..engine.fast_inference import native_bf16, prepare_for_inference
from ..fileio import check_frame_size, encode_frames
from ..utils.cli import run_cli
from ..utils.device import device_name, peak_rss_mib
from ..utils.errors import ConfigError, SpikeCLIPError

DEFAULT_BATCH_SIZE = 4  # the batch of the profile and of the runs without reader/writer threads


def simulate_recording(path: str, num_frames: int, height: int = 250, width: int = 400,
                       seed: int = 0, chunk: int = 500, speed: float = 0.2) -> str:
    """Write a ``.dat`` recording of a dead-leaves scene panned back and forth horizontally at
    ``speed`` px/frame (direction reversed every ``chunk`` frames), simulated and written one
    chunk at a time (memory does not depend on ``num_frames``)."""
    from ..simulation import SpikeCameraModel, dead_leaves, simulate_spikes, sliding_crops
    rng = np.random.default_rng(seed)
    travel = speed * chunk
    size = int(max(height, width + travel)) + 2
    scene = torch.from_numpy(dead_leaves(size, rng)) * 0.8 + 0.1
    sensor = SpikeCameraModel(gain=0.5, dark_current=0.002, threshold_mismatch=0.02)
    x = 0.0
    with open(path, 'wb') as f:
        for k, start in enumerate(range(0, num_frames, chunk)):
            t = min(chunk, num_frames - start)
            v = speed if k % 2 == 0 else -speed
            frames = sliding_crops(scene, t, (height, width), (0.0, x), (0.0, v))
            spikes = simulate_spikes(frames[None], model=sensor, seed=seed * 1000 + k)[0]
            f.write(encode_frames(spikes.numpy()))
            x += v * t
    return path


def tfp_checkpoint(window: int, path: str) -> str:
    """A stage-1 checkpoint of TFP over ``window`` frames (the baseline of the same window)."""
    from ..models.stages.checkpoint_meta import save_model_file, stage_meta
    from ..models.stages.coarse import CoarseModel
    model = CoarseModel(encoder=dict(type='TFP', window=window),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=window))
    save_model_file(path, model.state_dict(), stage_meta('coarse', model.export_cfg()))
    return path


def stream_fps(model, path: str, height: int, width: int, batch_size: int, frames: int,
               start: int, prefetch: bool = True, amp: str = 'auto',
               channels_last: Union[str, bool] = 'auto') -> Dict[str, float]:
    """Frames/s of :func:`iter_frames` over ``frames`` frames after one warm-up batch."""
    timed_batches = max(1, -(-frames // batch_size))
    count = (timed_batches + 1) * batch_size
    t0 = c0 = None
    n = 0
    for n, _ in enumerate(iter_frames(model, path, f'{start}:{start + count}',
                                      batch_size=batch_size, height=height, width=width,
                                      amp=amp, channels_last=channels_last,
                                      prefetch=prefetch), 1):
        if n == batch_size:
            t0, c0 = time.perf_counter(), time.process_time()
    return _figures(n - batch_size, t0, c0)


def files_fps(model, path: str, height: int, width: int, batch_size: int, frames: int,
              start: int, work_dir: str, amp: str = 'auto',
              channels_last: Union[str, bool] = 'auto', overlap: bool = True) -> Dict[str, float]:
    """Frames/s of :func:`infer_recordings` (PNGs written) over ``frames`` frames."""
    count = max(1, -(-frames // batch_size)) * batch_size
    t0, c0 = time.perf_counter(), time.process_time()
    infer_recordings(model, [path], work_dir, f'{start}:{start + count}', batch_size=batch_size,
                     height=height, width=width, amp=amp, channels_last=channels_last,
                     overlap=overlap)
    return _figures(count, t0, c0)


def model_fps(model, ctx, height: int, width: int, batch_size: int, iters: int = 3,
              seed: int = 0) -> Dict[str, float]:
    """Frames/s of the forward pass alone (``'predict'``) on a batch of random windows."""
    window = model_window(model)
    gen = torch.Generator().manual_seed(seed)
    raw = (torch.rand(batch_size, window, height, width, generator=gen) < 0.3).to(torch.uint8)
    with ctx:
        inputs = model.data_preprocessor(dict(inputs=raw, data_samples=None))['inputs']
        model(inputs, None, mode='predict')  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(iters):
            model(inputs, None, mode='predict')
    return _figures(iters * batch_size, t0, c0)


def _figures(frames: int, t0: float, c0: float) -> Dict[str, float]:
    """Frames/s over the wall time since ``t0`` (``time.perf_counter``), and the process's CPU
    time per frame since ``c0`` (``time.process_time``: every thread of this process). On a
    loaded machine the wall time stretches with the load, the CPU time per frame much less
    (threads waiting at a barrier for a descheduled peer still spin), so
    ``threads * 1000 / cpu_ms_per_frame`` estimates what an idle machine reaches."""
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(fps=frames / seconds, frames=frames, seconds=seconds, cpu_seconds=cpu,
                cpu_ms_per_frame=1000 * cpu / frames)


def profile_model(model, ctx, height: int, width: int, batch_size: int,
                  top: int = 8) -> dict:
    """FLOPs per frame, and the operators that take the time of one forward pass of a batch
    (self CPU time, ``torch.profiler``)."""
    from torch.utils.flop_counter import FlopCounterMode
    # Kineto's "gpuGetDeviceCount failed" line on machines without a GPU is noise, not an error.
    os.environ.setdefault('KINETO_LOG_LEVEL', '5')
    window = model_window(model)
    raw = (torch.rand(batch_size, window, height, width) < 0.3).to(torch.uint8)
    with ctx:
        inputs = model.data_preprocessor(dict(inputs=raw, data_samples=None))['inputs']
        with FlopCounterMode(display=False) as counter:
            model(inputs[:1], None, mode='tensor')
        model(inputs, None, mode='predict')  # warm-up
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            model(inputs, None, mode='predict')
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    ops = [dict(name=e.key, ms=e.self_cpu_time_total / 1000, share=e.self_cpu_time_total / total,
                calls=e.count) for e in events[:top]]
    return dict(gflop_per_frame=counter.get_total_flops() / 1e9, batch_size=batch_size,
                forward_ms=total / 1000, top_ops=ops)


def peak_memory_mib(checkpoint: str, path: str, out_dir: str, frames: str, height: int,
                    width: int, batch_size: int, threads: int, amp: str, device: str) -> dict:
    """Peak resident memory (MiB) and wall time of a fresh Python process reconstructing
    ``frames`` of ``path`` (PNGs and an MP4; the video encoder is a process of its own).

    The child reports its own peak (``VmHWM``): the kernel's ``ru_maxrss`` of a child starts
    from the parent's resident size at ``fork``, which would hide the child's figure."""
    cmd = [sys.executable, '-m', 'spikeclip.benchmarks.video', checkpoint, path, out_dir,
           frames, str(height), str(width), str(batch_size), str(threads), amp, device]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [''])[-1]
        if last.startswith('error: '):  # the toolkit's one-line error (run_cli)
            raise SpikeCLIPError(f'the memory run over {path} failed: {last[7:]}')
        raise RuntimeError(f'the memory run failed ({proc.returncode}): {proc.stderr[-2000:]}')
    peak = json.loads(proc.stdout.strip().splitlines()[-1])['peak_mib']
    return dict(peak_mib=peak, seconds=time.perf_counter() - t0)


def run_video_benchmark(source: str, batch_sizes: Sequence[int] = (1, 4, 16), threads: int = 2,
                        height: int = 250, width: int = 400, frames: int = 48,
                        memory_lengths: Sequence[int] = (2000, 20000), memory_step: int = 10,
                        amp: str = 'auto', channels_last: Union[str, bool] = 'auto',
                        device: str = 'cpu', work_dir: Optional[str] = None,
                        log=print) -> dict:
    """Throughput and memory of whole-recording reconstruction (see module doc).

    Args:
        source (str): A checkpoint or ``pretrained:<name>``.
        batch_sizes (Sequence[int]): Batch sizes of the throughput table. Defaults to 1, 4, 16.
        threads (int): ``torch.set_num_threads`` (and of the memory runs). Defaults to 2.
        frames (int): Timed frames per throughput figure. Defaults to 48.
        memory_lengths (Sequence[int]): Recording lengths of the memory runs; empty skips them.
        memory_step (int): The learned model's STEP in the memory runs. Defaults to 10.
        work_dir (str, optional): Where the recordings and outputs go; a temporary folder
            (deleted afterwards) if None.
        log (callable): Progress messages. Defaults to ``print``.

    Returns:
        dict: ``meta``, ``throughput`` (per model and batch size: ``stream`` and ``files``
        figures), ``overlap`` (``stream`` and ``files`` at the default batch size without the
        reader and writer threads)
        and ``memory`` (per model and length: ``peak_mib``, ``seconds``).
    """
    for name, value in (('--threads', threads), ('--frames', frames),
                        ('--memory-step', memory_step), *(('--batch-sizes', b)
                                                          for b in batch_sizes)):
        if value < 1:
            raise ConfigError(f'{name} must be at least 1, got {value}')
    check_frame_size(height, width)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    tmp = tempfile.TemporaryDirectory(prefix='spikeclip_video_bench_') if work_dir is None \
        else None
    root = tmp.name if tmp is not None else work_dir
    os.makedirs(root, exist_ok=True)
    try:
        model = init_model(source, device=device)
        window = model_window(model)
        short = [n for n in memory_lengths if n < window]
        if short:  # before minutes of throughput runs
            raise ConfigError(f'--memory-lengths {" ".join(map(str, short))}: shorter than the '
                              f'window of {source} ({window} frames); give at least {window}')
        tfp_ckpt = tfp_checkpoint(window, osp.join(root, 'tfp.pth'))
        models = {source: (model, source),  # name: (model, checkpoint)
                  f'TFP ({window} frames)': (init_model(tfp_ckpt, device=device), tfp_ckpt)}
        _, ctx = prepare_for_inference(model, amp=amp, channels_last=channels_last)
        longest = 2 * window + max((-(-frames // b) + 1) * b for b in batch_sizes)
        rec = osp.join(root, 'throughput.dat')
        log(f'simulating a {longest}-frame {height}x{width} recording ...')
        simulate_recording(rec, longest, height, width)
        throughput: Dict[str, Dict[int, dict]] = {}
        for name, (m, _) in models.items():
            throughput[name] = {}
            for b in batch_sizes:
                log(f'{name}: batch {b} ...')
                kw = dict(amp=amp, channels_last=channels_last)
                stream = stream_fps(m, rec, height, width, b, frames, window, **kw)
                files = files_fps(m, rec, height, width, b, frames, window,
                                  osp.join(root, f'files_{len(throughput)}_{b}'), **kw)
                forward = model_fps(m, ctx, height, width, b)
                throughput[name][b] = dict(model=forward, stream=stream, files=files)
        b = DEFAULT_BATCH_SIZE
        log(f'{source}: profile of batch {b} ...')
        profile = profile_model(model, ctx, height, width, b)
        profile['gflops_reached'] = {
            b: profile['gflop_per_frame'] * t['model']['fps']
            for b, t in throughput[source].items()}
        log(f'{source}: batch {b} without the reader and writer threads ...')
        overlap = dict(batch_size=b, stream_no_prefetch=stream_fps(
            model, rec, height, width, b, frames, window, prefetch=False, amp=amp,
            channels_last=channels_last), files_no_overlap=files_fps(
            model, rec, height, width, b, frames, window, osp.join(root, 'files_serial'),
            amp=amp, channels_last=channels_last, overlap=False))

        memory: Dict[str, Dict[int, dict]] = {}
        for length in memory_lengths:
            path = osp.join(root, f'memory_{length}.dat')
            log(f'simulating a {length}-frame recording ...')
            simulate_recording(path, length, height, width, seed=1)
            for name, (_, ckpt) in models.items():
                step = memory_step if name == source else 1
                log(f'{name}: memory over {length} frames (step {step}) ...')
                figures = peak_memory_mib(ckpt, path, osp.join(root, f'mem_{length}_{step}'),
                                          f'::{step}', height, width, DEFAULT_BATCH_SIZE,
                                          threads, amp, device)
                memory.setdefault(name, {})[length] = dict(figures, step=step)
            os.remove(path)
        meta = dict(source=source, window=window, height=height, width=width, threads=threads,
                    device=device, amp=ctx.amp, channels_last=ctx.channels_last,
                    native_bf16=native_bf16(device), frames_timed=frames,
                    torch=torch.__version__, python=platform.python_version(),
                    cpu=device_name('cpu'), cpu_count=os.cpu_count(),
                    load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None)
        return dict(meta=meta, throughput=throughput, overlap=overlap, profile=profile,
                    memory=memory)
    finally:
        torch.set_num_threads(previous_threads)
        if tmp is not None:
            tmp.cleanup()


def format_video_table(result: dict) -> str:
    """The benchmark result as plain-text tables."""
    m = result['meta']
    load = ', '.join(f'{x:.2f}' for x in m['load_average']) if m['load_average'] else 'n/a'
    lines = [f"reconstructed frames/s at {m['height']}x{m['width']}, {m['threads']} threads on "
             f"{m['device']} ({m['cpu']}), amp={m['amp']}, channels_last={m['channels_last']}, "
             f"window {m['window']} frames; load average {load}",
             '  model: forward pass alone; stream: read + decode + model (iter_frames); files: '
             'also the PNGs (tools/infer.py); cpu: CPU ms per frame of stream (all threads; '
             'less sensitive to the load than frames/s)']
    names = list(result['throughput'])
    head = f"{'batch':>6}" + ''.join(f'{n[:26] + " model":>33}{"stream":>8}{"files":>8}{"cpu":>8}'
                                     for n in names)
    lines += [head, '-' * len(head)]
    for b in next(iter(result['throughput'].values())):
        row = f'{b:>6}'
        for n in names:
            t = result['throughput'][n][b]
            row += (f"{t['model']['fps']:>33.1f}{t['stream']['fps']:>8.1f}"
                    f"{t['files']['fps']:>8.1f}{t['stream']['cpu_ms_per_frame']:>8.1f}")
        lines.append(row)
    best = min(t['stream']['cpu_ms_per_frame'] for t in result['throughput'][names[0]].values())
    lines.append(f"{names[0]}: at {best:.0f} CPU ms per frame, {m['threads']} threads would "
                 f"stream about {m['threads'] * 1000 / best:.1f} frames/s on an idle machine")
    o = result['overlap']
    threaded = result['throughput'][names[0]].get(o['batch_size'])
    lines.append(f"{names[0]}, batch {o['batch_size']}, all in one thread: stream "
                 f"{o['stream_no_prefetch']['fps']:.1f}, files {o['files_no_overlap']['fps']:.1f} "
                 'frames/s' + (f" (with the reader and writer threads: "
                               f"{threaded['stream']['fps']:.1f}, {threaded['files']['fps']:.1f})"
                               if threaded else ''))
    p = result['profile']
    reached = ', '.join(f'{v:.0f} (batch {b})' for b, v in p['gflops_reached'].items())
    lines.append(f"{names[0]}: {p['gflop_per_frame']:.2f} GFLOP per frame; its forward pass "
                 f"reaches {reached} GFLOP/s. Operators of one batch of {p['batch_size']} "
                 f"({p['forward_ms']:.0f} ms):")
    lines += [f"  {op['share']:>6.1%} {op['ms']:>9.1f} ms  {op['calls']:>4}x  {op['name']}"
              for op in p['top_ops']]
    if result['memory']:
        lines.append('peak resident memory of tools/infer.py --frames ::STEP --video, the Python '
                     'process (MiB)')
        lengths = sorted({k for per in result['memory'].values() for k in per})
        head = f"{'model':<28}{'step':>5}" + ''.join(f'{f"{k} frames":>14}' for k in lengths) + \
            f"{'ratio':>8}"
        lines += [head, '-' * len(head)]
        for n, per in result['memory'].items():
            peaks = [per[k]['peak_mib'] for k in lengths]
            lines.append(f"{n[:27]:<28}{per[lengths[0]]['step']:>5}" +
                         ''.join(f'{p:>14.0f}' for p in peaks) + f'{peaks[-1] / peaks[0]:>8.3f}')
    return '\n'.join(lines)


def _memory_child(argv) -> None:
    """``python -m spikeclip.benchmarks.video CKPT REC OUT FRAMES H W BATCH THREADS AMP
    DEVICE``: one memory run (what tools/infer.py does, without the progress bar)."""
    from ..engine.fast_inference import retain_freed_memory
    ckpt, rec, out, frames, h, w, batch, threads, amp, device = argv
    torch.set_num_threads(int(threads))
    retain_freed_memory()
    model = init_model(ckpt, device=device)
    infer_recordings(model, [rec], out, frames, video=True, batch_size=int(batch),
                     height=int(h), width=int(w), amp=amp)
    print(json.dumps(dict(peak_mib=peak_rss_mib())))


if __name__ == '__main__':
    run_cli(lambda: _memory_child(sys.argv[1:]))
