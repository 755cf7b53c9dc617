"""Combine stage checkpoints: ``--coarse A --prompt B --refine C --out combined.pth``."""
import argparse

from spikeclip.apis.combine import combine_checkpoints
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline
from spikeclip.utils.paths import check_output_file


def main(argv=None):
    parser = argparse.ArgumentParser(description='Combine SpikeCLIP stage checkpoints')
    parser.add_argument('--coarse', required=True,
                        help='stage-1 checkpoint (or pretrained:NAME, e.g. pretrained:real)')
    parser.add_argument('--prompt', required=True, help='stage-2 checkpoint')
    parser.add_argument('--refine', required=True, help='stage-3 checkpoint')
    parser.add_argument('--out', required=True, help='combined model file')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    args = parser.parse_args(argv)
    set_offline(args.offline)
    check_output_file(args.out, '--out')  # before three checkpoints are read
    cfg = combine_checkpoints(args.coarse, args.prompt, args.refine, args.out)
    print(f'combined model ({len(cfg.get("class_names") or [])} classes) written to {args.out}')


if __name__ == '__main__':
    run_cli(main)
