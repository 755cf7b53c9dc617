"""Speed and memory of whole recordings to video (``tools/infer.py --frames``).

``python tools/benchmark_video.py [CHECKPOINT] [--batch-sizes 1 4 16] [--threads 2]
[--height 250 --width 400] [--frames 48] [--memory-lengths 2000 20000] [--memory-step 10]
[--amp auto|bf16|fp16|none] [--channels-last/--no-channels-last] [--device cpu|cuda]
[--work-dir DIR] [--out FILE.json]``

Prints reconstructed frames/s of the model and of TFP over the same window for each batch size
(``stream``: read + decode + model; ``files``: with the PNGs), and the peak memory of a fresh
process over a short and a long simulated recording. CHECKPOINT defaults to
``pretrained:real-short``.
Timings depend on the machine's load: the table prints the load average.
"""
import argparse

from spikeclip.benchmarks.video import format_video_table, run_video_benchmark
from spikeclip.engine.fast_inference import AMP_MODES, retain_freed_memory
from spikeclip.utils.atomic import atomic_write_json
from spikeclip.utils.cli import run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='SpikeCLIP whole-recording speed and memory')
    parser.add_argument('checkpoint', nargs='?', default='pretrained:real-short',
                        help='stage or combined checkpoint, or pretrained:NAME '
                        '(default: pretrained:real-short, the faster model for video)')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default: 2)')
    parser.add_argument('--height', type=int, default=250)
    parser.add_argument('--width', type=int, default=400)
    parser.add_argument('--frames', type=int, default=48,
                        help='timed frames per throughput figure (after one warm-up batch)')
    parser.add_argument('--memory-lengths', type=int, nargs='*', default=[2000, 20000],
                        help='frames of the simulated recordings of the memory runs '
                        '(none: skip them)')
    parser.add_argument('--memory-step', type=int, default=10,
                        help='STEP of the learned model in the memory runs (TFP: every frame)')
    parser.add_argument('--amp', choices=AMP_MODES, default='auto')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--work-dir', help='keep the recordings and outputs here '
                        '(default: a temporary folder)')
    parser.add_argument('--out', help='write the figures to this JSON file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    retain_freed_memory()  # as tools/infer.py does
    result = run_video_benchmark(
        args.checkpoint, batch_sizes=args.batch_sizes, threads=args.threads, height=args.height,
        width=args.width, frames=args.frames, memory_lengths=args.memory_lengths,
        memory_step=args.memory_step, amp=args.amp,
        channels_last='auto' if args.channels_last is None else args.channels_last,
        device=args.device, work_dir=args.work_dir)
    print(format_video_table(result))
    if args.out:
        atomic_write_json(args.out, result)
        print(f'figures: {args.out}')
    return result


if __name__ == '__main__':
    run_cli(main)
