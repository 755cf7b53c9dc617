"""Download, unpack and verify U-CALTECH / U-CIFAR into DATA_DIR (``make data``).

    python tools/fetch_data.py [--out-dir data] [--archive UHSR.zip] [--keep-archive]

Without network or gdown it says where to get the archive and where to put it, and exits with 1.
"""
import argparse
import sys

from spikeclip.datasets import fetch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='data', help='destination folder (default: data)')
    parser.add_argument('--archive', help='a local copy of the UHSR archive (skips the download)')
    parser.add_argument('--keep-archive', action='store_true', help='keep the downloaded archive')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        counts = fetch.fetch_uhsr(args.out_dir, archive=args.archive,
                                  keep_archive=args.keep_archive)
    except fetch.FetchError as e:
        print(f'error: {e}\n\n{fetch.manual_instructions(args.out_dir)}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    for name, splits in counts.items():
        print(f'{args.out_dir}/{name}: {splits["train"]} train + {splits["test"]} test samples')
    return 0


if __name__ == '__main__':
    sys.exit(main())
