"""Reconstruction quality of models against TFP (best window) and TFI, on realistic test sets.

    python tools/benchmark_quality.py [MODEL ...] [--sets camera_pan fast_objects ...]
        [--config CONFIG ...] [--work-dir work_dirs/quality] [--max-samples N]

    python tools/benchmark_quality.py --adaptation [MODEL] [--recordings 10]
        [--adapt-frames 2000] [--work-dir work_dirs/adapt]

MODEL is a checkpoint (stage 1, 2, 3 or combined), ``pretrained:<name>``, or ``LABEL=CHECKPOINT``.
The realistic test sets (held-out images; motion, objects, light and noise beyond the training
ranges; see spikeclip.benchmarks.quality.REALISTIC_TESTSETS) are recorded under WORK_DIR on first
use (about a minute each on two CPU cores at the default 250x400x200). ``--config`` adds the test
split of a config (e.g. configs/coarse_demo.py). Every method is scored after a least-squares gain
fitted per set. Prints a table, writes WORK_DIR/quality.json and a grid of examples,
WORK_DIR/quality_grid.png.

``--adaptation`` runs the adaptation study instead (spikeclip.benchmarks.adaptation): still
scenes recorded by a simulated camera outside the training ranges and one inside them, MODEL
(default ``pretrained:real``) adapted on their spikes alone with configs/adapt_real.py, then
scored before and after against the references, with TFP at its best window; writes
WORK_DIR/adaptation.json.
"""
import argparse
import os.path as osp

import torch

from spikeclip.benchmarks.quality import (
    REALISTIC_TESTSETS,
    config_test_set,
    evaluate_methods,
    format_table,
    realistic_testsets,
    save_grid,
)
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('models', nargs='*', help='CHECKPOINT, pretrained:NAME or LABEL=CHECKPOINT')
    p.add_argument('--sets', nargs='+', choices=sorted(REALISTIC_TESTSETS),
                   default=list(REALISTIC_TESTSETS), help='realistic test sets (default: all)')
    p.add_argument('--config', nargs='*', default=[],
                   help='also score the test split of these configs')
    p.add_argument('--work-dir', default='work_dirs/quality',
                   help='test-set cache, JSON and grid (default: work_dirs/quality)')
    p.add_argument('--max-samples', type=int, help='score only the first samples of each set')
    p.add_argument('--frames', type=int, default=None,
                   help='frames of the recorded test sets, reference at the centre (default: 200; '
                   '301 for the still_* sets)')
    p.add_argument('--height', type=int, default=250, help='test-set frame height (default: 250)')
    p.add_argument('--width', type=int, default=400, help='test-set frame width (default: 400)')
    p.add_argument('--per-image', type=int, default=4,
                   help='windows per held-out image in each test set (default: 4)')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--device', help='cpu or cuda (default: cuda where available)')
    p.add_argument('--out', help='JSON file (default: WORK_DIR/quality.json)')
    p.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    p.add_argument('--adaptation', action='store_true',
                   help='run the adaptation study (one MODEL, default pretrained:real)')
    p.add_argument('--recordings', type=int, default=10,
                   help='adaptation: recordings per camera (default: 10)')
    p.add_argument('--adapt-frames', type=int, default=2000,
                   help='adaptation: frames per recording (default: 2000)')
    return p.parse_args(argv)


def load_models(specs, device):
    """Label -> model prepared for inference, and the inference context to run them in."""
    from spikeclip.apis import init_model
    from spikeclip.engine.fast_inference import prepare_for_inference
    models, ctx = {}, None
    for spec in specs:
        label, _, path = spec.rpartition('=') if '=' in spec else ('', '', spec)
        label = label or osp.splitext(osp.basename(path))[0].replace('pretrained:', '')
        models[label], ctx = prepare_for_inference(init_model(path, device=device))
    if ctx is None:
        ctx = prepare_for_inference(torch.nn.Identity())[1]
    return models, ctx


def main(argv=None):
    args = parse_args(argv)
    set_offline(args.offline)
    if args.adaptation:
        return run_adaptation(args)
    from spikeclip.utils.atomic import atomic_write_json
    models, ctx = load_models(args.models, args.device)
    size = dict(num_frames=args.frames, height=args.height, width=args.width,
                per_image=args.per_image)
    cache = osp.join(args.work_dir, 'testsets_{num_frames}x{height}x{width}x{per_image}'.format(
        **dict(size, num_frames=args.frames or 'default')))
    sets = realistic_testsets(cache, args.sets, **size)
    for cfg in args.config:
        sets[osp.splitext(osp.basename(cfg))[0] + ' test split'] = config_test_set(cfg)
    results = {}
    with ctx:
        for name, ds in sets.items():
            print(f'scoring {name} ({len(ds)} samples) ...', flush=True)
            results[name] = evaluate_methods(models, ds, batch_size=args.batch_size,
                                             max_samples=args.max_samples, keep_images=8)
    print(format_table(results))
    grid = save_grid(results, osp.join(args.work_dir, 'quality_grid.png'))
    for r in results.values():
        r.pop('images', None)
    out = args.out or osp.join(args.work_dir, 'quality.json')
    atomic_write_json(out, results)
    print(f'written to {out} and {grid}')
    return results


def run_adaptation(args):
    from spikeclip.benchmarks.adaptation import format_adaptation, run_adaptation_study
    from spikeclip.utils.errors import ConfigError
    if len(args.models) > 1:
        raise ConfigError(f'--adaptation takes one MODEL, got {len(args.models)}')
    work_dir = args.work_dir if args.work_dir != 'work_dirs/quality' else 'work_dirs/adapt'
    results = run_adaptation_study(args.models[0] if args.models else 'pretrained:real', work_dir,
                                   num_recordings=args.recordings, num_frames=args.adapt_frames,
                                   height=args.height, width=args.width,
                                   score_frames=min(args.frames, args.adapt_frames),
                                   device=args.device)
    print(format_adaptation(results))
    print(f'written to {work_dir}/adaptation.json')
    return results


if __name__ == '__main__':
    run_cli(main)
