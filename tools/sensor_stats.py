"""Measure spike recordings the way a real camera is told from a simulation, beside the toolkit's
calibrated simulation, and say which simulation settings would make it fit your camera.

    python tools/sensor_stats.py REC [REC ...] [--height 250 --width 400 --frames 1000
        --json OUT.json --no-sim]

For each ``.dat`` / ``.npz`` recording: spike rates, which share of the scene is still, the
regularity of spike timing on still pixels (inter-spike-interval CV beside what frame
quantisation alone gives), spikes in consecutive frames, the fixed pattern (an upper bound on a
textured scene; exact on a flat target), the dark rate and defective pixels; then the same for a
recording simulated with the calibrated sensor model at the same mean rate, and the settings to
change (``noise=...`` / ``light=...`` of ``configs/_base_/datasets/realistic.py``) where they
differ. See docs/simulation.md, "Calibration to real cameras".
"""
import argparse

from spikeclip.simulation.sensor_stats import (
    compare_with_simulation,
    format_stats,
    sensor_stats,
    suggestions,
)
from spikeclip.utils.atomic import atomic_write_json
from spikeclip.utils.cli import run_cli
from spikeclip.utils.errors import SpikeCLIPError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('recordings', nargs='+', help='.dat or .npz recordings')
    p.add_argument('--height', type=int, default=250, help='.dat frame height (default: 250)')
    p.add_argument('--width', type=int, default=400, help='.dat frame width (default: 400)')
    p.add_argument('--frames', type=int, default=1000,
                   help='read at most this many frames of each recording (default: 1000)')
    p.add_argument('--json', metavar='FILE', help='also write every figure to FILE (JSON)')
    p.add_argument('--no-sim', action='store_true',
                   help='measure the recordings only, without the simulation beside them')
    args = p.parse_args(argv)
    if args.frames < 1 or args.height < 1 or args.width < 1:
        raise SpikeCLIPError(f'--frames, --height and --width must be positive, got '
                             f'{args.frames}, {args.height}, {args.width}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    report = {}
    for path in args.recordings:
        stats = sensor_stats(path, args.height, args.width, max_frames=args.frames)
        sim = None if args.no_sim else compare_with_simulation(stats)
        print(f'== {path}')
        print(format_stats(stats, sim))
        hints = suggestions(stats, sim) if sim else []
        for hint in hints:
            print(f'- {hint}')
        if sim and not hints:
            print('- the calibrated simulation fits this recording on every measured figure')
        report[path] = dict(recording=stats, simulation=sim, suggestions=hints)
    if args.json:
        atomic_write_json(args.json, report)
        print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    run_cli(main)
