"""The whole pipeline on the embedded default data, offline (``make demo``)."""
import argparse
import sys

from spikeclip.apis.demo import run_demo
from spikeclip.utils.errors import SpikeCLIPError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-root', default='work_dirs', help='outputs go to WORK_ROOT/demo')
    args = parser.parse_args(argv)
    run_demo(args.work_root)


if __name__ == '__main__':
    try:
        main()
    except (SpikeCLIPError, RuntimeError) as e:
        sys.exit(f'error: {e}')
