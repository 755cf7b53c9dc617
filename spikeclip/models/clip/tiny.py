"""``'spikeclip-tiny'``: a CLIP small enough to train and run on a CPU, registered with open_clip.

An open_clip ``CLIP`` like OpenAI's RN50 at a fraction of its size: the image tower is CLIP's
``ModifiedResNet`` (three-convolution stem, one bottleneck block per stage, attention pooling) at
width 16 for 64x64 images (the demo's crops); the text tower is a 2-layer, 64-wide causal
transformer with CLIP's 49408-token BPE vocabulary and 77-token context (so open_clip's tokenizer
works); 64-d joint space; 4.6 M parameters, 3.2 M of them the token-embedding table. A
convolutional tower because it learns from twelve photographs within the demo's time budget,
where a ViT of the same cost had not started to separate the classes. Its architecture is the
JSON file ``model_configs/spikeclip-tiny.json``, registered with ``open_clip.add_model_config``.

It has no downloadable weights. ``tools/train_tiny_clip.py`` trains it on the embedded
photographs (:mod:`spikeclip.models.clip.pretrain`; ``make demo`` does this first);
:func:`save_tiny_clip` writes random weights (tests of mechanics). Either file loads like any
checkpoint: ``FrozenCLIP(arch='spikeclip-tiny', pretrained=<file>)``.
"""
import os.path as osp

import open_clip
import torch

from spikeclip.utils.atomic import atomic_torch_save

TINY_ARCH = 'spikeclip-tiny'
MODEL_CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'model_configs')


def register_tiny_clip() -> None:
    """Add the architectures of :data:`MODEL_CONFIG_DIR` to open_clip's registry (idempotent)."""
    if TINY_ARCH not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)


def save_tiny_clip(path: str, seed: int = 0) -> str:
    """Write random ``'spikeclip-tiny'`` weights (a plain state dict) to ``path`` atomically.

    Args:
        path (str): Destination file (``.pth``); its folder is created.
        seed (int): Seed of the random initialisation; the global RNG state is left untouched.
            Defaults to 0.

    Returns:
        str: ``path``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(TINY_ARCH, pretrained=None)
    atomic_torch_save(model.state_dict(), path)
    return str(path)


register_tiny_clip()
