"""tools/test.py --protocol official: the official SpikeCLIP evaluation's settings, end to end on
tiny U-CALTECH-like data with the tiny CLIP; and the no-reference metrics on sets without
references."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from torch import nn

from spikeclip.apis import convert_official_checkpoint
from spikeclip.datasets import load_class_names
from spikeclip.engine import load_config
from spikeclip.evaluation.protocols import add_no_reference_metrics, official_protocol
from spikeclip.models.stages.checkpoint_meta import save_model_file, stage_meta
from spikeclip.models.stages.coarse import CoarseModel
from spikeclip.registry import MODELS
from spikeclip.testing import REPO_ROOT, write_tiny_uhsr
from spikeclip.utils.errors import ConfigError

CONFIG = osp.join(REPO_ROOT, 'configs/pipeline_ucaltech.py')


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp('official')
    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 1, 1), nn.ReLU(True))
                          for a, b in ((50, 64), (64, 128), (128, 64), (64, 16))],
                        nn.Conv2d(16, 1, 3, 1, 1))
    torch.save(net.state_dict(), root / 'LRN_CALTECH.pth')
    out = str(root / 'lrn_caltech.pth')
    convert_official_checkpoint(str(root / 'LRN_CALTECH.pth'), out)
    return out


def _tiny_clip_options(tiny_clip_file):
    return {'model.clip.arch': 'spikeclip-tiny', 'model.clip.pretrained': tiny_clip_file}


def test_official_protocol_selects_the_official_settings(converted, tiny_clip_file):
    cfg = official_protocol(load_config(CONFIG), converted, _tiny_clip_options(tiny_clip_file))
    model = cfg.model
    assert model['type'] == 'CoarseModel'
    assert model['prompt_template'] == 'image of a {}'  # 'image of a ' + label
    assert model['prompt_names'] is None and model['class_names'][55] == 'Leopards'  # raw names
    assert model['clip']['normalize'] == 'grey'
    assert model['clip']['arch'] == 'spikeclip-tiny'  # the user's option still applies
    enc = model['encoder']
    assert (enc['type'], enc['window'], enc['bin_size']) == ('LRN', 200, 4)  # 50 x 4 bins
    assert model['data_preprocessor']['window'] == 200
    ds = cfg.test_dataloader.dataset
    assert (ds.type, ds.split, ds.crop_size, ds.window) == ('UHSRDataset', 'test', 224, 200)
    # Zero-shot: the stage-1 model's own hand-written class scores, no learned prompts.
    assert cfg.test_evaluator == [dict(type='Accuracy', topk=(1, )), dict(type='NIQE'),
                                  dict(type='BRISQUE')]
    # The built model: evaluate.py's text features and grey Normalize.
    with DefaultScope.overwrite_default_scope('spikeclip'):
        built = MODELS.build(cfg.model)
    names = load_class_names('ucaltech')
    clip = built.clip
    torch.testing.assert_close(built.class_features,
                               clip.encode_text(['image of a ' + n for n in names]))
    mean, std = (np.array(clip.preprocess_cfg[k]) for k in ('mean', 'std'))
    weight = np.array((0.299, 0.587, 0.114))
    assert float(clip.mean[0, 0]) == pytest.approx(sum(mean * weight))
    assert float(clip.std[0, 2]) == pytest.approx(np.sqrt(np.sum(weight**2 * std**2)))


def test_official_protocol_uses_grey_on_a_model_trained_with_per_channel_clip(
        converted, tiny_clip_file, tmp_path):
    from spikeclip.models.stages.base import load_stage_checkpoint
    stored, state = load_stage_checkpoint(converted, 'coarse')
    stored['clip'] = dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file,
                          normalize='per_channel')
    stored['clip_identity'] = dict(arch='spikeclip-tiny', quick_gelu=False, weights='0' * 16)
    ckpt = str(tmp_path / 'per_channel.pth')
    save_model_file(ckpt, state, stage_meta('coarse', stored, stored['class_names']))
    cfg = official_protocol(load_config(CONFIG), ckpt)
    assert cfg.model['clip']['normalize'] == 'grey' and cfg.model['clip_identity'] is None


def test_official_protocol_refuses_what_it_is_not_defined_on(converted, tmp_path):
    with pytest.raises(ConfigError, match='stage-1'):
        official_protocol(load_config(CONFIG), None)
    tfp = CoarseModel(encoder=dict(type='TFP'), class_names='ucaltech')
    ckpt = str(tmp_path / 'tfp.pth')
    save_model_file(ckpt, tfp.state_dict(), stage_meta('coarse', tfp.export_cfg(),
                                                       tfp.class_names))
    with pytest.raises(ConfigError, match="LRN on 200 frames.*'TFP'"):
        official_protocol(load_config(CONFIG), ckpt)
    demo = load_config(osp.join(REPO_ROOT, 'configs/coarse_demo.py'))
    with pytest.raises(ConfigError, match='U-CALTECH / U-CIFAR'):
        official_protocol(demo, converted)


def test_official_protocol_end_to_end_on_tiny_data(converted, tiny_clip_file, tmp_path):
    data = tmp_path / 'U-CALTECH'
    write_tiny_uhsr(str(data / 'test'), num_files=4, num_classes=3, size=250)
    result = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/test.py', CONFIG, converted, '--protocol',
         'official', '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'test_dataloader.dataset.data_root={data}', 'test_dataloader.num_workers=0',
         'test_dataloader.persistent_workers=False', 'test_dataloader.batch_size=2',
         'model.clip.arch=spikeclip-tiny', f'model.clip.pretrained={tiny_clip_file}'],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads((tmp_path / 'work' / 'test_metrics.json').read_text())
    assert out['protocol'] == 'official'
    metrics = out['metrics']
    assert set(metrics) == {'top1', 'NIQE', 'BRISQUE'}
    assert 0 <= metrics['top1'] <= 100 and metrics['NIQE'] > 0


def test_no_reference_metrics_join_sets_without_references():
    cfg = load_config(CONFIG)
    assert add_no_reference_metrics(cfg) == ['NIQE', 'BRISQUE']
    assert [m['type'] for m in cfg.test_evaluator] == ['Accuracy', 'NIQE', 'BRISQUE']
    assert add_no_reference_metrics(cfg) == []  # once
    demo = load_config(osp.join(REPO_ROOT, 'configs/pipeline_demo.py'))
    before = demo.test_evaluator
    assert add_no_reference_metrics(demo) == [] and demo.test_evaluator == before


def test_no_reference_metrics_without_their_model_files_are_left_out(monkeypatch):
    from spikeclip.evaluation.metrics import no_reference
    monkeypatch.setattr(no_reference.importlib.util, 'find_spec', lambda name: None)
    cfg = load_config(CONFIG)
    assert add_no_reference_metrics(cfg) == []
    assert [m['type'] for m in cfg.test_evaluator] == ['Accuracy']
