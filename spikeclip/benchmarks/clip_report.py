"""What the CLIP half of a combined model does, stage by stage, on a test split.

``clip_report(combined_model, config)`` scores, side by side on the same test windows:

* zero-shot top-1/top-5 (hand-written prompts) on the clean references, on TFP images of the
  spikes, on the stage-1 (coarse) and on the stage-3 (refined) reconstructions;
* top-1/top-5 of the learned class prompts (stage 2) on the coarse and refined images;
* the probability of the learned high-quality prompt (stage 2) for the references, the coarse
  and the refined images, and the HQ/LQ separation of references vs coarse images (as stage 2's
  ``PromptSeparation`` counts it);
* PSNR of the coarse and refined images, and whether stage 3 raised the high-quality
  probability of the reconstructions without losing PSNR.

``make demo`` prints it (:func:`format_clip_report`) and writes it to
``<work_root>/demo/clip_report.json``.
"""
from typing import Dict, Optional

import torch
from mmengine.dataset import pseudo_collate

from ..utils.errors import ConfigError

ROWS = (('clean', 'clean reference'), ('tfp', 'TFP (mean rate of the window)'),
        ('coarse', 'coarse (stage 1)'), ('refined', 'refined (stage 3)'))


def _topk(probs: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    k = min(5, probs.shape[1])
    top = probs.topk(k, dim=1).indices
    return dict(top1=float((top[:, 0] == labels).float().mean() * 100),
                top5=float((top == labels[:, None]).any(1).float().mean() * 100))


@torch.no_grad()
def clip_report(checkpoint: str, config: str, num: Optional[int] = None,
                template: str = 'a photo of a {}.', tfp_gain: float = 1.0,
                batch_size: int = 16, device: Optional[str] = None) -> dict:
    """Score the CLIP side of a combined model on the test split of ``config``.

    Args:
        checkpoint (str): Combined model (``combined_model.pth``) or stage-3 checkpoint.
        config (str): Config whose ``test_dataloader.dataset`` is the data (with references and
            labels), e.g. ``configs/pipeline_demo.py``.
        num (int, optional): Use the first ``num`` test windows. Defaults to all.
        template (str): Hand-written prompt of the zero-shot rows. Defaults to
            ``'a photo of a {}.'``.
        tfp_gain (float): Gain of the TFP row (the mean spike rate of the window times it; 1 for
            references that are spike rates, as the demo's). Defaults to 1.0.
        batch_size (int): Windows per forward pass. Defaults to 16.
        device (str, optional): Defaults to CUDA where available.

    Returns:
        dict: ``samples``, ``classes``, ``chance`` (percent), ``zero_shot`` and ``learned``
        (row -> ``top1``/``top5``), ``hq_prob`` (row -> mean probability of the learned
        high-quality prompt), ``hq_lq_acc`` (references vs coarse), ``psnr``
        (coarse/refined), ``stage3_hq_up``, ``stage3_psnr_kept``.

    Raises:
        ConfigError: The model has no CLIP, prompts or refiner, or the data no labels or
            references.
    """
    from mmengine.registry import DefaultScope

    from ..apis.inference import init_model
    from ..engine.runner import load_config
    from ..evaluation import psnr
    from ..models.adapters.class_prompt import zero_shot_class_features
    from ..models.encoders import TFP
    from ..models.stages.base import class_probs
    from ..registry import DATASETS
    from ..utils.device import check_device
    device = torch.device(check_device(device))
    model = init_model(checkpoint, device=str(device))
    for part in ('clip', 'refiner', 'hq_lq', 'class_prompt'):
        if getattr(model, part, None) is None:
            raise ConfigError(f'{checkpoint}: clip_report needs a combined model with a CLIP, a '
                              f'refiner and both prompt learners; it has no {part}')
    cfg = load_config(config)
    with DefaultScope.overwrite_default_scope('spikeclip'):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
    n = len(dataset) if num is None else min(num, len(dataset))
    clip = model.clip
    handwritten = zero_shot_class_features(clip, model.class_names, template, model.prompt_names)
    hq_prompts, cls_prompts = model.prompt_features()
    tfp = TFP(gain=tfp_gain)
    out = {k: [] for k in ('labels', 'psnr_coarse', 'psnr_refined')}
    for row, _ in ROWS:
        out[f'zs_{row}'], out[f'hq_{row}'] = [], []
    out['learned_coarse'], out['learned_refined'] = [], []
    for start in range(0, n, batch_size):
        batch = pseudo_collate([dataset[i] for i in range(start, min(n, start + batch_size))])
        data = model.data_preprocessor(batch)
        samples = data['data_samples']
        if not all('gt_img' in s and 'gt_label' in s for s in samples):
            raise ConfigError(f'{config}: clip_report needs test data with references (gt_img) '
                              f'and labels (gt_label)')
        refined, coarse = model(data['inputs'], mode='tensor')
        images = dict(clean=torch.stack([s.gt_img for s in samples]).float(),
                      tfp=tfp(data['inputs']), coarse=coarse.float(), refined=refined.float())
        out['labels'].append(torch.stack([s.gt_label for s in samples]).view(-1).cpu())
        for row, img in images.items():
            feats = clip.encode_image(img)
            out[f'zs_{row}'].append(clip.logits(feats, handwritten).softmax(-1).cpu())
            out[f'hq_{row}'].append(model.hq_lq.logits(feats, hq_prompts).softmax(-1)[:, 0].cpu())
            if row in ('coarse', 'refined'):
                out[f'learned_{row}'].append(class_probs(clip, img, cls_prompts).cpu())
                out[f'psnr_{row}'].append(psnr(img.clamp(0, 1), images['clean']).cpu())
    cat = {k: torch.cat(v) for k, v in out.items()}
    labels = cat['labels']
    hq = {row: float(cat[f'hq_{row}'].mean()) for row, _ in ROWS}
    report = dict(
        checkpoint=checkpoint, config=config, samples=n, classes=len(model.class_names),
        chance=100.0 / len(model.class_names), template=template,
        clip=dict(arch=clip.arch, pretrained=clip.pretrained, weights=clip.weights_fingerprint),
        zero_shot={row: _topk(cat[f'zs_{row}'], labels) for row, _ in ROWS},
        learned={row: _topk(cat[f'learned_{row}'], labels) for row in ('coarse', 'refined')},
        hq_prob=hq,
        hq_lq_acc=float(torch.cat([cat['hq_clean'] > 0.5, cat['hq_coarse'] < 0.5]).float().mean()
                        * 100),
        psnr=dict(coarse=float(cat['psnr_coarse'].mean()),
                  refined=float(cat['psnr_refined'].mean())))
    report['stage3_hq_up'] = hq['refined'] > hq['coarse']
    report['stage3_psnr_kept'] = report['psnr']['refined'] >= report['psnr']['coarse']
    return report


def format_clip_report(report: dict) -> str:
    """The report as the table ``make demo`` prints."""
    z, learned, hq = report['zero_shot'], report['learned'], report['hq_prob']
    lines = [f'CLIP on {report["samples"]} test windows, {report["classes"]} classes (chance '
             f'{report["chance"]:.1f}%), CLIP {report["clip"]["arch"]} '
             f'({report["clip"]["weights"]}):',
             f'  {"image":<32} {"zero-shot top-1/top-5":>22} {"learned prompts":>16} '
             f'{"P(high quality)":>16}']
    for row, title in ROWS:
        lp = (f'{learned[row]["top1"]:5.1f} / {learned[row]["top5"]:5.1f}' if row in learned
              else '')
        lines.append(f'  {title:<32} {z[row]["top1"]:10.1f} / {z[row]["top5"]:5.1f}   '
                     f'{lp:>16} {hq[row]:16.3f}')
    p = report['psnr']
    verdict = ('yes' if report['stage3_hq_up'] and report['stage3_psnr_kept'] else 'no')
    lines += [f'  HQ/LQ separation, references vs coarse: {report["hq_lq_acc"]:.1f}%',
              f'  stage 3: P(high quality) {hq["coarse"]:.3f} -> {hq["refined"]:.3f}, PSNR '
              f'{p["coarse"]:.2f} -> {p["refined"]:.2f} dB (higher quality without losing PSNR: '
              f'{verdict})']
    return '\n'.join(lines)
