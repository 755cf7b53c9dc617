"""Write the project's tiny CLIP ('spikeclip-tiny') with RANDOM weights to a local file.

``python tools/make_tiny_clip.py work_dirs/demo/tiny_clip.pth [--seed 0]``. It lets the demo and
the tests run the CLIP stages offline; its features mean nothing (real runs use ViT-B/32).
"""
import argparse

from spikeclip.models.clip import save_tiny_clip
from spikeclip.utils.cli import run_cli


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output file')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    print(f'tiny CLIP (random weights) written to {save_tiny_clip(args.out, args.seed)}')


if __name__ == '__main__':
    run_cli(main)
