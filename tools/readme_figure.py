"""Make the README's example picture: spikes -> TFP -> ``pretrained:real``, as a user sees them.

    python tools/readme_figure.py [--out docs/images/readme_example.jpg] [--seed 3]

One 250x400 recording is simulated by the toolkit's own simulator (a held-out packaged photograph,
a slow camera pan, light at about 0.15 spikes per frame, sensor noise; never a third-party
recording). Its centre frame is shown three ways, each as ``tools/infer.py`` writes it by default
(``--exposure auto``): one raw bit-plane of spikes, TFP (the mean of the 41 frames around it) and
``pretrained:real`` reconstructing from the same 41 frames. The image is a small JPEG.
"""
import argparse
import os
import os.path as osp
import tempfile

import numpy as np
from PIL import Image

from spikeclip.apis import infer_files, init_model
from spikeclip.benchmarks.quality import REALISTIC_TESTSETS
from spikeclip.datasets import simulate_folder
from spikeclip.datasets.image_sources import load_packaged_images
from spikeclip.fileio import read_dat
from spikeclip.utils.atomic import atomic_open
from spikeclip.utils.cli import run_cli
from spikeclip.utils.errors import ConfigError
from spikeclip.utils.exposure import Exposure, to_display
from spikeclip.utils.image import to_uint8
from spikeclip.visualization import make_grid

WINDOW = 41
FRAMES = 81


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='docs/images/readme_example.jpg', help='the JPEG to write')
    p.add_argument('--seed', type=int, default=3, help='seed of the simulated recording')
    p.add_argument('--photo', default='motorcycle_left',
                   help='held-out packaged photograph to record (default: motorcycle_left)')
    return p.parse_args(argv)


def simulate_recording(folder: str, photo: str, seed: int) -> str:
    """One simulated 250x400 recording of ``photo``; returns its ``.dat`` path."""
    images = {s.name: s for s in load_packaged_images('test', short_side=None)}
    if photo not in images:
        raise ConfigError(f'--photo {photo}: not a held-out packaged photograph '
                          f'({", ".join(sorted(images))})')
    source = osp.join(folder, 'images')
    os.makedirs(source)
    Image.fromarray(to_uint8(images[photo].image)).save(osp.join(source, f'{photo}.png'))
    scene = dict(REALISTIC_TESTSETS['camera_pan'], light=dict(gain=0.3))
    name = simulate_folder(source, osp.join(folder, 'rec'), num_frames=FRAMES, per_image=1,
                           margin=0.5, reference='scene', seed=seed, progress=False, **scene)[0]
    return osp.join(folder, 'rec', 'spike', f'{name}.dat')


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        dat = simulate_recording(tmp, args.photo, args.seed)
        centre = FRAMES // 2
        spikes = read_dat(dat, start=centre - WINDOW // 2, num_frames=WINDOW)
        tfp = spikes.astype(np.float32).mean(0)
        entry = infer_files(init_model('pretrained:real', device='cpu'), [dat],
                            osp.join(tmp, 'out'), frame=centre, amp='none')[0]
        model = np.asarray(Image.open(entry['image']))
    tfp_gain = Exposure('auto').gain(lambda: [tfp])
    panels = [('spikes', spikes[WINDOW // 2] * np.uint8(255)), ('TFP', to_display(tfp, tfp_gain)),
              ('pretrained:real', model)]
    titles = ['spikes (one frame)', f'TFP, {WINDOW} frames', f'pretrained:real, {WINDOW} frames']
    note = (f'simulated 250x400 recording, {spikes.mean():.2f} spikes/frame; images at the default '
            f'--exposure auto (gains x{tfp_gain:.2f} and x{entry["gain"]:.2f})')
    grid = make_grid(panels, titles, min_size=0, note=note)
    with atomic_open(args.out, 'wb') as f:
        Image.fromarray(grid).save(f, format='JPEG', quality=80, optimize=True)
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})')
    return 0


if __name__ == '__main__':
    run_cli(main)
