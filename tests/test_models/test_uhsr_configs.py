"""The U-CALTECH / U-CIFAR stage-1 configs, shrunk to tiny data and the tiny CLIP, train
through the Runner (CLIP class loss + self-supervised loss, accuracy as the best metric)."""
import os.path as osp

import pytest

from spikeclip.engine import build_runner, load_config
from spikeclip.models.stages import load_stage_checkpoint
from spikeclip.testing import REPO_ROOT, write_tiny_uhsr


@pytest.mark.parametrize('name,num_classes', [('ucaltech', 101), ('ucifar', 10)])
def test_uhsr_coarse_config_trains_two_iterations(tmp_path, tiny_clip_file, name, num_classes):
    root = write_tiny_uhsr(str(tmp_path / 'data'), num_files=6, num_classes=3, size=24,
                           classes=name)
    opts = {'work_dir': str(tmp_path / 'work'), 'train_cfg.max_epochs': 1,
            'model.clip.arch': 'spikeclip-tiny', 'model.clip.pretrained': tiny_clip_file,
            'default_hooks.logger.interval': 1}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.batch_size': 2, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False, f'{loader}.dataset.data_root': root,
                     f'{loader}.dataset.crop_size': None, f'{loader}.dataset.train_size': 4,
                     f'{loader}.dataset.val_every': 2})
    cfg = load_config(osp.join(REPO_ROOT, 'configs', f'coarse_{name}.py'), opts)
    runner = build_runner(cfg)
    assert len(runner.model.class_names) == num_classes
    runner.train()
    best = tmp_path / 'work' / 'coarse_best.pth'
    assert best.is_file()
    model_cfg, _ = load_stage_checkpoint(str(best), 'coarse')
    assert [loss['type'] for loss in model_cfg['losses']] == ['CLIPClassLoss',
                                                              'SelfSupervisedLoss']


def _uhsr_dataset_cfg(loader_cfg):
    """The UHSRDataset config inside a dataloader config (unwrapping UnpairedImageDataset)."""
    ds = loader_cfg['dataset']
    while ds['type'] != 'UHSRDataset':
        ds = ds['dataset']
    return ds


@pytest.mark.parametrize('config', [f'{stage}_{data}.py' for data in ('ucaltech', 'ucifar')
                                    for stage in ('coarse', 'prompt', 'refine', 'pipeline')])
def test_uhsr_configs_select_on_a_validation_split_disjoint_from_test(tmp_path, config):
    from spikeclip.datasets import UHSRDataset
    name = 'ucifar' if 'ucifar' in config else 'ucaltech'
    root = write_tiny_uhsr(str(tmp_path / 'data'), num_files=40, num_classes=3, size=4,
                           frames=2, classes=name)
    cfg = load_config(osp.join(REPO_ROOT, 'configs', config))
    files = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not cfg.get(loader):
            continue
        ds_cfg = dict(_uhsr_dataset_cfg(cfg[loader]), data_root=root, train_size=30)
        assert ds_cfg['classes'] == name, loader
        files[loader] = set(UHSRDataset(**{k: v for k, v in ds_cfg.items()
                                           if k != 'type'}).files)
    assert files['test_dataloader'] and files['val_dataloader']
    assert not files['val_dataloader'] & files['test_dataloader']
    if 'train_dataloader' in files:
        assert not files['train_dataloader'] & (files['val_dataloader'] |
                                                files['test_dataloader'])
