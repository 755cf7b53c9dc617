"""tools/model_converters/official_spikeclip.py: the official SpikeCLIP LRN file as a stage-1
checkpoint whose outputs are the official network's on the same spikes."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from spikeclip.apis import init_model
from spikeclip.fileio import write_npz
from spikeclip.models.stages.base import load_stage_checkpoint
from spikeclip.testing import REPO_ROOT

UCIFAR = ('frog', 'horse', 'dog', 'truck', 'airplane', 'automobile', 'bird', 'ship', 'cat', 'deer')
TOOL = f'{REPO_ROOT}/tools/model_converters/official_spikeclip.py'


def official_lrn(norm: str = 'none') -> nn.Sequential:
    """models.py of chenkang455/SpikeCLIP: LRN(inDim=50, outDim=1, norm)."""
    def block(c_in, c_out, with_norm):
        layers = [nn.Conv2d(c_in, c_out, 3, 1, 1)]
        if with_norm and norm == 'batch':
            layers.append(nn.BatchNorm2d(c_out))
        return nn.Sequential(*layers, nn.ReLU(True))

    return nn.Sequential(block(50, 64, False), block(64, 128, True), block(128, 64, True),
                         block(64, 16, True), nn.Conv2d(16, 1, 3, 1, 1))


def official_forward(net: nn.Sequential, spikes: torch.Tensor) -> torch.Tensor:
    """evaluate.py: the 200 frames summed in 50 bins of 4, then the network, unclamped."""
    n, t, h, w = spikes.shape
    voxel = torch.sum(spikes.float().reshape(-1, 50, 4, h, w), axis=2)
    return net(voxel)


@pytest.fixture(scope='module')
def official_file(tmp_path_factory):
    torch.manual_seed(0)
    net = official_lrn()
    with torch.no_grad():  # outputs on both sides of [0, 1], so that the clamp shows
        net[4].weight.mul_(40)
        probe = official_forward(net, torch.rand(1, 200, 30, 36) < 0.2)
        net[4].bias.add_(0.5 - probe.median())
    path = tmp_path_factory.mktemp('official') / 'LRN_CALTECH.pth'
    torch.save(net.state_dict(), path)
    torch.load(path, weights_only=True)  # the official layout: a plain state dict
    return net, str(path)


def _convert(src, out, *extra):
    return subprocess.run([sys.executable, TOOL, src, str(out), *extra], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize('clamp', [False, True])
def test_converted_model_matches_the_official_forward_pass(official_file, tiny_clip_file,
                                                           tmp_path, clamp):
    net, src = official_file
    out = tmp_path / 'lrn.pth'
    result = _convert(src, out, *(['--clamp'] if clamp else []))
    assert result.returncode == 0, result.stderr[-2000:]
    model = init_model(str(out), device='cpu', cfg_options={
        'model.clip.arch': 'spikeclip-tiny', 'model.clip.pretrained': tiny_clip_file})
    spikes = (torch.rand(2, 200, 30, 36, generator=torch.Generator().manual_seed(1)) < 0.2)
    with torch.no_grad():
        ref = official_forward(net, spikes)
        ours = model(spikes.float(), mode='tensor')
    assert ref.min() < 0 and ref.max() > 1
    np.testing.assert_allclose(ours.numpy(), (ref.clamp(0, 1) if clamp else ref).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_checkpoint_stores_what_the_loaders_need(official_file, tmp_path):
    _, src = official_file
    out = tmp_path / 'lrn.pth'
    assert _convert(src, out).returncode == 0
    cfg, state, info = load_stage_checkpoint(str(out), 'coarse', with_info=True)  # checked
    assert info['stage'] == 'coarse' and len(info['class_names']) == 101
    assert cfg['encoder'] == dict(type='LRN', window=200, bin_size=4, channels=[64, 128, 64, 16],
                                  init_gain=None, clamp=False)
    assert cfg['prompt_template'] == 'image of a {}' and cfg['prompt_names'] is None
    assert cfg['clip'] == dict(type='FrozenCLIP', arch='ViT-B-32', pretrained='openai',
                               normalize='grey')
    assert cfg['classify_crop'] == 224 and cfg['data_preprocessor']['window'] == 200
    assert set(state) == {f'encoder.body.{i}.{p}' for i in (0, 2, 4, 6, 8)
                          for p in ('weight', 'bias')}
    assert len(info['provenance']['sha256']) == 64 and info['sources']['official']


def test_infer_tool_takes_the_converted_checkpoint(official_file, tiny_clip_file, tmp_path):
    _, src = official_file
    out = tmp_path / 'lrn.pth'
    assert _convert(src, out, '--classes', 'ucifar').returncode == 0
    rng = np.random.default_rng(0)
    write_npz(str(tmp_path / 'rec.npz'), (rng.random((200, 40, 40)) < 0.2).astype(np.uint8), 3,
              'truck')
    result = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/infer.py', str(out), str(tmp_path / 'rec.npz'),
         '--out-dir', str(tmp_path / 'infer'), '--device', 'cpu', '--cfg-options',
         'model.clip.arch=spikeclip-tiny', f'model.clip.pretrained={tiny_clip_file}'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (entry, ) = json.loads((tmp_path / 'infer' / 'predictions.json').read_text())
    assert (tmp_path / 'infer' / 'rec.png').is_file()
    assert len(entry['topk']) == 5 and {t['name'] for t in entry['topk']} <= set(UCIFAR)


def test_other_layouts_are_refused_in_one_line(tmp_path):
    src = tmp_path / 'LRN_BN.pth'
    torch.save(official_lrn(norm='batch').state_dict(), src)
    result = _convert(str(src), tmp_path / 'out.pth')
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert 'not an official SpikeCLIP LRN' in result.stderr and '1.1.weight' in result.stderr
    assert not (tmp_path / 'out.pth').exists()
