"""Convert an official SpikeCLIP LRN file into a stage-1 checkpoint of this toolkit.

    python tools/model_converters/official_spikeclip.py LRN_CALTECH.pth lrn_caltech.pth
    python tools/test.py configs/pipeline_ucaltech.py lrn_caltech.pth --protocol official

Key names are mapped (``0.0.weight`` -> ``body.0.weight``, ...), the first convolution is scaled
for our input (rates instead of 4-frame counts), the output stays unclamped as in the official
model unless ``--clamp``, and the checkpoint stores the model config our loaders need (class
list, ``'image of a {}'`` prompts, CLIP ViT-B/32 with grey normalisation). See docs/official.md.
"""
import argparse
import os.path as osp

from spikeclip.apis import convert_official_checkpoint
from spikeclip.utils.cli import run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Official SpikeCLIP LRN weights -> a stage-1 '
                                     'checkpoint of ours')
    parser.add_argument('official', help='official .pth (e.g. LRN_CALTECH.pth)')
    parser.add_argument('out', help='stage-1 checkpoint to write')
    parser.add_argument('--classes', help='ucaltech or ucifar (or a class-list file); default: '
                        'ucifar if the file name says CIFAR, else ucaltech')
    parser.add_argument('--clamp', action='store_true',
                        help='clamp the output to [0, 1] as our LRN does (the official one does '
                        'not)')
    parser.add_argument('--no-clip', action='store_true',
                        help='store no CLIP (images only, no class scores)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    classes = args.classes or ('ucifar' if 'cifar' in osp.basename(args.official).lower()
                               else 'ucaltech')
    info = convert_official_checkpoint(args.official, args.out, classes=classes,
                                       clamp=args.clamp, with_clip=not args.no_clip)
    enc = info['model']['encoder']
    print(f'{args.out}: stage-1 LRN ({enc["window"]} frames in bins of {enc["bin_size"]}, '
          f'clamp={enc["clamp"]}), {len(info["class_names"])} classes ({classes}), '
          f'CLIP {(info["model"].get("clip") or {}).get("arch", "none")}')


if __name__ == '__main__':
    run_cli(main)
