"""Evaluate a model: ``python tools/test.py CONFIG [CHECKPOINT] [--show-dir DIR]``.

Metrics go to the log and to ``<work_dir>/test_metrics.json``; with ``--show-dir`` every sample's
image grid (spike count, TFP, coarse, refined, reference) is saved there and shown in TensorBoard.
On a test set without reference images (U-CALTECH, U-CIFAR) NIQE and BRISQUE are added.
``--protocol official`` evaluates a stage-1 LRN checkpoint as the official SpikeCLIP code does
(docs/official.md); the default, ``ours``, evaluates the config as it is.
"""
import argparse
import os.path as osp

from spikeclip.apis.inference import model_cfg_from_checkpoint
from spikeclip.engine import build_runner, load_config
from spikeclip.engine.runner import DictAction, check_checkpoint_stage
from spikeclip.evaluation.protocols import PROTOCOLS, add_no_reference_metrics, official_protocol
from spikeclip.pretrained import resolve_checkpoint
from spikeclip.utils.atomic import atomic_write_json
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline
from spikeclip.utils.errors import ConfigError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a SpikeCLIP model with MMEngine')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint or pretrained:NAME (omit for '
                        'non-learned baselines such as configs/baselines/tfp_demo.py)')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--show-dir', help='save image grids here (relative to the work dir '
                        'unless absolute)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    parser.add_argument('--protocol', choices=PROTOCOLS, default='ours',
                        help='ours (default): the config\'s model and metrics; official: the '
                        'official SpikeCLIP evaluation of a stage-1 LRN (docs/official.md)')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_offline(args.offline)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.checkpoint:
        args.checkpoint = resolve_checkpoint(args.checkpoint)  # pretrained:NAME -> its file
    if args.protocol == 'official':
        cfg = official_protocol(cfg, args.checkpoint, args.cfg_options)
    elif args.checkpoint:
        check_checkpoint_stage(cfg, args.checkpoint)
    if args.protocol == 'ours':
        add_no_reference_metrics(cfg)
    if args.protocol == 'ours' and cfg.model.get('from_checkpoint'):
        if not args.checkpoint:
            raise ConfigError(f'{args.config} rebuilds its model from a checkpoint; give one')
        # --cfg-options model.* (e.g. model.clip.pretrained) override the stored config.
        options = {k: v for k, v in (args.cfg_options or {}).items() if k.startswith('model.')}
        cfg.model = model_cfg_from_checkpoint(args.checkpoint, options)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        cfg.default_hooks.visualization.show_dir = args.show_dir
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_cfg = cfg.get('test_cfg') or dict()
    runner = build_runner(cfg)
    metrics = runner.test()
    out = osp.join(cfg.work_dir, 'test_metrics.json')
    atomic_write_json(out, dict(config=args.config, checkpoint=args.checkpoint,
                                protocol=args.protocol, metrics=metrics))
    runner.logger.info(f'metrics written to {out}')
    return metrics


if __name__ == '__main__':
    run_cli(main)
