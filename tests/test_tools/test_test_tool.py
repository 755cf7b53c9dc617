"""tools/test.py end to end on a small simulated paired set, with visualisations."""
import glob
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from spikeclip.datasets import simulate_folder
from spikeclip.testing import REPO_ROOT
from spikeclip.visualization.grid import NOTE_HEIGHT, TITLE_HEIGHT


@pytest.fixture(scope='module')
def paired_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('paired')
    images = root / 'images'
    rng = np.random.default_rng(0)
    for name in ('a', 'b', 'c'):
        img = (rng.random((40, 56)) * 255).astype(np.uint8)
        (images / 'cls').mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(images / 'cls' / f'{name}.png')
    simulate_folder(str(images), str(root / 'set'), num_frames=200, height=32, width=48,
                    progress=False)
    return root / 'set'


def _test(config, work_dir, data_root, *extra):
    return subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/test.py', f'{REPO_ROOT}/{config}', *extra,
         '--work-dir', str(work_dir), '--show-dir', 'vis', '--cfg-options',
         f'test_dataloader.dataset.data_root={data_root}', 'test_dataloader.dataset.height=32',
         'test_dataloader.dataset.width=48', 'test_dataloader.num_workers=0'],
        capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('baseline', ['tfp', 'tfi'])
def test_baseline_on_paired_set_writes_metrics_grids_and_tensorboard(paired_set, tmp_path,
                                                                      baseline):
    result = _test(f'configs/baselines/{baseline}_paired.py', tmp_path, paired_set)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / 'test_metrics.json').read_text())['metrics']
    assert set(metrics) >= {'PSNR', 'SSIM', 'MAE', 'MSE'}
    assert metrics['PSNR'] > 15  # the calibrated baseline reconstructs the scene
    grids = sorted((tmp_path / 'vis').glob('*.png'))
    assert len(grids) == 3
    grid = np.asarray(Image.open(grids[0]))
    # count, TFP, coarse, reference: 32 x 48 panels enlarged 8 times (to 256), each titled.
    assert grid.shape[:2] == (TITLE_HEIGHT + 8 * 32 + NOTE_HEIGHT, 4 * 8 * 48 + 3 * 8)
    captions = json.loads((tmp_path / 'vis' / 'captions.json').read_text())
    assert 'reference' in captions[grids[0].name]
    assert glob.glob(str(tmp_path / '*' / 'vis_data' / 'events.out.tfevents.*'))


def test_stage_checkpoint_of_another_stage_is_refused(paired_set, tmp_path, trained_stages):
    result = _test('configs/baselines/tfp_paired.py', tmp_path, paired_set,
                   trained_stages['prompt'])
    assert result.returncode != 0
    assert 'stage 2 (prompt learning)' in result.stderr and 'stage 1' in result.stderr
    assert 'Traceback' not in result.stderr
