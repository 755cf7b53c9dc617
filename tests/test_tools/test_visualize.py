import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikeclip.datasets import SimulatedSpikeDataset
from spikeclip.fileio import write_npz

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'visualize.py'

CONFIG = """
default_scope = 'spikeclip'
sim = dict(type='SimulatedSpikeDataset', num_samples=6, crop_size=16, num_frames=20)
train_dataloader = dict(batch_size=2, dataset=dict(split='train', seed=0, **sim))
test_dataloader = dict(batch_size=2, dataset=dict(split='test', seed=5, **sim))
"""


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('visualize_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grids_of_a_simulated_set(tool, tmp_path, capsys):
    cfg = tmp_path / 'sim_cfg.py'
    cfg.write_text(CONFIG)
    out = tmp_path / 'vis'
    assert tool.main([str(cfg), '--split', 'test', '--num', '3', '--out-dir', str(out)]) == 0
    assert 'saved 3 grids of the test set' in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['00000_astronaut.png', '00002_cat.png', '00005_coins.png']
    grid = np.asarray(Image.open(out / '00002_cat.png'))
    assert grid.shape == (tool.HEADER + 16, 4 * (16 + 2))  # count | TFP | TFI | reference
    gt = SimulatedSpikeDataset(split='test', seed=5, num_samples=6, crop_size=16,
                               num_frames=20)[2]['data_samples'].gt_img[0].numpy()
    reference = grid[tool.HEADER:, 3 * 18:3 * 18 + 16].astype(np.float64) / 255
    assert np.abs(reference - gt).max() <= 1 / 255 + 1e-6
    assert grid[:tool.HEADER].min() < 128  # a caption was drawn


def test_set_without_references(tool, tmp_path):
    data = tmp_path / 'U-CIFAR'
    data.mkdir()
    for i in range(3):
        write_npz(str(data / f'{i}.npz'), np.ones((5, 10, 10), np.uint8), i,
                  ('frog', 'horse', 'dog')[i])
    cfg = tmp_path / 'uhsr_cfg.py'
    cfg.write_text(f"default_scope = 'spikeclip'\ntrain_dataloader = dict(dataset=dict("
                   f"type='UHSRDataset', data_root={str(data)!r}, classes='ucifar'))\n")
    out = tmp_path / 'vis'
    assert tool.main([str(cfg), '--num', '2', '--out-dir', str(out)]) == 0
    assert sorted(os.listdir(out)) == ['00000_frog.png', '00002_dog.png']
    grid = np.asarray(Image.open(out / '00002_dog.png'))
    assert grid.shape == (tool.HEADER + 10, 3 * 12)  # count | TFP | TFI
    assert (grid[tool.HEADER:, :10] == 255).all()  # constant firing: full count image


def test_missing_data_is_a_clear_error(tool, tmp_path, capsys):
    cfg = tmp_path / 'bad_cfg.py'
    cfg.write_text("train_dataloader = dict(dataset=dict(type='UHSRDataset', "
                   f"data_root={str(tmp_path / 'none')!r}))\n")
    assert tool.main([str(cfg), '--out-dir', str(tmp_path / 'vis')]) == 1
    assert 'none: no such data folder' in capsys.readouterr().err
