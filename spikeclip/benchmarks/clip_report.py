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

from ..evaluation.intervals import mean_with_ci
from ..utils.errors import ConfigError

ROWS = (('clean', 'clean reference'), ('tfp', 'TFP (mean rate of the window)'),
        ('coarse', 'coarse (stage 1)'), ('refined', 'refined (stage 3)'))


def _topk_hits(probs: torch.Tensor, labels: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Per window, whether the label is the top-1 / among the top-5 classes (``[N]`` floats)."""
    k = min(5, probs.shape[1])
    top = probs.topk(k, dim=1).indices
    return dict(top1=(top[:, 0] == labels).float(), top5=(top == labels[:, None]).any(1).float())


def _with_ci(hits: Dict[str, torch.Tensor], groups: list) -> Dict[str, dict]:
    """``{'top1': 55.5, 'top5': ..., 'top1_ci': [low, high], 'top5_ci': [...]}`` in percent."""
    out = {}
    for key, v in hits.items():
        m = mean_with_ci(v.numpy(), groups, scale=100)
        out[key], out[f'{key}_ci'] = m['mean'], [m['low'], m['high']]
    return out


def _diff(a: torch.Tensor, b: torch.Tensor, groups: list) -> dict:
    """Paired difference of two per-window hit rates, in percentage points, with its interval."""
    m = mean_with_ci((a - b).numpy(), groups, scale=100)
    return dict(mean=m['mean'], ci=[m['low'], m['high']])


@torch.no_grad()
def clip_report(checkpoint: str, config: str, num: Optional[int] = None,
                template: str = 'a photo of a {}.', tfp_gain: float = 1.0,
                batch_size: int = 16, device: Optional[str] = None) -> dict:
    """Score the CLIP side of a combined model on the test split of ``config``.

    Every rate comes with a 95 % interval from a two-level bootstrap (source images, then the
    windows of each; :func:`~spikeclip.evaluation.intervals.bootstrap_ci`): the demo's test
    windows come from only 12 photographs, so windows are not independent.

    Args:
        checkpoint (str): Combined model (``combined_model.pth``) or stage-3 checkpoint.
        config (str): Config whose ``test_dataloader.dataset`` is the data (with references and
            labels), e.g. ``configs/pipeline_demo.py``. Its test split must not be the split
            the checkpoints were selected on (the shipped configs select on ``val``).
        num (int, optional): Use the first ``num`` test windows. Defaults to all.
        template (str): Hand-written prompt of the zero-shot rows. Defaults to
            ``'a photo of a {}.'``.
        tfp_gain (float): Gain of the TFP row (the mean spike rate of the window times it; 1 for
            references that are spike rates, as the demo's). Defaults to 1.0.
        batch_size (int): Windows per forward pass. Defaults to 16.
        device (str, optional): Defaults to CUDA where available.

    Returns:
        dict: ``samples``, ``images`` (distinct source images), ``classes``, ``chance``
        (percent), ``zero_shot`` and ``learned`` (row -> ``top1``/``top5`` and their ``_ci``),
        ``hq_prob`` (row -> mean probability of the learned high-quality prompt), ``hq_lq_acc``
        and ``hq_lq_acc_handwritten`` (references vs coarse, learned and hand-written quality
        prompts, with ``_ci``), ``gains`` (paired differences with intervals: learned minus
        hand-written prompts on the coarse images, coarse minus TFP zero-shot, learned minus
        hand-written HQ/LQ separation), ``psnr`` (coarse/refined), ``stage3_hq_up``,
        ``stage3_psnr_kept``.

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
    # The hand-written baseline of the quality prompts: their initial words, as plain text.
    hq_texts = tuple(getattr(model.hq_lq, 'init_texts', ('high quality', 'low quality')))
    hq_handwritten = clip.encode_text(list(hq_texts))
    tfp = TFP(gain=tfp_gain)
    out = {k: [] for k in ('labels', 'psnr_coarse', 'psnr_refined')}
    groups = []
    for row, _ in ROWS:
        out[f'zs_{row}'], out[f'hq_{row}'], out[f'hqhw_{row}'] = [], [], []
    out['learned_coarse'], out['learned_refined'] = [], []
    for start in range(0, n, batch_size):
        batch = pseudo_collate([dataset[i] for i in range(start, min(n, start + batch_size))])
        data = model.data_preprocessor(batch)
        samples = data['data_samples']
        if not all('gt_img' in s and 'gt_label' in s for s in samples):
            raise ConfigError(f'{config}: clip_report needs test data with references (gt_img) '
                              f'and labels (gt_label)')
        # The unit of the bootstrap: the source image of each window (its label where the data
        # names no image).
        groups += [str(s.metainfo.get('img_path', int(s.gt_label.view(-1)[0])))
                   for s in samples]
        refined, coarse = model(data['inputs'], mode='tensor')
        images = dict(clean=torch.stack([s.gt_img for s in samples]).float(),
                      tfp=tfp(data['inputs']), coarse=coarse.float(), refined=refined.float())
        out['labels'].append(torch.stack([s.gt_label for s in samples]).view(-1).cpu())
        for row, img in images.items():
            feats = clip.encode_image(img)
            out[f'zs_{row}'].append(clip.logits(feats, handwritten).softmax(-1).cpu())
            out[f'hq_{row}'].append(model.hq_lq.logits(feats, hq_prompts).softmax(-1)[:, 0].cpu())
            out[f'hqhw_{row}'].append(
                model.hq_lq.logits(feats, hq_handwritten).softmax(-1)[:, 0].cpu())
            if row in ('coarse', 'refined'):
                out[f'learned_{row}'].append(class_probs(clip, img, cls_prompts).cpu())
                out[f'psnr_{row}'].append(psnr(img.clamp(0, 1), images['clean']).cpu())
    cat = {k: torch.cat(v) for k, v in out.items()}
    labels = cat['labels']
    hq = {row: float(cat[f'hq_{row}'].mean()) for row, _ in ROWS}
    zs_hits = {row: _topk_hits(cat[f'zs_{row}'], labels) for row, _ in ROWS}
    learned_hits = {row: _topk_hits(cat[f'learned_{row}'], labels)
                    for row in ('coarse', 'refined')}
    # A window is separated when its reference scores high quality and its coarse image low.
    sep = {name: ((cat[f'{key}_clean'] > 0.5).float() + (cat[f'{key}_coarse'] < 0.5).float()) / 2
           for name, key in (('learned', 'hq'), ('handwritten', 'hqhw'))}
    sep_ci = {name: mean_with_ci(v.numpy(), groups, scale=100) for name, v in sep.items()}
    report = dict(
        checkpoint=checkpoint, config=config, samples=n, images=len(set(groups)),
        classes=len(model.class_names), chance=100.0 / len(model.class_names),
        template=template, hq_lq_handwritten_texts=list(hq_texts),
        clip=dict(arch=clip.arch, pretrained=clip.pretrained, weights=clip.weights_fingerprint),
        zero_shot={row: _with_ci(h, groups) for row, h in zs_hits.items()},
        learned={row: _with_ci(h, groups) for row, h in learned_hits.items()},
        hq_prob=hq,
        hq_lq_acc=sep_ci['learned']['mean'],
        hq_lq_acc_ci=[sep_ci['learned']['low'], sep_ci['learned']['high']],
        hq_lq_acc_handwritten=sep_ci['handwritten']['mean'],
        hq_lq_acc_handwritten_ci=[sep_ci['handwritten']['low'], sep_ci['handwritten']['high']],
        gains=dict(
            learned_vs_handwritten_coarse=_diff(learned_hits['coarse']['top1'],
                                                zs_hits['coarse']['top1'], groups),
            coarse_vs_tfp_zero_shot=_diff(zs_hits['coarse']['top1'], zs_hits['tfp']['top1'],
                                          groups),
            hq_lq_learned_vs_handwritten=_diff(sep['learned'], sep['handwritten'], groups)),
        psnr=dict(coarse=float(cat['psnr_coarse'].mean()),
                  refined=float(cat['psnr_refined'].mean())))
    report['stage3_hq_up'] = hq['refined'] > hq['coarse']
    report['stage3_psnr_kept'] = report['psnr']['refined'] >= report['psnr']['coarse']
    return report


GAIN_ROWS = (('learned_vs_handwritten_coarse', 'learned - hand-written class prompts, coarse'),
             ('coarse_vs_tfp_zero_shot', 'coarse - TFP, zero-shot'),
             ('hq_lq_learned_vs_handwritten', 'learned - hand-written HQ/LQ separation'))


def _ci(value: float, ci) -> str:
    return f'{value:5.1f} [{ci[0]:4.1f}, {ci[1]:4.1f}]'


def _verdict(gain: dict) -> str:
    """What a paired difference's interval supports."""
    low, high = gain['ci']
    return 'higher' if low > 0 else 'lower' if high < 0 else 'no difference shown'


def format_clip_report(report: dict) -> str:
    """The report as the table ``make demo`` prints: every rate with its 95 % interval."""
    z, learned, hq = report['zero_shot'], report['learned'], report['hq_prob']
    lines = [f'CLIP on {report["samples"]} test windows from {report["images"]} images, '
             f'{report["classes"]} classes (chance {report["chance"]:.1f}%), CLIP '
             f'{report["clip"]["arch"]} ({report["clip"]["weights"]}); top-1 % with 95 % '
             'intervals (bootstrap over images and windows):',
             f'  {"image":<32} {"zero-shot top-1":>22} {"learned prompts":>22} '
             f'{"P(high quality)":>16}']
    for row, title in ROWS:
        lp = _ci(learned[row]['top1'], learned[row]['top1_ci']) if row in learned else ''
        lines.append(f'  {title:<32} {_ci(z[row]["top1"], z[row]["top1_ci"]):>22} {lp:>22} '
                     f'{hq[row]:16.3f}')
    g, p = report['gains'], report['psnr']
    verdict = ('yes' if report['stage3_hq_up'] and report['stage3_psnr_kept'] else 'no')
    hw = ' / '.join(repr(t) for t in report['hq_lq_handwritten_texts'])
    lines += [
        f'  HQ/LQ separation, references vs coarse: learned prompts '
        f'{_ci(report["hq_lq_acc"], report["hq_lq_acc_ci"])}%, hand-written {hw} '
        f'{_ci(report["hq_lq_acc_handwritten"], report["hq_lq_acc_handwritten_ci"])}%',
        '  paired differences (percentage points, 95 % interval):',
        *(f'    {title}: {_ci(g[key]["mean"], g[key]["ci"])} ({_verdict(g[key])})'
          for key, title in GAIN_ROWS),
        f'  stage 3: P(high quality) {hq["coarse"]:.3f} -> {hq["refined"]:.3f}, PSNR '
        f'{p["coarse"]:.2f} -> {p["refined"]:.2f} dB (higher quality without losing PSNR: '
        f'{verdict})']
    return '\n'.join(lines)
