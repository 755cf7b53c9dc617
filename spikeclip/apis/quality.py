"""Reconstruction quality of a trained model against the classic baselines at their best.

TFP is scored at every window length in ``windows`` and TFI once, each with the least-squares gain
fitted on the evaluated set itself (the most favourable calibration a baseline can get); the best
TFP window is the one with the highest PSNR. Used by ``tools/benchmark_quality.py`` and the demo.
"""
import os
import os.path as osp
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.registry import DefaultScope

from ..datasets import PairedSpikeDataset, SimulatedSpikeDataset, load_default_images
from ..datasets.default_images import split_region
from ..evaluation.metrics.image_quality import _FUNCS
from ..models.encoders import TFI, TFP
from ..utils.atomic import atomic_save_image

DEFAULT_WINDOWS = (4, 8, 16, 32, 64, 128, 200)


def make_shifted_testset(out_dir: str, size: int = 96, per_image: int = 2, gain: float = 0.65,
                         speed: float = 0.08, dark_current: float = 0.01,
                         threshold_mismatch: float = 0.1, seed: int = 3) -> str:
    """A paired set simulated with other settings than the demo's training: crops of the test
    regions of the embedded images, a fixed light level, stronger noise and motion in every
    window. Returns ``out_dir`` (``spike/*.dat`` + ``gt/*.png``)."""
    from ..datasets import simulate_folder
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for name, img in load_default_images():
            region = split_region(img, 'test')
            h, w = region.shape
            for k in range(per_image):
                y = int(rng.integers(0, max(h - size, 0) + 1))
                x = int(rng.integers(0, max(w - size, 0) + 1))
                crop = region[y:y + size, x:x + size]
                atomic_save_image(osp.join(tmp, name, f'{name}_{k}.png'),
                                  (crop * 255 + 0.5).astype(np.uint8))
        simulate_folder(tmp, out_dir, num_frames=200, height=size, width=size, gain=gain,
                        speed=speed, seed=seed, progress=False,
                        noise=dict(dark_current=dark_current,
                                   threshold_mismatch=threshold_mismatch))
    return out_dir


def _score(preds: torch.Tensor, gts: torch.Tensor) -> Dict[str, float]:
    preds = preds.clamp(0, 1)
    return {m: float(_FUNCS[m](preds, gts).mean()) for m in ('psnr', 'ssim')}


def _fit_gain(preds: torch.Tensor, gts: torch.Tensor) -> float:
    p, t = preds.double().flatten(), gts.double().flatten()
    return float((p * t).sum() / (p * p).sum().clamp_min(1e-12))


@torch.inference_mode()
def compare_with_baselines(model, dataset, windows: Sequence[int] = DEFAULT_WINDOWS,
                           batch_size: int = 16, max_samples: Optional[int] = None) -> dict:
    """PSNR/SSIM of ``model`` (and its coarse stage) and of TFP/TFI at their best on ``dataset``.

    Args:
        model: A stage-1 or later model (``mode='predict'`` fills ``pred_img``/``pred_coarse``).
        dataset: Items with ``gt_img`` references.
        windows (Sequence[int]): TFP window lengths to try.
        batch_size (int): Defaults to 16.
        max_samples (int, optional): Evaluate only the first samples.

    Returns:
        dict: ``model``, ``coarse`` (if different), ``tfp`` (best window, gain, and every window),
        ``tfi``, and ``margin_db`` / ``margin_ssim`` of the model over the better baseline.
    """
    n = len(dataset) if max_samples is None else min(max_samples, len(dataset))
    preds, coarse, gts, spikes_all = [], [], [], []
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, n))]
        data = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                            data_samples=[it['data_samples'] for it in items]))
        samples = model(data['inputs'], data['data_samples'], mode='predict')
        preds.append(torch.stack([s.pred_img.float().cpu() for s in samples]))
        coarse.append(torch.stack([s.pred_coarse.float().cpu() for s in samples]))
        gts.append(torch.stack([s.gt_img.float().cpu() for s in samples]))
        spikes_all.append(data['inputs'].cpu())
    preds, coarse, gts = torch.cat(preds), torch.cat(coarse), torch.cat(gts)
    spikes = torch.cat(spikes_all)
    out = {'num_samples': n, 'model': _score(preds, gts)}
    if not torch.equal(preds, coarse):
        out['coarse'] = _score(coarse, gts)
    tfp_all = {}
    for w in windows:
        if w > spikes.shape[1]:
            continue
        rate = TFP(window=w, gain=1.0)(spikes)  # spike rate <= 1, so the clamp changes nothing
        gain = _fit_gain(rate, gts)
        tfp_all[w] = dict(gain=gain, **_score(rate * gain, gts))
    best = max(tfp_all, key=lambda w: tfp_all[w]['psnr'])
    out['tfp'] = dict(window=best, **tfp_all[best], windows=tfp_all)
    tfi_raw = TFI(gain=1.0)(spikes)  # clamped at 1 spike/frame, i.e. unclamped rates
    gain = _fit_gain(tfi_raw, gts)
    out['tfi'] = dict(gain=gain, **_score(tfi_raw * gain, gts))
    baseline = max(out['tfp']['psnr'], out['tfi']['psnr'])
    out['margin_db'] = out['model']['psnr'] - baseline
    out['margin_ssim'] = out['model']['ssim'] - max(out['tfp']['ssim'], out['tfi']['ssim'])
    return out


def demo_quality_report(checkpoint: str, work_dir: str, config: str = None,
                        max_samples: Optional[int] = None, device: str = 'cpu') -> dict:
    """Compare a demo-trained model with TFP/TFI on the demo's test split and on a paired set
    simulated with other settings (:func:`make_shifted_testset`)."""
    from mmengine.config import Config

    from .inference import init_model
    from .train_all import REPO_ROOT
    model = init_model(checkpoint, device=device)
    cfg = Config.fromfile(config or osp.join(REPO_ROOT, 'configs', 'coarse_demo.py'))
    with DefaultScope.overwrite_default_scope('spikeclip'):
        ds_cfg = cfg.test_dataloader.dataset.to_dict()
        ds_cfg.pop('type')
        test_split = SimulatedSpikeDataset(**ds_cfg)
    shifted_dir = osp.join(work_dir, 'shifted_testset')
    if not osp.isdir(osp.join(shifted_dir, 'spike')):
        os.makedirs(work_dir, exist_ok=True)
        make_shifted_testset(shifted_dir)
    shifted = PairedSpikeDataset(shifted_dir, height=96, width=96)
    return {'demo_test_split': compare_with_baselines(model, test_split, max_samples=max_samples),
            'shifted_paired_set': compare_with_baselines(model, shifted,
                                                         max_samples=max_samples)}


def format_report(report: dict) -> str:
    """A text table of :func:`demo_quality_report`'s result."""
    lines = []
    for name, r in report.items():
        lines.append(f'{name} ({r["num_samples"]} samples)')
        rows = [('model', r['model'])]
        if 'coarse' in r:
            rows.append(('coarse (stage 1)', r['coarse']))
        rows.append((f'TFP best (window {r["tfp"]["window"]}, gain {r["tfp"]["gain"]:.2f})',
                     r['tfp']))
        rows.append((f'TFI (gain {r["tfi"]["gain"]:.2f})', r['tfi']))
        for label, m in rows:
            lines.append(f'  {label:<36} PSNR {m["psnr"]:6.2f} dB   SSIM {m["ssim"]:.4f}')
        lines.append(f'  margin over the best baseline: {r["margin_db"]:+.2f} dB PSNR, '
                     f'{r["margin_ssim"]:+.4f} SSIM')
    return '\n'.join(lines)
