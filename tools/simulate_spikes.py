"""Simulate a paired spike set from still images: OUT_DIR/spike/<name>.dat + OUT_DIR/gt/<name>.png.

    python tools/simulate_spikes.py IMAGE_DIR|default OUT_DIR [--frames 200 --height 250
        --width 400 --gain 0.5 --speed 0 --seed 0 --dark-current 0 --threshold-mismatch 0
        --photons N]

IMAGE_DIR holds images (one sub-folder per class, or none); ``default`` uses the embedded
scikit-image set. The PNG is the 8-bit grey scene at the centre frame times gain / nominal gain.
Read the result with ``PairedSpikeDataset(OUT_DIR, height=H, width=W)``.
"""
import argparse
import sys

from spikeclip.datasets import simulate_folder
from spikeclip.utils.cli import run_cli
from spikeclip.utils.errors import SpikeCLIPError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('image_dir', help='image folder, or "default" for the embedded set')
    p.add_argument('out_dir', help='output folder')
    p.add_argument('--frames', type=int, default=200, help='frames T (default: 200)')
    p.add_argument('--height', type=int, default=250, help='frame height (default: 250)')
    p.add_argument('--width', type=int, default=400, help='frame width (default: 400)')
    p.add_argument('--gain', type=float, default=0.5,
                   help='light level: threshold units per frame at white (default: 0.5)')
    p.add_argument('--nominal-gain', type=float, default=0.5,
                   help='light level at which the reference equals the scene (default: 0.5)')
    p.add_argument('--speed', type=float, default=0.0,
                   help='pan speed in pixels per frame, random direction (default: 0)')
    p.add_argument('--dark-current', type=float, default=0.0,
                   help='dark charge per frame in threshold units (default: 0)')
    p.add_argument('--threshold-mismatch', type=float, default=0.0,
                   help='relative std of the per-pixel threshold (default: 0)')
    p.add_argument('--photons', type=float, default=None,
                   help='photons per frame at white for shot noise (default: off)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    p.add_argument('--on-bad-image', choices=('skip', 'error'), default='skip',
                   help='unreadable images: warn and skip, or stop (default: skip)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    noise = dict(dark_current=args.dark_current, threshold_mismatch=args.threshold_mismatch,
                 photons_per_frame=args.photons)
    try:
        names = simulate_folder(args.image_dir, args.out_dir, num_frames=args.frames,
                                height=args.height, width=args.width, gain=args.gain,
                                nominal_gain=args.nominal_gain, speed=args.speed, noise=noise,
                                seed=args.seed, on_bad_image=args.on_bad_image)
    except SpikeCLIPError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {len(names)} samples of {args.frames}x{args.height}x{args.width} to '
          f'{args.out_dir}')
    return 0


if __name__ == '__main__':
    run_cli(main)
