"""Simulate a paired spike set of moving scenes: OUT_DIR/spike/<name>.dat + OUT_DIR/gt/<name>.png.

    python tools/simulate_spikes.py IMAGES OUT_DIR [--frames 41 --height 250 --width 400
        --per-image 1 --speed 1.0 --objects 0.4 --rate 0.05 0.6 --seed 0 ...]

IMAGES is an image folder (one sub-folder per class, or none), ``default`` (the embedded 12-class
set), ``packaged`` (every photograph shipped inside the installed packages) or ``dead_leaves``.
Each window is a camera moving along a smooth random path (up to ``--speed`` pixels per frame,
with rotation, zoom, acceleration and shake), with objects crossing the view, at a random light
level, with the sensor noise of the calibrated model by default (dark current and its per-pixel
pattern, threshold mismatch, shot and read noise: docs/simulation.md).
The PNG is the 8-bit reference at the centre frame; ``scenes.json`` records what was drawn.
Read the result with ``PairedSpikeDataset(OUT_DIR, height=H, width=W)``.
"""
import argparse
import sys

from spikeclip.datasets import simulate_folder
from spikeclip.utils.cli import run_cli
from spikeclip.utils.errors import SpikeCLIPError


def _range(values, name):
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return tuple(values)
    raise SpikeCLIPError(f'--{name} takes one value or a LOW HIGH range, got {values}')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('images', help='image folder, or default | packaged | dead_leaves')
    p.add_argument('out_dir', help='output folder')
    p.add_argument('--frames', type=int, default=41, help='frames T per window (default: 41)')
    p.add_argument('--height', type=int, default=250, help='frame height (default: 250)')
    p.add_argument('--width', type=int, default=400, help='frame width (default: 400)')
    p.add_argument('--per-image', type=int, default=1, help='windows per image (default: 1)')
    p.add_argument('--split', choices=('train', 'test'),
                   help='use only that part of the images (default: whole images)')
    p.add_argument('--speed', type=float, default=1.0,
                   help='fastest camera speed, pixels per frame; 0 records still scenes '
                        '(default: 1.0)')
    p.add_argument('--objects', type=float, default=0.4,
                   help='share of windows with moving objects; 0 for none (default: 0.4)')
    light = p.add_mutually_exclusive_group()
    light.add_argument('--rate', type=float, nargs='+', default=[0.02, 0.6], metavar='R',
                       help='mean spike rate per frame, or a LOW HIGH range (default: 0.02 0.6)')
    light.add_argument('--gain', type=float, nargs='+', metavar='G',
                       help='light gain (threshold units per frame at white) instead of --rate')
    p.add_argument('--dark-current', type=float, nargs='+', default=[0.0, 0.005], metavar='D',
                   help='dark charge per frame in threshold units (default: 0 0.005)')
    p.add_argument('--dark-mismatch', type=float, nargs='+', default=[0.0, 0.5], metavar='M',
                   help='relative std of the per-pixel dark current (default: 0 0.5)')
    p.add_argument('--threshold-mismatch', type=float, nargs='+', default=[0.0, 0.03],
                   metavar='M', help='relative std of the per-pixel threshold (default: 0 0.03)')
    p.add_argument('--photons', type=float, nargs='+', default=[2000.0, 20000.0], metavar='P',
                   help='photons per threshold for shot noise; 0 turns it off '
                        '(default: 2000 20000)')
    p.add_argument('--read-noise', type=float, nargs='+', default=[0.0, 0.004], metavar='S',
                   help='std of the charge noise per frame, threshold units (default: 0 0.004)')
    p.add_argument('--reset', choices=('subtract', 'zero'), default='subtract',
                   help='accumulator reset after a spike (default: subtract, as the sensor)')
    p.add_argument('--reference', choices=('rate', 'scene'), default='rate',
                   help='PNG: the expected spike rate (default) or the scene itself')
    p.add_argument('--nominal-gain', type=float, default=1.0,
                   help='light gain at which a rate reference equals the scene (default: 1)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    p.add_argument('--on-bad-image', choices=('skip', 'error'), default='skip',
                   help='unreadable images: warn and skip, or stop (default: skip)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        photons = _range(args.photons, 'photons')
        noise = dict(dark_current=_range(args.dark_current, 'dark-current'),
                     threshold_mismatch=_range(args.threshold_mismatch, 'threshold-mismatch'),
                     photons_per_frame=None if photons == 0 else photons,
                     dark_current_mismatch=_range(args.dark_mismatch, 'dark-mismatch'),
                     read_noise=_range(args.read_noise, 'read-noise'),
                     reset_zero_prob=1.0 if args.reset == 'zero' else 0.0)
        light = dict(gain=_range(args.gain, 'gain')) if args.gain else \
            dict(mean_rate=_range(args.rate, 'rate'))
        motion = dict(max_speed=args.speed, min_speed=min(0.02, args.speed)) \
            if args.speed > 0 else None
        objects = dict(prob=args.objects) if args.objects > 0 else None
        names = simulate_folder(args.images, args.out_dir, num_frames=args.frames,
                                height=args.height, width=args.width, per_image=args.per_image,
                                split=args.split, motion=motion, objects=objects, light=light,
                                noise=noise, nominal_gain=args.nominal_gain,
                                reference=args.reference, seed=args.seed,
                                on_bad_image=args.on_bad_image)
    except SpikeCLIPError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {len(names)} samples of {args.frames}x{args.height}x{args.width} to '
          f'{args.out_dir}')
    return 0


if __name__ == '__main__':
    run_cli(main)
