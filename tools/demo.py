"""The whole pipeline on the embedded default data, offline (``make demo``)."""
import argparse

from spikeclip.utils.cli import run_cli
from spikeclip.workflows.demo import run_demo


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
