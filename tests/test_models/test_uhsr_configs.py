"""The U-CALTECH / U-CIFAR stage-1 configs, shrunk to tiny data and the tiny CLIP, train
through the Runner (CLIP class loss + self-supervised loss, accuracy as the best metric)."""
import os.path as osp

import pytest

from spikeclip.apis import build_runner, load_config
from spikeclip.models.stages import load_stage_checkpoint
from spikeclip.testing import REPO_ROOT, write_tiny_uhsr


@pytest.mark.parametrize('name,num_classes', [('ucaltech', 101), ('ucifar', 10)])
def test_uhsr_coarse_config_trains_two_iterations(tmp_path, tiny_clip_file, name, num_classes):
    root = write_tiny_uhsr(str(tmp_path / 'data'), num_files=6, num_classes=3, size=24)
    opts = {'work_dir': str(tmp_path / 'work'), 'train_cfg.max_epochs': 1,
            'model.clip.arch': 'spikeclip-tiny', 'model.clip.pretrained': tiny_clip_file,
            'default_hooks.logger.interval': 1}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.batch_size': 2, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False, f'{loader}.dataset.data_root': root,
                     f'{loader}.dataset.crop_size': None, f'{loader}.dataset.train_size': 4})
    cfg = load_config(osp.join(REPO_ROOT, 'configs', f'coarse_{name}.py'), opts)
    runner = build_runner(cfg)
    assert len(runner.model.class_names) == num_classes
    runner.train()
    best = tmp_path / 'work' / 'coarse_best.pth'
    assert best.is_file()
    model_cfg, _ = load_stage_checkpoint(str(best), 'coarse')
    assert [loss['type'] for loss in model_cfg['losses']] == ['CLIPClassLoss',
                                                              'SelfSupervisedLoss']
