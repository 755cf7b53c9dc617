"""The whole pipeline on the embedded default data, offline (``make demo``)."""
import argparse
import os
import sys

# OpenMP threads that busy-wait between parallel regions starve each other on a shared CPU: on a
# 2-core machine under load, a 2-thread tiny-CLIP step took 15x the CPU time it takes with
# threads that sleep (PASSIVE). Set before torch loads; the stage processes inherit it.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from spikeclip.apis.demo import run_demo  # noqa: E402
from spikeclip.utils.errors import SpikeCLIPError  # noqa: E402


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
