"""Contrastive image-text pretraining of the tiny CLIP on the embedded photographs.

No pretrained CLIP can be had offline, so the demo trains ``'spikeclip-tiny'`` on what is here:
views of the twelve photographs' *training* regions (the test regions stay unseen), clean and
degraded the way spike reconstructions degrade (:mod:`spikeclip.datasets.captioned_views`),
with class captions, quality captions and both (:mod:`spikeclip.models.clip.captions`).

The objective is CLIP's symmetric contrastive loss with the targets of UniCL (Yang et al.,
"Unified Contrastive Learning in Image-Text-Label Space", CVPR 2022): with twelve classes a batch
holds many images per caption, so every caption an image matches is a positive (image-to-text:
a uniform target over its matching captions; text-to-image: over its matching images), instead
of CLIP's one positive per row.

The result is an ordinary open_clip checkpoint (:func:`save_open_clip_dir`): a plain state dict
``open_clip_pytorch_model.bin`` with its architecture in ``open_clip_config.json``, which
``open_clip.create_model('local-dir:DIR')`` loads without SpikeCLIP and
``FrozenCLIP(arch='spikeclip-tiny', pretrained='DIR/open_clip_pytorch_model.bin')`` loads like
real weights.
"""
import hashlib
import json
import math
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Optional, Sequence

import open_clip
import torch
import torch.nn.functional as F
from open_clip.transformer import text_global_pool
from torch import nn

from ...datasets.base import load_prompt_names
from ...datasets.captioned_views import (
    DegradationConfig,
    ViewConfig,
    ViewSampler,
    degrade_like_spikes,
)
from ...utils.atomic import atomic_torch_save, atomic_write_json
from ...utils.errors import ConfigError, NonFiniteLossError
from .captions import HIGH, LOW, NO_CLASS, NO_QUALITY, bank_index, caption_bank, caption_targets
from .frozen_clip import _no_random_init_notice
from .tiny import TINY_ARCH

# Bump when the training code changes what a recipe produces: cached weights are retrained.
RECIPE_VERSION = 1
WEIGHTS_NAME = 'open_clip_pytorch_model.bin'  # open_clip's name, found by 'local-dir:'
CONFIG_NAME = 'open_clip_config.json'
REPORT_NAME = 'training.json'


@dataclass(frozen=True)
class TinyCLIPRecipe:
    """How the tiny CLIP is trained. Its :func:`recipe_hash` decides whether cached weights
    are still the recipe's.

    Args:
        steps (int): Optimiser steps. Defaults to 600.
        batch_size (int): Clean views per step; each is also degraded, so a step sees twice
            as many images. Defaults to 64.
        lr (float): Peak AdamW learning rate (linear warm-up, cosine decay). Defaults to 2e-3.
        warmup (int): Warm-up steps. Defaults to 20.
        weight_decay (float): AdamW weight decay of the matrices (not of norms, biases,
            embeddings or the logit scale). Defaults to 0.05.
        caption_mix (tuple): Chances that an image's caption states its class only, its class
            and quality, or its quality only. Defaults to (0.4, 0.3, 0.3).
        bf16 (bool): bf16 autocast for the forward pass (weights and loss in float32).
            Defaults to True.
        seed (int): Seed of the initialisation and of every batch. Defaults to 0.
        arch (str): open_clip architecture. Defaults to ``'spikeclip-tiny'``.
        views (ViewConfig): Clean views. Defaults to ``ViewConfig()``.
        degradation (DegradationConfig): Degradations. Defaults to ``DegradationConfig()``.
    """
    steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 20
    weight_decay: float = 0.05
    caption_mix: tuple = (0.4, 0.3, 0.3)
    bf16: bool = True
    seed: int = 0
    arch: str = TINY_ARCH
    views: ViewConfig = field(default_factory=ViewConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)

    def __post_init__(self):
        for name, least in (('steps', 1), ('batch_size', 1), ('warmup', 0), ('lr', 0),
                            ('weight_decay', 0)):
            value = getattr(self, name)
            integer = name in ('steps', 'batch_size', 'warmup')
            kinds = int if integer else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or \
                    not math.isfinite(value) or value < least or (name == 'lr' and value == 0):
                what = 'an integer' if integer else 'a finite number'
                bound = 'above 0' if name == 'lr' else f'of at least {least}'
                raise ConfigError(f'tiny CLIP recipe: {name} must be {what} {bound}, got '
                                  f'{value!r}')

    def to_dict(self) -> dict:
        return asdict(self)


def recipe_hash(recipe: TinyCLIPRecipe, class_names: Sequence[str]) -> str:
    """Fingerprint of everything that decides the trained weights: the recipe, the
    architecture config, the classes and :data:`RECIPE_VERSION`."""
    blob = json.dumps(dict(recipe=recipe.to_dict(), arch=open_clip.get_model_config(recipe.arch),
                           classes=list(class_names), version=RECIPE_VERSION),
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def encode_text_prefix(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text(tokens)`` computed on the positions up to the last end-of-text only.

    The text transformer is causal and pools at the end-of-text token, so later (padding)
    positions cannot change the result; skipping them makes short captions ~5x cheaper.

    Args:
        model (open_clip.CLIP): The model.
        tokens (torch.Tensor): ``[K, L]`` token ids.

    Returns:
        torch.Tensor: ``[K, D]`` text features (not normalised).
    """
    n = int(tokens.argmax(-1).max()) + 1
    tokens = tokens[:, :n]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type,
                         eos_token_id=getattr(model, 'text_eos_id', None))
    if model.text_projection is not None:
        x = model.text_projection(x) if isinstance(model.text_projection, nn.Linear) \
            else x @ model.text_projection
    return x


def multi_positive_clip_loss(image_features: torch.Tensor, text_features: torch.Tensor,
                             targets: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric CLIP loss with several positives per row and column (UniCL).

    Args:
        image_features (torch.Tensor): ``[N, D]`` unit-norm.
        text_features (torch.Tensor): ``[M, D]`` unit-norm.
        targets (torch.Tensor): ``[N, M]`` boolean matches; every row and column has one.
        logit_scale (torch.Tensor): Multiplier of the cosine similarities.

    Returns:
        torch.Tensor: Mean of the image-to-text and text-to-image cross-entropies.
    """
    logits = logit_scale * image_features.float() @ text_features.float().t()
    t = targets.float()
    i2t = -(t / t.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    t2i = -(t / t.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (i2t + t2i) / 2


class CaptionDrawer:
    """Draws one caption per image from a caption bank, and holds the bank's token ids.

    Args:
        bank (list[Caption]): From :func:`~spikeclip.models.clip.captions.caption_bank`.
        tokenizer (callable): open_clip tokenizer of the arch.
        mix (tuple): Chances of a class-only, a class-and-quality and a quality-only caption.
    """

    def __init__(self, bank, tokenizer, mix=(0.4, 0.3, 0.3)):
        if len(mix) != 3 or min(mix) < 0 or sum(mix) <= 0:
            raise ConfigError(f'caption_mix must be three non-negative chances, got {mix!r}')
        self.bank = bank
        self.tokens = tokenizer([c.text for c in bank])
        self.labels = torch.tensor([c.label for c in bank])
        self.qualities = torch.tensor([c.quality for c in bank])
        self.groups = bank_index(bank)
        self.mix = torch.tensor(mix, dtype=torch.float) / sum(mix)

    def draw(self, labels: torch.Tensor, qualities: torch.Tensor,
             g: torch.Generator) -> torch.Tensor:
        """Bank indices ``[N]``: a caption that matches each image."""
        kinds = torch.multinomial(self.mix, len(labels), replacement=True, generator=g)
        out = torch.empty(len(labels), dtype=torch.long)
        for i, (k, y, q) in enumerate(zip(kinds.tolist(), labels.tolist(), qualities.tolist())):
            key = ((y, NO_QUALITY), (y, q), (NO_CLASS, q))[k]
            group = self.groups[key]
            out[i] = group[torch.randint(len(group), (1, ), generator=g)]
        return out


def _param_groups(model: nn.Module, weight_decay: float) -> list:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim < 2 or 'embedding' in name or 'logit_scale' in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


def normalizer(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Grey ``[N, 1, H, W]`` images in [0, 1] -> the vision tower's input, with the arch's
    preprocessing mean/std (as :meth:`FrozenCLIP.preprocess` does at the tower's size)."""
    pp = open_clip.get_model_preprocess_cfg(model)
    mean = torch.tensor(pp['mean']).view(1, 3, 1, 1)
    std = torch.tensor(pp['std']).view(1, 3, 1, 1)
    return lambda x: (x.expand(-1, 3, -1, -1) - mean) / std


def train_tiny_clip(out_dir: str, recipe: TinyCLIPRecipe = TinyCLIPRecipe(),
                    images: Optional[Sequence] = None, log: Callable[[str], None] = print,
                    log_every: int = 50) -> dict:
    """Train the tiny CLIP and write it to ``out_dir`` (see :func:`save_open_clip_dir`).

    Args:
        out_dir (str): Output folder.
        recipe (TinyCLIPRecipe): Training settings. Defaults to ``TinyCLIPRecipe()``.
        images (Sequence, optional): ``(class name, image)`` pairs; None is the embedded set.
        log (callable): Progress lines go here. Defaults to ``print``.
        log_every (int): Steps between progress lines. Defaults to 50.

    Returns:
        dict: The training report (also written to ``out_dir/training.json``): recipe, its
        hash, classes, parameter count, seconds, steps per second, threads, final loss and the
        load average (training time depends on it on a shared machine).

    Raises:
        NonFiniteLossError: The loss became NaN or Inf (nothing is written).
    """
    sampler = ViewSampler(images, 'train', recipe.views)
    prompt_names = list(load_prompt_names(sampler.classes))
    g = torch.Generator().manual_seed(recipe.seed)
    with torch.random.fork_rng(devices=[]), _no_random_init_notice():
        torch.manual_seed(recipe.seed)
        model = open_clip.create_model(recipe.arch, pretrained=None)  # random: it trains here
    model.train()
    drawer = CaptionDrawer(caption_bank(prompt_names), open_clip.get_tokenizer(recipe.arch),
                           recipe.caption_mix)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on the CPU
    prep = normalizer(model)
    opt = torch.optim.AdamW(_param_groups(model, recipe.weight_decay), lr=recipe.lr,
                            betas=(0.9, 0.98), eps=1e-6, fused=True)

    def lr_at(step: int) -> float:
        if step < recipe.warmup:
            return recipe.lr * (step + 1) / recipe.warmup
        t = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
        return recipe.lr * 0.5 * (1 + math.cos(math.pi * t))

    n = recipe.batch_size
    start = time.time()
    loss_avg = None
    log(f'tiny CLIP: {recipe.arch}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M '
        f'parameters, {recipe.steps} steps of {n} clean + {n} degraded views of the '
        f'{len(sampler.classes)} photographs\' training regions')
    for step in range(recipe.steps):
        for group in opt.param_groups:
            group['lr'] = lr_at(step)
        clean, labels = sampler.sample(n, g)
        degraded = degrade_like_spikes(clean, g, recipe.degradation)
        images_ = torch.cat([clean, degraded])
        labels = torch.cat([labels, labels])
        qualities = torch.cat([torch.full((n, ), HIGH), torch.full((n, ), LOW)])
        drawn = drawer.draw(labels, qualities, g).unique()
        targets = caption_targets(labels, qualities, drawer.labels[drawn],
                                  drawer.qualities[drawn])
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=recipe.bf16):
            img = model.encode_image(
                prep(images_).contiguous(memory_format=torch.channels_last))
            txt = encode_text_prefix(model, drawer.tokens[drawn])
        loss = multi_positive_clip_loss(F.normalize(img.float(), dim=-1),
                                        F.normalize(txt.float(), dim=-1), targets,
                                        model.logit_scale.exp())
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f'tiny CLIP loss is {float(loss)} at step {step + 1}; '
                                     f'nothing was written (try a lower lr than {recipe.lr})')
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        value = float(loss.detach())
        loss_avg = value if loss_avg is None else 0.9 * loss_avg + 0.1 * value
        if (step + 1) % log_every == 0 or step + 1 == recipe.steps:
            log(f'tiny CLIP step {step + 1}/{recipe.steps}: loss {loss_avg:.3f}, logit scale '
                f'{float(model.logit_scale.detach().exp()):.1f}, {time.time() - start:.0f} s')
    seconds = time.time() - start
    model.eval()
    report = dict(recipe=recipe.to_dict(), recipe_hash=recipe_hash(recipe, sampler.classes),
                  classes=list(sampler.classes), prompt_names=prompt_names,
                  parameters=sum(p.numel() for p in model.parameters()),
                  train_seconds=round(seconds, 1),
                  steps_per_second=round(recipe.steps / seconds, 2),
                  torch_threads=torch.get_num_threads(), final_loss=round(loss_avg, 4),
                  load_average=[round(v, 2) for v in os.getloadavg()])
    save_open_clip_dir(model, out_dir, recipe.arch, report)
    return report


def save_open_clip_dir(model: nn.Module, out_dir: str, arch: str, report: dict) -> str:
    """Write ``model`` as open_clip's local-dir format plus the training report, atomically.

    ``out_dir/open_clip_pytorch_model.bin`` (a plain state dict), ``out_dir/open_clip_config.json``
    (``model_cfg``: the architecture, ``preprocess_cfg``), ``out_dir/training.json``. The
    weights go last-but-one and the report last, so a folder with a report is complete.

    Returns:
        str: The weights file.
    """
    os.makedirs(out_dir, exist_ok=True)
    weights = osp.join(out_dir, WEIGHTS_NAME)
    atomic_write_json(osp.join(out_dir, CONFIG_NAME), dict(
        model_cfg=open_clip.get_model_config(arch),
        preprocess_cfg=dict(open_clip.get_model_preprocess_cfg(model)), arch=arch))
    atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)
    save_report(out_dir, report)
    return weights


def save_report(out_dir: str, report: dict) -> None:
    """Write ``out_dir/training.json`` atomically."""
    atomic_write_json(osp.join(out_dir, REPORT_NAME), report)


@torch.no_grad()
def evaluate_views(clip: nn.Module, num: int = 240, split: str = 'test', seed: int = 1,
                   images: Optional[Sequence] = None, views: ViewConfig = ViewConfig(),
                   degradation: DegradationConfig = DegradationConfig(),
                   template: str = 'a photo of a {}.',
                   quality_texts: Sequence[str] = ('high quality', 'low quality')) -> Dict:
    """Zero-shot figures of a CLIP on views of the photographs (test regions by default).

    Args:
        clip (FrozenCLIP): The CLIP, as the stages use it.
        num (int): Clean views (each also degraded). Defaults to 240.
        split (str): Region of the photographs. Defaults to ``'test'`` (never trained on).
        seed (int): Seed of the views. Defaults to 1.
        images (Sequence, optional): ``(class name, image)`` pairs; None: the embedded set.
        views (ViewConfig): View ranges. Defaults to ``ViewConfig()``.
        degradation (DegradationConfig): Degradations. Defaults to ``DegradationConfig()``.
        template (str): Hand-written class prompt. Defaults to ``'a photo of a {}.'``.
        quality_texts (Sequence[str]): (high, low) quality prompts.
            Defaults to ``('high quality', 'low quality')``.

    Returns:
        dict: ``top1_clean``, ``top5_clean``, ``top1_degraded`` (percent, hand-written prompts),
        ``hq_lq_acc`` (percent of clean views closer to the high-quality text and degraded
        ones to the low-quality text), ``hq_prob_clean``, ``hq_prob_degraded``.
    """
    from ..adapters.class_prompt import zero_shot_class_features
    sampler = ViewSampler(images, split, views)
    g = torch.Generator().manual_seed(seed)
    clean, labels = sampler.sample(num, g)
    degraded = degrade_like_spikes(clean, g, degradation)
    classes = zero_shot_class_features(clip, sampler.classes, template)
    quality = clip.encode_text(list(quality_texts))
    out = {}
    hq = {}
    for name, x in (('clean', clean), ('degraded', degraded)):
        feats = torch.cat([clip.encode_image(b) for b in x.split(64)])
        logits = clip.logits(feats, classes)
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
        out[f'top1_{name}'] = float((top5[:, 0] == labels).float().mean() * 100)
        out[f'top5_{name}'] = float((top5 == labels[:, None]).any(1).float().mean() * 100)
        hq[name] = clip.logits(feats, quality).softmax(-1)[:, 0]
    out['hq_lq_acc'] = float(torch.cat([hq['clean'] > 0.5, hq['degraded'] < 0.5]).float().mean()
                             * 100)
    out['hq_prob_clean'] = float(hq['clean'].mean())
    out['hq_prob_degraded'] = float(hq['degraded'].mean())
    return {k: round(v, 4) for k, v in out.items()}
