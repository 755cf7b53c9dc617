"""Time a model's stages (coarse, refine, classify, pipeline) against TFP, and .dat decoding.

``python tools/benchmark.py CHECKPOINT_OR_CONFIG [--batch-size B --height H --width W --frames T
--iters N --warmup W --device cpu|cuda --amp auto|bf16|fp16|none --channels-last --compile
--threads N --out FILE.json]``

A checkpoint (stage or combined) is benchmarked with its weights, a ``.py`` config with random
weights. Prints a table and, with ``--out``, writes every figure as JSON (atomically).
"""
import argparse

from spikeclip.apis.benchmark import format_table, run_benchmark
from spikeclip.apis.fast_inference import AMP_MODES, retain_freed_memory
from spikeclip.apis.runner import DictAction
from spikeclip.utils.atomic import atomic_write_json
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='SpikeCLIP speed benchmark')
    parser.add_argument('source', help='stage checkpoint, combined model file, pretrained:NAME '
                        'or .py config')
    parser.add_argument('--batch-size', type=int, default=1, help='samples per call')
    parser.add_argument('--height', type=int, default=250, help='frame height')
    parser.add_argument('--width', type=int, default=400, help='frame width')
    parser.add_argument('--frames', type=int, help="input frames (default: the model's window)")
    parser.add_argument('--iters', type=int, default=20, help='timed calls per stage')
    parser.add_argument('--warmup', type=int, default=3, help='untimed calls first')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='default: cuda where available')
    parser.add_argument('--amp', choices=AMP_MODES, default='auto',
                        help='autocast precision (auto: bf16 where the hardware has it)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                        help='channels_last weights (default: auto, on with bf16/fp16)')
    parser.add_argument('--compile', action='store_true', help='torch.compile encoder/refiner')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads')
    parser.add_argument('--out', help='write the figures to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of the config, key=value (model.* for a checkpoint)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_offline(args.offline)
    retain_freed_memory()  # as tools/infer.py does: no page faults on every forward pass
    result = run_benchmark(
        args.source, batch_size=args.batch_size, height=args.height, width=args.width,
        frames=args.frames, iters=args.iters, warmup=args.warmup, device=args.device,
        amp=args.amp, channels_last='auto' if args.channels_last is None else args.channels_last,
        compile=args.compile, threads=args.threads, cfg_options=args.cfg_options)
    print(format_table(result))
    if args.out:
        atomic_write_json(args.out, result)
        print(f'figures: {args.out}')
    return result


if __name__ == '__main__':
    run_cli(main)
