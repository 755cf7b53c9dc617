"""``'spikeclip-tiny'``: a CLIP small enough for CPU tests, registered with open_clip.

Same structure as ViT-B-32 (ViT image tower, causal text transformer, the standard 49408-token
BPE vocabulary and 77-token context, so open_clip's tokenizer works), at a fraction of the width
and depth. It has no pretrained weights; :func:`save_tiny_clip` writes random ones to a file,
which ``FrozenCLIP(arch='spikeclip-tiny', pretrained=<that file>)`` loads like any checkpoint.
"""
import copy

import open_clip
import open_clip.factory
import torch

from spikeclip.utils.atomic import atomic_torch_save

TINY_ARCH = 'spikeclip-tiny'

TINY_CLIP_CFG = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, patch_size=8, width=64, head_width=32, layers=2, mlp_ratio=2.0),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2, mlp_ratio=2.0),
)


def register_tiny_clip() -> None:
    """Add :data:`TINY_CLIP_CFG` to open_clip's model-config registry (idempotent).

    ``open_clip.add_model_config`` only accepts JSON paths; the registry behind it is the dict
    ``open_clip.factory._MODEL_CONFIGS``, which later rescans keep, so the dict goes there.
    """
    configs = open_clip.factory._MODEL_CONFIGS
    if TINY_ARCH not in configs:
        configs[TINY_ARCH] = copy.deepcopy(TINY_CLIP_CFG)


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
