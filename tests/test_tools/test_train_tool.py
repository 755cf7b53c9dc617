"""tools/train.py's options translated into the config (the Runner itself is stubbed out)."""
import glob
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from spikeclip.engine.optim_wrapper import BF16OptimWrapper
from spikeclip.engine.runner import apply_amp, load_config
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.errors import ConfigError

CONFIGS = sorted(osp.relpath(p, REPO_ROOT) for p in glob.glob(osp.join(REPO_ROOT, 'configs',
                                                                       '*.py'))
                 if not osp.basename(p).startswith('pipeline'))


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('train_tool', osp.join(REPO_ROOT, 'tools',
                                                                          'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('config', CONFIGS)
def test_amp_builds_a_mixed_precision_wrapper_for_every_config(tool, monkeypatch, tmp_path,
                                                               config):
    seen = {}

    class _Runner:
        def train(self):
            seen['done'] = True

    def build_runner(cfg):
        seen['cfg'] = cfg
        return _Runner()

    monkeypatch.setattr(tool, 'build_runner', build_runner)
    # A tmp work dir: the config's own (work_dirs/demo/...) holds the demo's run after make demo.
    tool.main([osp.join(REPO_ROOT, config), '--amp', '--work-dir', str(tmp_path)])
    cfg = seen['cfg']
    with DefaultScope.overwrite_default_scope('spikeclip'):
        wrapper = build_optim_wrapper(nn.Conv2d(1, 2, 3), cfg.optim_wrapper)  # no TypeError
    assert isinstance(wrapper, BF16OptimWrapper) and wrapper.enabled, config
    with wrapper.optim_context(nn.Conv2d(1, 2, 3)):
        assert torch.is_autocast_enabled('cpu')


def test_amp_translation_by_wrapper_type(monkeypatch):
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'refine_demo.py'))
    assert cfg.optim_wrapper.enabled is False  # stage 3 trains in float32 by default
    apply_amp(cfg)
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper' and cfg.optim_wrapper.enabled is True
    cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    apply_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    apply_amp(cfg)
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper'  # MMEngine's AMP needs a GPU
    cfg.optim_wrapper = dict(type='MyWrapper', optimizer=dict(type='SGD', lr=0.1))
    with pytest.raises(ConfigError, match="'MyWrapper'"):
        apply_amp(cfg)
