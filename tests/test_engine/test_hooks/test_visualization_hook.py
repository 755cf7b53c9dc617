"""SpikeVisualizationHook in a real Runner: test grids through SpikeVisualizer, with --show-dir
files and captions, and a clear error for another visualizer."""
import json
import uuid

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from PIL import Image
from torch.utils.data import Dataset

from spikeclip.structures import SpikeDataSample
from spikeclip.utils.errors import ConfigError
from spikeclip.visualization.grid import NOTE_HEIGHT, TITLE_HEIGHT


class Spikes(Dataset):

    def __len__(self):
        return 3

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        sample = SpikeDataSample(metainfo=dict(spike_path=f'/data/rec_{i}.npz', label_name='cat'))
        sample.gt_img = torch.rand(1, 8, 12, generator=g)
        return dict(inputs=(torch.rand(20, 8, 12, generator=g) < 0.3).float(),
                    data_samples=sample)


class Identity(BaseModel):
    """Predicts the reference (PSNR is then the cap) and the spike rate as the coarse image."""
    class_names = ['dog', 'cat']

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        for x, s in zip(inputs, data_samples):
            s.pred_coarse = x.mean(0, keepdim=True)
            s.pred_img = s.gt_img.clone()
        return list(data_samples)


def _test(tmp_path, visualizer):
    runner = Runner(
        model=Identity(), work_dir=str(tmp_path), experiment_name=f'vis_{uuid.uuid4().hex}',
        test_dataloader=dict(dataset=Spikes(), batch_size=2, num_workers=0,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             collate_fn=dict(type='pseudo_collate')),
        test_cfg=dict(), test_evaluator=[],
        default_hooks=dict(visualization=dict(type='SpikeVisualizationHook', show_dir='vis',
                                              num_test_samples=1)),
        visualizer=visualizer, default_scope='spikeclip')
    runner.test()
    return runner


def test_every_test_sample_saved_titled_with_captions(tmp_path):
    _test(tmp_path, dict(type='SpikeVisualizer', min_size=32))
    names = sorted(p.name for p in (tmp_path / 'vis').glob('*.png'))
    assert names == ['00000_rec_0.png', '00001_rec_1.png', '00002_rec_2.png']
    grid = np.asarray(Image.open(tmp_path / 'vis' / names[0]))
    # spike count, TFP, coarse, refined, reference; 8-pixel rows enlarged 4 times to 32.
    assert grid.shape == (TITLE_HEIGHT + 32 + NOTE_HEIGHT, 5 * 48 + 4 * 8, 3)
    captions = json.loads((tmp_path / 'vis' / 'captions.json').read_text())
    assert captions['00001_rec_1.png'].startswith(
        'spike count | TFP | coarse | refined | reference; class: cat; PSNR after a '
        'least-squares gain per panel (as tools/benchmark_quality.py); rate panels at one '
        'display gain x')


def test_another_visualizer_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="visualizer=dict\\(type='SpikeVisualizer'\\)"):
        _test(tmp_path, dict(type='Visualizer'))
