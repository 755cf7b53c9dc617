"""Train the demo's tiny CLIP on the embedded photographs (``make demo`` runs this first).

``python tools/train_tiny_clip.py [--out-dir work_dirs/demo/tiny_clip] [--steps N] [--force]``

Contrastive image-text pretraining of the ``'spikeclip-tiny'`` architecture on views of the
twelve photographs' training regions, clean and degraded like spike reconstructions, with class
and quality captions (spikeclip/models/clip/pretrain.py). About a minute on two CPU cores.
Writes open_clip's local-dir format (``open_clip_pytorch_model.bin`` + ``open_clip_config.json``)
and ``training.json``; an up-to-date folder (same recipe) is reused unless ``--force``, and
weights of another recipe are replaced only with ``--force`` (moved to ``previous_<time>/``).
Use the weights with ``model.clip.pretrained=<out-dir>/open_clip_pytorch_model.bin``.
"""
import argparse
import os
from dataclasses import replace

# Threads that sleep between parallel regions (see tools/demo.py); set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from spikeclip.utils.cli import run_cli  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='work_dirs/demo/tiny_clip',
                        help='output folder (default: work_dirs/demo/tiny_clip)')
    parser.add_argument('--steps', type=int, help='optimiser steps (default: the recipe\'s)')
    parser.add_argument('--batch-size', type=int,
                        help='clean views per step, each also degraded (default: the recipe\'s)')
    parser.add_argument('--lr', type=float, help='peak learning rate (default: the recipe\'s)')
    parser.add_argument('--seed', type=int, help='seed (default: the recipe\'s)')
    parser.add_argument('--fp32', action='store_true', help='no bf16 autocast')
    parser.add_argument('--force', action='store_true',
                        help='retrain even when up to date, or where OUT_DIR holds weights of '
                        'another recipe (the old files are moved to OUT_DIR/previous_<time>/)')
    args = parser.parse_args(argv)

    from spikeclip.models.clip.pretrain import TinyCLIPRecipe
    from spikeclip.workflows.tiny_clip import ensure_tiny_clip, format_evaluation
    changes = {k: v for k, v in dict(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                     seed=args.seed).items() if v is not None}
    for name in ('steps', 'batch_size'):
        if name in changes and changes[name] < 1:
            parser.error(f'--{name.replace("_", "-")} must be positive, got {changes[name]}')
    if args.fp32:
        changes['bf16'] = False
    recipe = replace(TinyCLIPRecipe(), **changes)
    report = ensure_tiny_clip(args.out_dir, recipe, force=args.force)
    print(f'tiny CLIP: {report["weights"]}')
    if not report['reused']:
        print(f'  {report["train_seconds"]} s, {report["steps_per_second"]} steps/s, '
              f'{report["torch_threads"]} threads, load average {report["load_average"]}')
    print(f'  {format_evaluation(report)}')


if __name__ == '__main__':
    run_cli(main, errors=(OSError, ))
