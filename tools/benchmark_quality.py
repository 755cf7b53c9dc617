"""Quality of a demo-trained model against TFP/TFI at their best window and fitted gain.

``python tools/benchmark_quality.py work_dirs/demo/combined_model.pth [--out FILE.json]``
scores the demo's held-out test split and a paired set simulated with other settings (fixed light
level, stronger noise, motion in every window), and prints the margins in dB PSNR and SSIM.
"""
import argparse
import os.path as osp

from spikeclip.apis.quality import demo_quality_report, format_report
from spikeclip.utils.atomic import atomic_write_json
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='stage-1 checkpoint or combined model')
    parser.add_argument('--work-dir', default='work_dirs/quality',
                        help='where the shifted test set and the JSON go')
    parser.add_argument('--max-samples', type=int, help='score only the first samples')
    parser.add_argument('--out', help='JSON file (default: WORK_DIR/quality.json)')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    args = parser.parse_args(argv)
    set_offline(args.offline)
    report = demo_quality_report(args.checkpoint, args.work_dir, max_samples=args.max_samples)
    print(format_report(report))
    out = args.out or osp.join(args.work_dir, 'quality.json')
    atomic_write_json(out, report)
    print(f'written to {out}')
    return report


if __name__ == '__main__':
    run_cli(main)
