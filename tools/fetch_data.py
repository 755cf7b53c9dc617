"""Download, unpack and verify U-CALTECH / U-CIFAR into DATA_DIR (``make data``).

    python tools/fetch_data.py [--out-dir data] [--archive UHSR.zip] [--keep-archive]
                               [--max-size GIB] [--max-files N]

Without network or gdown it says where to get the archive and where to put it, and exits with 1.
"""
import argparse
import sys

from spikeclip.datasets import fetch
from spikeclip.utils.cli import run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data', help='destination folder (default: data)')
    parser.add_argument('--archive', help='a local copy of the UHSR archive (skips the download)')
    parser.add_argument('--keep-archive', action='store_true', help='keep the downloaded archive')
    parser.add_argument('--max-size', type=float, default=fetch.MAX_UNPACKED_BYTES / 1024**3,
                        help='refuse an archive that unpacks to more GiB than this '
                        '(default: %(default)g)')
    parser.add_argument('--max-files', type=int, default=fetch.MAX_MEMBERS,
                        help='refuse an archive with more members (default: %(default)d)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        limits = fetch.UnpackLimits(int(args.max_size * 1024**3), args.max_files)
        counts = fetch.fetch_uhsr(args.out_dir, archive=args.archive,
                                  keep_archive=args.keep_archive, limits=limits)
    except fetch.DownloadError as e:  # the way round it: a download by hand
        print(f'error: {e}\n\n{fetch.manual_instructions(args.out_dir)}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    for name, splits in counts.items():
        print(f'{args.out_dir}/{name}: {splits["train"]} train + {splits["test"]} test samples')
    return 0


if __name__ == '__main__':
    run_cli(main)
