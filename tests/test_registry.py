"""Registries: our modules are found through default_scope, and a user's own component in a
separate file is picked up through custom_imports."""
import os.path as osp
import sys
import textwrap

import torch

from spikeclip.engine import build_runner, load_config
from spikeclip.registry import ENCODERS, LOSSES, METRICS, MODELS
from spikeclip.testing import REPO_ROOT, tiny_options


def test_default_scope_finds_components_without_imports():
    assert MODELS.get('CoarseModel') is not None
    assert METRICS.get('PSNR') is not None
    for name in ('TFP', 'TFI', 'LRN', 'SpikingUNet'):
        assert ENCODERS.get(name) is not None, name
    assert LOSSES.get('CLIPClassLoss') is not None


def test_user_component_from_custom_imports_trains(tmp_path, monkeypatch):
    pkg = tmp_path / 'my_project'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    (pkg / 'my_encoder.py').write_text(textwrap.dedent('''
        import torch
        from torch import nn
        from spikeclip.registry import ENCODERS

        @ENCODERS.register_module()
        class UserMeanEncoder(nn.Module):
            def __init__(self, gain=2.0):
                super().__init__()
                self.scale = nn.Parameter(torch.tensor(float(gain)))

            def forward(self, spikes):
                return (self.scale * spikes.mean(1, keepdim=True)).clamp(0, 1)
        '''))
    cfg_file = tmp_path / 'coarse_mine.py'
    cfg_file.write_text(textwrap.dedent(f'''
        _base_ = [{osp.join(REPO_ROOT, 'configs', 'coarse_demo.py')!r}]
        custom_imports = dict(imports=['my_project.my_encoder'], allow_failed_imports=False)
        model = dict(encoder=dict(_delete_=True, type='UserMeanEncoder', gain=1.5))
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = load_config(str(cfg_file), tiny_options('coarse_mine.py', str(tmp_path / 'work')))
    runner = build_runner(cfg)
    assert type(runner.model.encoder).__name__ == 'UserMeanEncoder'
    before = runner.model.encoder.scale.item()
    runner.train()
    assert runner.model.encoder.scale.item() != before  # it was optimised
    assert 'my_project.my_encoder' in sys.modules
    assert torch.isfinite(runner.model.encoder.scale)
