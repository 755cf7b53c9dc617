"""Browse the dataset of a config: save one image grid per sample.

    python tools/visualize.py CONFIG [--split train|test] [--num 8] [--out-dir DIR] [--gain G]

Each grid shows, left to right, each panel under its title: the spike rate of the whole window
(spike count / frames), TFP and TFI of the whole window, and the reference image where the dataset
has one. The rate panels are drawn at one display gain (fitted to the reference through TFP, else
automatic; ``--gain`` sets it) and titled with their PSNR after a least-squares gain each, as
``tools/benchmark_quality.py`` scores (a caption line below the panels says so; see
:mod:`spikeclip.visualization.grid`). Panels are enlarged to at least ``--min-size`` pixels, as in
the test and validation grids. The file is named ``<index>_<class>.png``.
"""
import argparse
import os
import re
import sys
from typing import Optional

import numpy as np
import torch
from mmengine.registry import init_default_scope

from spikeclip.engine.runner import DictAction, load_config
from spikeclip.models.encoders import TFI, TFP
from spikeclip.registry import DATASETS
from spikeclip.utils.atomic import atomic_save_image
from spikeclip.utils.cli import run_cli
from spikeclip.utils.errors import SpikeCLIPError
from spikeclip.visualization.grid import calibrated_panels
from spikeclip.visualization.grid import make_grid as draw_grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='config file')
    p.add_argument('--split', choices=('train', 'test'), default='train', help='which dataloader')
    p.add_argument('--num', type=int, default=8, help='samples, evenly spaced (default: 8)')
    p.add_argument('--out-dir', help='output folder (default: work_dirs/vis/<config name>)')
    p.add_argument('--gain', type=float, help='display gain of the rate panels (default: fitted '
                   'to the reference, else automatic); the PSNR titles fit their own')
    p.add_argument('--min-size', type=int, default=256,
                   help='enlarge panels to at least this many pixels (default: 256; 0: as is)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    args = p.parse_args(argv)
    if args.num < 1:
        raise SpikeCLIPError(f'--num must be at least 1, got {args.num}')
    return args


def make_grid(item: dict, tfp: TFP, tfi: TFI, min_size: int = 256,
              gain: Optional[float] = None) -> np.ndarray:
    """One sample as an RGB grid of titled panels (count, TFP, TFI, reference), drawn and
    scored fairly (:func:`spikeclip.visualization.calibrated_panels`)."""
    spikes = item['inputs'].float()[None]  # [1, T, H, W]
    sample = item['data_samples']
    rates = [(name, img.reshape(img.shape[-2:])) for name, img in (
        ('spike count', spikes.mean(1)), ('TFP', tfp(spikes)), ('TFI', tfi(spikes)))]
    ref = sample.gt_img.reshape(sample.gt_img.shape[-2:]) if 'gt_img' in sample else None
    panels, titles, note = calibrated_panels(rates, ref, main='TFP', gain=gain)
    return draw_grid(panels, titles, min_size=min_size, note=note)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.gain is not None and not 0 < args.gain < float('inf'):
        print(f'error: --gain {args.gain}: the display gain must be a positive number',
              file=sys.stderr)
        return 1
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
        tfp, tfi = TFP(), TFI()
        indices = sorted({int(i) for i in np.linspace(0, len(dataset) - 1, args.num).round()})
        with torch.no_grad():
            for idx in indices:
                item = dataset[idx]
                label = item['data_samples'].metainfo.get('label_name') or 'none'
                safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', str(label))
                atomic_save_image(os.path.join(out_dir, f'{idx:05d}_{safe}.png'),
                                  make_grid(item, tfp, tfi, args.min_size, args.gain))
    except SpikeCLIPError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'saved {len(indices)} grids of the {args.split} set to {out_dir}')
    return 0


if __name__ == '__main__':
    run_cli(main)
