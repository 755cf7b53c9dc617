"""``tools/check_clip.py``: what CLIP a run would get, and whether it sees the spike data.

The first thing to run on a machine with real weights: it builds the CLIP exactly as training
does (the ``model.clip`` of a stage config, through the stage models' ``build_clip``), prints
its architecture, activation, weights and preprocessing, and scores hand-written zero-shot
prompts on TFP images (and on a checkpoint's reconstructions) of ``num`` test recordings. Where
the weights are missing it says which file to fetch and where to put it.
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import open_clip
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from ..utils.errors import CheckpointError, ConfigError, SpikeFormatError
from ..utils.resources import find_config

DEFAULT_CONFIG = 'configs/coarse_ucaltech.py'


def weight_sources(arch: str, pretrained: Optional[str],
                   cache_dir: Optional[str] = None) -> List[Dict[str, str]]:
    """Where the weights of an open_clip tag come from and where they must be put.

    Returns:
        list[dict]: Per source ``what``, ``fetch`` (URL, or the command that downloads it) and
        ``put`` (the path open_clip and the toolkit look for it at); empty for a file path or an
        unknown tag.
    """
    from ..models.clip.frozen_clip import _check_arch, url_cache_file
    if not pretrained or osp.sep in pretrained or '/' in pretrained:
        return []
    arch = _check_arch(arch)
    tag = open_clip.get_pretrained_cfg(arch, pretrained)
    out = []
    if tag.get('url'):
        kind = ('OpenAI\'s TorchScript archive, SHA-256 checked'
                if 'openaipublic' in tag['url'] else 'checked file')
        out.append(dict(what=kind, fetch=tag['url'], put=url_cache_file(tag['url'], cache_dir)))
    if tag.get('hf_hub'):
        repo = tag['hf_hub'].rstrip('/').split('/')
        repo_id = '/'.join(repo[:2])
        hub = cache_dir or os.environ.get('HF_HUB_CACHE') or osp.join(
            os.environ.get('HF_HOME', osp.expanduser('~/.cache/huggingface')), 'hub')
        out.append(dict(
            what='open_clip\'s Hugging Face Hub copy (copy the whole cache folder)',
            fetch=(f'python -c "import open_clip; open_clip.create_model({arch!r}, '
                   f'pretrained={pretrained!r})"'),
            put=osp.join(hub, 'models--' + repo_id.replace('/', '--'))))
    return out


def _evenly_spaced(n_total: int, num: int) -> List[int]:
    """``num`` indices spread over ``range(n_total)`` (files are often sorted by class)."""
    if num >= n_total:
        return list(range(n_total))
    return np.linspace(0, n_total - 1, num).round().astype(int).tolist()


def _top1(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probs.argmax(-1) == labels).float().mean() * 100)


def check_clip(config: str = DEFAULT_CONFIG, cfg_options: Optional[dict] = None,
               checkpoint: Optional[str] = None, num: int = 200,
               data_root: Optional[str] = None, device: Optional[str] = None,
               batch_size: int = 16) -> dict:
    """Build the CLIP of ``config`` as training would and score it on spike data.

    Args:
        config (str): A stage config whose ``model.clip`` to check (its test split and class
            list are the data). Defaults to ``configs/coarse_ucaltech.py``.
        cfg_options (dict, optional): Overrides, e.g. ``{'model.clip.pretrained': FILE}``.
        checkpoint (str, optional): A stage or combined checkpoint whose reconstructions are
            scored with the same hand-written prompts (and whose own class scores are reported
            where its classes are the data's).
        num (int): Test recordings to score, spread evenly over the split. Defaults to 200.
        data_root (str, optional): Overrides the config's ``data_root``.
        device (str, optional): Defaults to CUDA where available.
        batch_size (int): Recordings per forward pass. Defaults to 16.

    Returns:
        dict: ``clip`` (:meth:`FrozenCLIP.describe`), and where data was found ``data``,
        ``zero_shot_tfp_top1``, ``bf16_agreement`` and, with a checkpoint,
        ``zero_shot_checkpoint_top1`` / ``checkpoint_top1``; ``skipped`` says why a part was
        left out.

    Raises:
        CheckpointError: The weights are missing (the message names the files to fetch).
        ConfigError: The config has no ``model.clip``.
    """
    from mmengine.registry import DefaultScope

    from ..apis.inference import init_model
    from ..datasets import load_class_names
    from ..engine.fast_inference import native_bf16
    from ..engine.runner import load_config
    from ..models.adapters.class_prompt import zero_shot_class_features
    from ..models.encoders import TFP
    from ..models.stages.base import build_clip, class_probs
    from ..registry import DATASETS
    from ..utils.device import check_device
    config = find_config(config)  # the shipped config when run outside the repository
    cfg = load_config(config, cfg_options)
    if not cfg.get('model', {}).get('clip'):
        raise ConfigError(f'{config} has no model.clip to check')
    device = torch.device(check_device(device))
    clip_cfg = Config(dict(cfg.model.clip)).to_dict()
    try:
        with DefaultScope.overwrite_default_scope('spikeclip'):
            clip = build_clip(clip_cfg).to(device)
    except CheckpointError as e:
        sources = weight_sources(clip_cfg.get('arch', 'ViT-B-32'), clip_cfg.get('pretrained'),
                                 clip_cfg.get('cache_dir'))
        if sources:
            lines = [str(e), '', 'Fetch one of these on a machine with network access:']
            for i, s in enumerate(sources, 1):
                lines += [f'  {i}. {s["what"]}:', f'       fetch: {s["fetch"]}',
                          f'       put it at: {s["put"]}']
            lines.append('then run this again.')
            raise CheckpointError('\n'.join(lines)) from e
        raise
    report = dict(config=config, clip=clip.describe(), device=str(device), skipped={})

    test_cfg = Config(dict(cfg.test_dataloader.dataset)).to_dict()
    while test_cfg.get('type') != 'UHSRDataset' and 'dataset' in test_cfg:
        test_cfg = test_cfg['dataset']  # unwrap UnpairedImageDataset
    if data_root is not None:
        test_cfg['data_root'] = data_root
    try:
        with DefaultScope.overwrite_default_scope('spikeclip'):
            dataset = DATASETS.build(test_cfg)
    except (SpikeFormatError, ConfigError) as e:
        report['skipped']['accuracy'] = f'no test data: {e}'
        return report
    model_cfg = cfg.model
    class_names = load_class_names(model_cfg.get('class_names') or dataset.metainfo['classes'])
    template = model_cfg.get('prompt_template', 'a photo of a {}.')
    prompt_names = model_cfg.get('prompt_names')
    indices = _evenly_spaced(len(dataset), num)
    report['data'] = dict(root=test_cfg.get('data_root'), split=test_cfg.get('split'),
                          files=len(indices), of=len(dataset), classes=len(class_names),
                          template=template, prompt_names=prompt_names)
    with torch.no_grad():
        text = zero_shot_class_features(clip, class_names, template, prompt_names)
    model = None
    if checkpoint is not None:
        model = init_model(checkpoint, device=str(device))
    tfp = TFP()  # mean spike rate over the whole window, as the stage-1 self-supervised target
    probs = dict(tfp=[], tfp_bf16=[], ckpt=[], own=[])
    labels = []
    bf16 = native_bf16(device)
    for start in range(0, len(indices), batch_size):
        batch = pseudo_collate([dataset[i] for i in indices[start:start + batch_size]])
        spikes = torch.stack(batch['inputs']).to(device).float()
        labels.append(torch.stack([s.gt_label for s in batch['data_samples']]).view(-1))
        with torch.no_grad():
            images = tfp(spikes)
            probs['tfp'].append(class_probs(clip, images, text).cpu())
            if bf16:
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    probs['tfp_bf16'].append(class_probs(clip, images, text).cpu())
            if model is not None:
                data = model.data_preprocessor(dict(inputs=list(batch['inputs']),
                                                    data_samples=batch['data_samples']))
                samples = model(data['inputs'], data['data_samples'], mode='predict')
                recon = torch.stack([s.pred_img for s in samples]).float()
                probs['ckpt'].append(class_probs(clip, recon, text).cpu())
                if all('pred_score' in s for s in samples):
                    probs['own'].append(torch.stack([s.pred_score for s in samples]).cpu())
    labels = torch.cat(labels).cpu()
    report['zero_shot_tfp_top1'] = _top1(torch.cat(probs['tfp']), labels)
    if probs['tfp_bf16']:
        a, b = torch.cat(probs['tfp']), torch.cat(probs['tfp_bf16'])
        report['bf16_agreement'] = float((a.argmax(-1) == b.argmax(-1)).float().mean() * 100)
    else:
        report['skipped']['bf16_agreement'] = f'{device} has no native bf16'
    if model is not None:
        report['checkpoint'] = checkpoint
        report['zero_shot_checkpoint_top1'] = _top1(torch.cat(probs['ckpt']), labels)
        names = list(getattr(model, 'class_names', []) or [])
        if probs['own'] and names == list(dataset.metainfo['classes']):
            report['checkpoint_top1'] = _top1(torch.cat(probs['own']), labels)
        else:
            report['skipped']['checkpoint_top1'] = (
                'the checkpoint does not classify' if not probs['own'] else
                f'the checkpoint\'s {len(names)} classes are not the data\'s')
    return report


def format_report(report: dict) -> str:
    """The report as the lines ``tools/check_clip.py`` prints."""
    c = report['clip']
    pp = c['preprocess']
    lines = [
        f'CLIP:          {c["arch"]}, {c["activation"]} activation'
        f'{" (what OpenAI trained with)" if c["quick_gelu"] else ""}, '
        f'logit scale {c["logit_scale"]:.2f}',
        f'weights:       pretrained={c["pretrained"]!r} -> {c["weights_file"]} '
        f'(fingerprint {c["weights"]})',
        f'preprocessing: {c["image_size"][0]}x{c["image_size"][1]}, resize {pp.get("resize_mode")}'
        f' + centre crop, {pp.get("interpolation")}, mean {pp.get("mean")}, std {pp.get("std")}, '
        f'normalize={c["normalize"]}'
        + (f' (grey mean/std {c["grey_mean_std"]})' if c['grey_mean_std'] else ''),
        f'device:        {report["device"]}',
    ]
    if 'data' in report:
        d = report['data']
        lines.append(f'data:          {d["files"]} of {d["of"]} {d["split"]} files in {d["root"]}'
                     f', {d["classes"]} classes, prompts {d["template"]!r}'
                     f' (prompt names: {d["prompt_names"] or "class names"})')
        lines.append(f'zero-shot top-1 on TFP images:        {report["zero_shot_tfp_top1"]:.2f}%')
    if 'zero_shot_checkpoint_top1' in report:
        lines.append(f'zero-shot top-1 on the reconstructions: '
                     f'{report["zero_shot_checkpoint_top1"]:.2f}% ({report["checkpoint"]})')
    if 'checkpoint_top1' in report:
        lines.append(f'the checkpoint\'s own top-1:           {report["checkpoint_top1"]:.2f}%')
    if 'bf16_agreement' in report:
        lines.append(f'top-1 agreement bf16 towers vs fp32:  {report["bf16_agreement"]:.2f}%')
    for what, why in report['skipped'].items():
        lines.append(f'skipped {what}: {why}')
    return '\n'.join(lines)
