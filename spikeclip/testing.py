"""Helpers for tests and quick experiments: tiny variants of the configs and tiny data sets."""
import io
import os
import os.path as osp
import signal
import warnings
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
                    frames: int = 200, seed: int = 0, classes: str = 'ucaltech') -> str:
    """A U-CALTECH-like folder of ``num_files`` tiny ``.npz`` recordings named ``0..N-1``,
    labelled ``i % num_classes`` with the names of the class list ``classes``."""
    from .datasets import load_class_names
    from .fileio import write_npz
    from .simulation import simulate_spikes
    names = load_class_names(classes)
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(num_files):
        label = int(i % num_classes)
        scene = rng.random((size, size)) * 0.3 + label / max(num_classes, 1) * 0.6
        spikes = simulate_spikes(scene, frames, gain=0.5, seed=i)
        write_npz(osp.join(root, f'{i}.npz'), spikes, label, names[label])
    return root


def save_tiny_clip_archive(path: str, seed: int = 0, quick_gelu: bool = True,
                           arch: Optional[str] = None) -> str:
    """Random ``'spikeclip-tiny'`` (or ``arch``) weights as a TorchScript archive like OpenAI's.

    OpenAI's ``clip.load`` files (``~/.cache/clip/ViT-B-32.pt``) are TorchScript archives of a
    QuickGELU model with float16 weights and three non-weight entries (``input_resolution``,
    ``context_length``, ``vocab_size``); this writes the same kind of file for the tiny
    architecture (traced, so the archive's modules keep their class names).

    Args:
        path (str): Destination ``.pt`` file.
        seed (int): Seed of the random weights. Defaults to 0.
        quick_gelu (bool): The activation of the traced model. Defaults to True (OpenAI's).
        arch (str, optional): Another (small) open_clip architecture. Defaults to
            ``'spikeclip-tiny'``.

    Returns:
        str: ``path``.
    """
    import open_clip
    import torch

    from .models.clip import TINY_ARCH
    from .utils.atomic import atomic_write_bytes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(arch or TINY_ARCH, pretrained=None,
                                       force_quick_gelu=quick_gelu).eval()
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    images = torch.zeros(1, 3, size, size)
    tokens = torch.zeros(1, model.context_length, dtype=torch.long)
    for name, value in (('input_resolution', size), ('context_length', model.context_length),
                        ('vocab_size', model.vocab_size)):
        if hasattr(model, name):  # open_clip keeps the last two as plain ints
            delattr(model, name)
        model.register_buffer(name, torch.tensor(value))
    with warnings.catch_warnings():  # tracer and deprecation notices
        warnings.simplefilter('ignore')
        traced = torch.jit.trace_module(model, dict(encode_image=(images, ),
                                                    encode_text=(tokens, )), check_trace=False)
        traced = traced.half()  # OpenAI's archives hold float16 weights
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def default_sigint() -> None:
    """``preexec_fn`` of a subprocess that a test interrupts with SIGINT (Ctrl-C).

    A test run started in the background by a non-interactive shell (``pytest ... &``) ignores
    SIGINT, and its subprocesses inherit that, so that Ctrl-C would never reach them; this puts
    the default back before the tool starts (Python then installs its KeyboardInterrupt).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tiny_adapt_options(start: str, height: int, width: int, epochs: int = 3,
                       crop: int = 32) -> dict:
    """``--cfg-options`` that shrink ``configs/adapt_real.py`` to a tiny run: start from (and
    anchor to) ``start`` (a stage-1 checkpoint of a 9-frame model), 4 held-out and 2 guard frames,
    ``crop`` crops, 64 training and 16 validation clips, ``epochs`` epochs, no worker processes.
    """
    opts = {'model.coarse_checkpoint': start, 'model.losses.1.teacher': start,
            'model.losses.0.window': 9, 'model.losses.0.held_out': 4, 'model.losses.0.guard': 2,
            'val_dataloader.dataset.blind_spot.held_out': 4,
            'val_dataloader.dataset.blind_spot.guard': 2,
            'optim_wrapper.optimizer.lr': 3e-3, 'train_cfg.max_epochs': epochs,
            'default_hooks.logger.interval': 4}
    for loader, n in (('train_dataloader', 64), ('val_dataloader', 16)):
        opts.update({f'{loader}.dataset.{k}': v for k, v in dict(
            window=9, context=8, crop_size=crop, num_samples=n, height=height,
            width=width).items()})
        opts.update({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False,
                     f'{loader}.batch_size': 8})
    return opts


def save_miscalibrated_coarse(path: str, init_gain: float = 0.6) -> str:
    """A small stage-1 checkpoint (MotionUNet, 9-frame window, widths 8-16, seed 0) that outputs
    ``init_gain`` times the window's spike rate: a model that an adaptation run should improve.
    Returns ``path``."""
    import torch

    from .models.stages import CoarseModel
    from .models.stages.checkpoint_meta import save_model_file, stage_meta
    torch.manual_seed(0)
    model = CoarseModel(encoder=dict(type='MotionUNet', window=9, channels=(8, 16),
                                     init_gain=init_gain),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=9))
    save_model_file(path, model.state_dict(), stage_meta('coarse', model.export_cfg()))
    return path
