"""The recipe for real recordings: stage 2 and 3 configs train through the Runner on the shipped
pretrained stage 1 (with the tiny CLIP standing in for ViT-B/32) and combine into one model."""
import os.path as osp

from spikeclip.apis import build_runner, init_model, load_config
from spikeclip.models.stages import load_stage_checkpoint
from spikeclip.testing import REPO_ROOT


def _tiny(work_dir, clip_path, **extra):
    opts = {'work_dir': work_dir, 'train_cfg.max_epochs': 1, 'model.clip.arch': 'spikeclip-tiny',
            'model.clip.pretrained': clip_path, 'default_hooks.logger.interval': 1}
    for loader, n in (('train_dataloader', 4), ('val_dataloader', 2), ('test_dataloader', 2)):
        opts.update({f'{loader}.batch_size': 2, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False, f'{loader}.dataset.num_samples': n,
                     f'{loader}.dataset.crop_size': 32,
                     f'{loader}.dataset.images': ['default']})
    opts.update(extra)
    return opts


def test_real_recipe_stages_2_and_3_train_on_the_pretrained_stage_1(tmp_path, tiny_clip_file):
    prompt_dir, refine_dir = str(tmp_path / 'prompt'), str(tmp_path / 'refine')
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'prompt_real.py'),
                      _tiny(prompt_dir, tiny_clip_file))
    build_runner(cfg).train()
    prompt_cfg, _ = load_stage_checkpoint(osp.join(prompt_dir, 'prompt_best.pth'), 'prompt')
    assert prompt_cfg['coarse']['type'] == 'MotionUNet' and prompt_cfg['class_prompt'] is None
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'refine_real.py'),
                      _tiny(refine_dir, tiny_clip_file,
                            **{'model.prompt_checkpoint': osp.join(prompt_dir,
                                                                   'prompt_best.pth')}))
    build_runner(cfg).train()
    combined = init_model(str(tmp_path / 'combined_model.pth'), device='cpu')
    assert combined.data_preprocessor.window == 41
