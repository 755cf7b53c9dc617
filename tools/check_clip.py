"""Check the CLIP a run would use, first thing on a machine with real weights.

``python tools/check_clip.py [CONFIG] [--checkpoint CKPT] [--num N] [--cfg-options ...]``
loads the weights of ``CONFIG``'s ``model.clip`` (default ``configs/coarse_ucaltech.py``) through
the same code path as training, prints architecture, activation (QuickGELU or not), weights and
preprocessing, and the zero-shot top-1 of hand-written prompts on TFP images (and on
``CKPT``'s reconstructions) of ``N`` test files. Without the weights it says which file to fetch
and where to put it.
"""
import argparse
import sys

from spikeclip.benchmarks.clip import DEFAULT_CONFIG, check_clip, format_report
from spikeclip.engine.cfg_options import DictAction
from spikeclip.utils.atomic import atomic_write_json
from spikeclip.utils.errors import SpikeCLIPError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Check the CLIP weights a config loads')
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG,
                        help=f'stage config with model.clip (default: {DEFAULT_CONFIG})')
    parser.add_argument('--checkpoint', help='also score this checkpoint\'s reconstructions')
    parser.add_argument('--num', type=int, default=200, help='test files to score')
    parser.add_argument('--data-root', help='data folder (default: the config\'s)')
    parser.add_argument('--device', help='cpu or cuda (default: cuda where available)')
    parser.add_argument('--out', help='also write the report as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.clip.pretrained=FILE')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = check_clip(args.config, args.cfg_options, args.checkpoint, args.num,
                        args.data_root, args.device)
    print(format_report(report))
    if args.out:
        atomic_write_json(args.out, report)
        print(f'report: {args.out}')
    return report


if __name__ == '__main__':
    try:
        main()
    except SpikeCLIPError as e:
        sys.exit(f'error: {e}')
