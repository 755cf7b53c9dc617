import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikeclip.benchmarks.quality import fitted_score
from spikeclip.datasets import SimulatedSpikeDataset
from spikeclip.fileio import write_npz
from spikeclip.models.encoders import TFP
from spikeclip.visualization.grid import NOTE_HEIGHT, TITLE_HEIGHT

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
    side = 16 * 16  # 16-pixel panels enlarged 16x to reach 256 pixels
    # count | TFP | TFI | reference, and the caption line
    assert grid.shape == (TITLE_HEIGHT + side + NOTE_HEIGHT, 4 * side + 3 * 8, 3)
    item = SimulatedSpikeDataset(split='test', seed=5, num_samples=6, crop_size=16,
                                 num_frames=20)[2]
    gt = item['data_samples'].gt_img[0].numpy()
    x = 3 * (side + 8)
    reference = grid[TITLE_HEIGHT:TITLE_HEIGHT + side:16, x:x + side:16, 0].astype(np.float64) / 255
    assert np.abs(reference - gt).max() <= 1 / 255 + 1e-6
    for i in range(4):  # every panel has its title
        assert grid[:TITLE_HEIGHT, i * (side + 8):i * (side + 8) + side].min() < 128
    small = tmp_path / 'small'
    assert tool.main([str(cfg), '--split', 'test', '--num', '1', '--out-dir', str(small),
                      '--min-size', '0']) == 0
    assert np.asarray(Image.open(small / '00000_astronaut.png')).shape[:2] == (
        TITLE_HEIGHT + 16 + NOTE_HEIGHT, 4 * 16 + 3 * 8)


def test_titles_are_the_benchmark_psnr_of_the_same_images(tool, monkeypatch):
    """TFP's title is what tools/benchmark_quality.py scores for the whole-window TFP of that
    recording (a fitted gain), not the 7-8 dB of a rate drawn against a brighter reference."""
    item = SimulatedSpikeDataset(split='test', seed=5, num_samples=6, crop_size=16,
                                 num_frames=20)[2]
    titles = []
    monkeypatch.setattr(tool, 'draw_grid', lambda panels, t, **kw: titles.extend(t))
    tool.make_grid(item, TFP(), tool.TFI())
    spikes, gt = item['inputs'].float()[None], item['data_samples'].gt_img[None]
    expected = fitted_score(TFP()(spikes), gt)['psnr']
    assert titles[1] == f'TFP {expected:.2f} dB' and expected > 12


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
    side = 10 * 26  # enlarged 26x to reach 256 pixels
    assert grid.shape == (TITLE_HEIGHT + side + NOTE_HEIGHT, 3 * side + 2 * 8, 3)
    assert (grid[TITLE_HEIGHT:TITLE_HEIGHT + side, :side] == 255).all()  # constant firing: white


def test_missing_data_is_a_clear_error(tool, tmp_path, capsys):
    cfg = tmp_path / 'bad_cfg.py'
    cfg.write_text("train_dataloader = dict(dataset=dict(type='UHSRDataset', "
                   f"data_root={str(tmp_path / 'none')!r}))\n")
    assert tool.main([str(cfg), '--out-dir', str(tmp_path / 'vis')]) == 1
    assert 'none: no such data folder' in capsys.readouterr().err
