"""Train stages 1-3 in sequence and combine them: ``python tools/train_all.py demo``."""
import argparse

from spikeclip.apis.train_all import train_all
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline


def main(argv=None):
    parser = argparse.ArgumentParser(description='Train all SpikeCLIP stages and combine them')
    parser.add_argument('dataset', help='demo, ucaltech or ucifar (configs/<stage>_<dataset>.py)')
    parser.add_argument('--work-root', default='work_dirs')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value overrides for every stage')
    parser.add_argument('--force', action='store_true',
                        help='train every stage afresh (default: resume; finished stages are '
                        'not trained again); earlier checkpoints are moved aside')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    args = parser.parse_args(argv)
    set_offline(args.offline)
    paths = train_all(args.dataset, args.work_root, args.cfg_options, force=args.force)
    print(f'combined model: {paths["combined"]}')


if __name__ == '__main__':
    run_cli(main, errors=(RuntimeError, ))
