"""Helpers for tests and quick experiments: tiny variants of the configs and tiny data sets."""
import os
import os.path as osp
from typing import Optional

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def tiny_options(config: str, work_dir: str, clip_path: Optional[str] = None, crop: int = 24,
                 train_samples: int = 4, **extra) -> dict:
    """``--cfg-options`` that shrink a demo config to a few tiny samples and one epoch.

    Args:
        config (str): Config path (its name decides whether it has a CLIP to point at the tiny one).
        work_dir (str): Work dir of the run.
        clip_path (str, optional): Tiny CLIP weights for the configs that use CLIP.
        crop (int): Crop size of every sample. Defaults to 24.
        train_samples (int): Training samples (batch size 2). Defaults to 4.
        **extra: Further ``key=value`` overrides (dots in keys are nesting).
    """
    opts = {'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1,
            'randomness.seed': 0, 'work_dir': work_dir}
    for name, n in (('train_dataloader', train_samples), ('val_dataloader', 2),
                    ('test_dataloader', 2)):
        opts.update({f'{name}.batch_size': 2, f'{name}.num_workers': 0,
                     f'{name}.persistent_workers': False, f'{name}.dataset.num_samples': n,
                     f'{name}.dataset.crop_size': crop})
    if clip_path is not None and not osp.basename(config).startswith('coarse'):
        opts['model.clip.pretrained'] = clip_path
    opts.update(extra)
    return opts


def write_tiny_uhsr(root: str, num_files: int, num_classes: int, size: int = 24,
                    frames: int = 200, seed: int = 0) -> str:
    """A U-CALTECH-like folder of ``num_files`` tiny ``.npz`` recordings named ``0..N-1``."""
    from .fileio import write_npz
    from .simulation import simulate_spikes
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(num_files):
        label = int(i % num_classes)
        scene = rng.random((size, size)) * 0.3 + label / max(num_classes, 1) * 0.6
        spikes = simulate_spikes(scene, frames, gain=0.5, seed=i)
        write_npz(osp.join(root, f'{i}.npz'), spikes, label, f'class{label}')
    return root
