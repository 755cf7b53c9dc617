"""configs/adapt_real.py through tools/train.py: a model adapts to a camera without references."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from spikeclip.apis import init_model
from spikeclip.apis.video import iter_frames
from spikeclip.engine import load_config
from spikeclip.fileio import write_dat
from spikeclip.models.stages import CoarseModel
from spikeclip.simulation import simulate_spikes
from spikeclip.testing import REPO_ROOT, save_miscalibrated_coarse, tiny_adapt_options
from spikeclip.utils.errors import ConfigError

CONFIG = osp.join(REPO_ROOT, 'configs', 'adapt_real.py')
H, W, GAIN = 32, 48, 0.4


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('train_tool', osp.join(REPO_ROOT, 'tools',
                                                                          'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def camera(tmp_path_factory):
    """Two still recordings of a tiny camera (``.dat``, spikes only) and their true rates."""
    root = tmp_path_factory.mktemp('camera')
    rng = np.random.default_rng(0)
    rates = []
    for i in range(2):
        scene = np.clip(rng.random((H // 8, W // 8)).repeat(8, 0).repeat(8, 1), 0.1, 1.0)
        spikes = simulate_spikes(torch.from_numpy(scene.astype(np.float32)), num_frames=300,
                                 seed=i, gain=GAIN, photons_per_frame=300.0)
        write_dat(str(root / f'rec{i}.dat'), spikes.numpy())
        rates.append(scene * GAIN)
    return str(root), rates


def rate_error(model, camera) -> float:
    """RMS error against the true rate (no fitted gain: calibration counts) over 10 windows."""
    root, rates = camera
    errors = []
    for i, rate in enumerate(rates):
        frames = list(iter_frames(model, osp.join(root, f'rec{i}.dat'), '20:280:52', height=H,
                                  width=W, amp='none'))
        errors += [float(((f.image.astype(np.float64) - rate) ** 2).mean()) for f in frames]
    return float(np.sqrt(np.mean(errors)))


def test_adaptation_improves_a_miscalibrated_model_without_references(tool, camera, tmp_path):
    root, _ = camera
    start = save_miscalibrated_coarse(str(tmp_path / 'start.pth'))
    work_dir = str(tmp_path / 'adapt')
    options = dict(tiny_adapt_options(start, H, W), work_dir=work_dir)
    tool.main([CONFIG, '--cfg-options', f'train_dataloader.dataset.data_root={root}',
               *[f'{k}={v}' for k, v in options.items()]])
    best = osp.join(work_dir, 'coarse_best.pth')
    before, after = init_model(start, device='cpu'), init_model(best, device='cpu')
    assert rate_error(after, camera) < 0.8 * rate_error(before, camera)
    # The run validated on held-out frames of the same folder, the start model included.
    logs = [json.loads(line) for p in sorted(os.listdir(work_dir)) if osp.isdir(osp.join(
        work_dir, p)) for line in open(osp.join(work_dir, p, 'vis_data', 'scalars.json'))]
    scores = [e['blind_spot/MSE'] for e in logs if 'blind_spot/MSE' in e]
    assert len(scores) == 4 and min(scores) < scores[0]
    # The adapted checkpoint is an ordinary, self-contained stage-1 model.
    stored = torch.load(best, weights_only=True)['meta']['spikeclip']['model']
    assert 'coarse_checkpoint' not in stored and stored['encoder']['init_gain'] == 0.6


def test_validation_follows_the_training_folder():
    cfg = load_config(CONFIG, {'train_dataloader.dataset.data_root': '/data/mine'})
    assert cfg.val_dataloader.dataset.data_root == '/data/mine'
    assert cfg.test_dataloader.dataset.data_root == '/data/mine'
    cfg = load_config(CONFIG, {'train_dataloader.dataset.data_root': '/data/mine',
                               'val_dataloader.dataset.data_root': '/data/other'})
    assert cfg.val_dataloader.dataset.data_root == '/data/other'


def test_coarse_model_starts_from_a_checkpoint(tmp_path):
    start = save_miscalibrated_coarse(str(tmp_path / 'start.pth'))
    model = CoarseModel(coarse_checkpoint=start)
    reference = init_model(start, device='cpu')
    spikes = (torch.rand(1, 9, 16, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        assert torch.equal(model(spikes), reference(spikes))
    assert model.data_preprocessor.window == 9
    assert model.sources == {'fine_tuned_from': osp.abspath(start)}
    with pytest.raises(ConfigError, match='exactly one of encoder'):
        CoarseModel()
    with pytest.raises(ConfigError, match='exactly one of encoder'):
        CoarseModel(encoder=dict(type='TFP'), coarse_checkpoint=start)
