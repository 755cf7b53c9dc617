"""Train one stage: ``python tools/train.py configs/coarse_demo.py [--work-dir DIR] [--resume]``."""
import argparse
import sys

from spikeclip.engine import build_runner, load_config
from spikeclip.engine.runner import (
    DictAction,
    apply_amp,
    prepare_training,
    resume_command,
)
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a SpikeCLIP stage with MMEngine')
    parser.add_argument('config', help='config file, e.g. configs/coarse_demo.py')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CHECKPOINT, or from the latest one in the work dir')
    parser.add_argument('--force', action='store_true',
                        help='start afresh in a work dir that holds an earlier run (its '
                        'checkpoints are moved to WORK_DIR/previous_<time>/)')
    parser.add_argument('--amp', action='store_true', help='mixed precision training (bf16 '
                        'autocast; fp16 AmpOptimWrapper for plain OptimWrapper configs on GPUs)')
    parser.add_argument('--seed', type=int, help='random seed (overrides randomness.seed)')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (bit-exact reruns on CPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher for distributed training')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_offline(args.offline)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=args.seed)
    if args.deterministic:
        cfg.randomness = dict(cfg.get('randomness', {}), deterministic=True)
    if args.amp:
        apply_amp(cfg)
    prepare_training(cfg, args.resume, force=args.force)
    try:
        build_runner(cfg).train()
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f'interrupted; continue with: '
                                f'{resume_command(sys.argv, cfg.work_dir)}') from None


if __name__ == '__main__':
    run_cli(main)
