"""Browse the dataset of a config: save one image grid per sample.

    python tools/visualize.py CONFIG [--split train|test] [--num 8] [--out-dir DIR] [--gain 2.0]

Each grid shows, left to right, each panel under its title: the spike count (scaled to its
maximum), TFP and TFI of the whole window (``--gain`` calibrates them; 1.0 fits references that are
spike rates, 2.0 the older demo simulation) with their PSNR against the reference, and the reference
image where the dataset has one; panels are enlarged to at least ``--min-size`` pixels
(:func:`spikeclip.visualization.make_grid`, as in the test and validation grids). The file is
named ``<index>_<class>.png``.
"""
import argparse
import os
import re
import sys

import numpy as np
import torch
from mmengine.registry import init_default_scope

from spikeclip.engine.runner import DictAction, load_config
from spikeclip.models.encoders import TFI, TFP
from spikeclip.registry import DATASETS
from spikeclip.utils.atomic import atomic_save_image
from spikeclip.utils.cli import run_cli
from spikeclip.utils.errors import SpikeCLIPError
from spikeclip.utils.image import to_uint8
from spikeclip.visualization.grid import make_grid as draw_grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='config file')
    p.add_argument('--split', choices=('train', 'test'), default='train', help='which dataloader')
    p.add_argument('--num', type=int, default=8, help='samples, evenly spaced (default: 8)')
    p.add_argument('--out-dir', help='output folder (default: work_dirs/vis/<config name>)')
    p.add_argument('--gain', type=float, default=1.0, help='TFP/TFI gain (default: 1.0)')
    p.add_argument('--min-size', type=int, default=256,
                   help='enlarge panels to at least this many pixels (default: 256; 0: as is)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    args = p.parse_args(argv)
    if args.num < 1:
        raise SpikeCLIPError(f'--num must be at least 1, got {args.num}')
    return args


def make_grid(item: dict, tfp: TFP, tfi: TFI, min_size: int = 256) -> np.ndarray:
    """One sample as an RGB grid of titled panels (count, TFP, TFI, reference)."""
    from spikeclip.evaluation.metrics.image_quality import psnr
    spikes = item['inputs'].float()[None]  # [1, T, H, W]
    sample = item['data_samples']
    count = spikes.sum(1, keepdim=True)
    images = {'spike count': count / count.max().clamp_min(1), 'TFP': tfp(spikes),
              'TFI': tfi(spikes)}
    ref = sample.gt_img[None] if 'gt_img' in sample else None
    titles = []
    for name, img in images.items():
        titles.append(f'{name} {float(psnr(img.clamp(0, 1), ref)[0]):.2f} dB'
                      if ref is not None and name != 'spike count' else name)
    if ref is not None:
        images['reference'] = ref
        titles.append('reference')
    return draw_grid([(name, to_uint8(img)) for name, img in images.items()], titles,
                     min_size=min_size)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'spikeclip'))
    loader = cfg.get(f'{args.split}_dataloader') or cfg.get('val_dataloader')
    if not loader or 'dataset' not in loader:
        print(f'error: {args.config} has no {args.split}_dataloader.dataset', file=sys.stderr)
        return 1
    name = os.path.splitext(os.path.basename(args.config))[0]
    out_dir = args.out_dir or os.path.join('work_dirs', 'vis', name)
    try:
        dataset = DATASETS.build(loader['dataset'])
        tfp, tfi = TFP(gain=args.gain), TFI(gain=args.gain)
        indices = sorted({int(i) for i in np.linspace(0, len(dataset) - 1, args.num).round()})
        with torch.no_grad():
            for idx in indices:
                item = dataset[idx]
                label = item['data_samples'].metainfo.get('label_name') or 'none'
                safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', str(label))
                atomic_save_image(os.path.join(out_dir, f'{idx:05d}_{safe}.png'),
                                  make_grid(item, tfp, tfi, args.min_size))
    except SpikeCLIPError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'saved {len(indices)} grids of the {args.split} set to {out_dir}')
    return 0


if __name__ == '__main__':
    run_cli(main)
