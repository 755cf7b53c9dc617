"""The whole pipeline on the embedded default data, offline (``make demo``)."""
import argparse
import os

# OpenMP threads that busy-wait between parallel regions starve each other on a shared CPU: on a
# 2-core machine under load, a 2-thread tiny-CLIP step took 15x the CPU time it takes with
# threads that sleep (PASSIVE). Set before torch loads; the stage processes inherit it.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from spikeclip.utils.cli import run_cli  # noqa: E402
from spikeclip.workflows.demo import run_demo  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-root', default='work_dirs', help='outputs go to WORK_ROOT/demo')
    parser.add_argument('--force', action='store_true',
                        help='retrain every stage (default: a second run resumes them, so '
                        'finished stages are not trained again)')
    args = parser.parse_args(argv)
    run_demo(args.work_root, force=args.force)


if __name__ == '__main__':
    run_cli(main, errors=(RuntimeError, ))
