"""Reconstruction quality of trained models against the classic baselines at their best.

Every method is scored after a least-squares gain fitted over the whole evaluated set (one scalar
per method and set; the most favourable calibration a baseline can get, and what external checks
on real-format recordings do, since a reference photograph has its own brightness scale). TFP is
scored at every window length and the best one reported; TFI once. Models read the centre window
of their own length from each recording. Used by ``tools/benchmark_quality.py`` and the demo.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..evaluation.intervals import bootstrap_ci
from ..evaluation.metrics import BRISQUE, NIQE
from ..evaluation.metrics.image_quality import _FUNCS
from ..evaluation.metrics.no_reference import grey_image
from ..models.encoders import TFI, TFP, fit_gain

DEFAULT_WINDOWS = (3, 5, 9, 13, 17, 21, 29, 41, 64, 81, 128, 161, 200, 251)

# Test sets that differ from every training recipe of the toolkit: held-out photographs and
# dead-leaves images (the 'test' split of the sources), and motion, objects, light and noise
# outside or at the edges of the training ranges. Each is recorded at 250x400 for 200 frames
# (the still sets: 301), with the reference at the centre frame, so long-window and short-window
# models are scored alike. The reference is the scene itself (as a photograph of a real scene
# would be) and the light gain is fixed per set (one sensor, one exposure: rate = gain * scene),
# so one least-squares gain per set and method calibrates every method, as the external checks
# on real-format recordings do.
# The sensor noise of every set but 'calibrated_sensor': the simulator's defaults before they
# were calibrated to physical cameras (much stronger shot noise, twice the fixed pattern), kept
# so that their figures stay comparable across versions.
PRE_CALIBRATION_NOISE = dict(dark_current=(0.0, 0.01), threshold_mismatch=(0.0, 0.06),
                             photons_per_frame=(50.0, 2000.0), dark_current_mismatch=0.0,
                             read_noise=0.0)
REALISTIC_TESTSETS = {
    # camera pans and slow turns at the speeds of handheld recordings, no objects
    'camera_pan': dict(
        motion=dict(static_prob=0.0, min_speed=0.1, max_speed=0.3, accel_prob=0.0, max_spin=0.05,
                    max_zoom=0.001, shake_prob=0.0),
        objects=None, light=dict(gain=0.6),
        noise=dict(PRE_CALIBRATION_NOISE, dark_current=(0.002, 0.005),
                   threshold_mismatch=(0.02, 0.04), photons_per_frame=(200.0, 1000.0))),
    # a fast camera and objects faster than any in training (up to 2.5 px/frame)
    'fast_objects': dict(
        motion=dict(static_prob=0.0, min_speed=0.3, max_speed=1.0),
        objects=dict(prob=1.0, max_count=3, min_speed=0.5, max_speed=2.5),
        light=dict(gain=0.8), noise=PRE_CALIBRATION_NOISE),
    # darker (mean rate ~0.035), noisier and with more dark current than the training ranges
    'low_light': dict(
        motion=dict(static_prob=0.0, min_speed=0.05, max_speed=0.2),
        objects=dict(prob=0.5), light=dict(gain=0.08),
        noise=dict(PRE_CALIBRATION_NOISE, dark_current=(0.01, 0.02),
                   threshold_mismatch=(0.04, 0.06), photons_per_frame=(20.0, 50.0))),
    # brighter than training (bright areas saturate), a sensor that resets to zero, strong
    # fixed-pattern noise
    'bright_reset_zero': dict(
        motion=dict(static_prob=0.0, min_speed=0.1, max_speed=0.4),
        objects=dict(prob=0.5), light=dict(gain=1.5),
        noise=dict(PRE_CALIBRATION_NOISE, threshold_mismatch=(0.08, 0.1), reset_zero_prob=1.0)),
    # still scenes (where long windows shine): nothing may be lost on them
    'static': dict(motion=None, objects=None, light=dict(gain=0.5),
                   noise=dict(PRE_CALIBRATION_NOISE, dark_current=(0.0, 0.005),
                              threshold_mismatch=(0.0, 0.03))),
    # still scenes at three light levels (about 0.2, 0.1 and 0.03 spikes per frame), recorded
    # long enough for the longest windows (STILL_FRAMES): where a long average is hard to beat
    'still_bright': dict(motion=None, objects=None, light=dict(gain=0.5),
                         noise=dict(PRE_CALIBRATION_NOISE, dark_current=(0.0, 0.005),
                                    threshold_mismatch=(0.0, 0.03),
                                    photons_per_frame=(200.0, 2000.0))),
    'still_dim': dict(motion=None, objects=None, light=dict(gain=0.25),
                      noise=dict(PRE_CALIBRATION_NOISE, dark_current=(0.0, 0.005),
                                 threshold_mismatch=(0.0, 0.03),
                                 photons_per_frame=(100.0, 1000.0))),
    'still_dark': dict(motion=None, objects=None, light=dict(gain=0.07),
                       noise=dict(PRE_CALIBRATION_NOISE, dark_current=(0.002, 0.005),
                                  threshold_mismatch=(0.0, 0.03),
                                  photons_per_frame=(50.0, 500.0))),
    # the sensor calibrated to physical cameras (the simulator's defaults: regular spike timing,
    # a fixed pattern up to 3 %, little temporal noise), handheld motion with still moments and
    # objects, a medium light level
    'calibrated_sensor': dict(
        motion=dict(static_prob=0.3, min_speed=0.05, max_speed=0.5),
        objects=dict(prob=0.3), light=dict(gain=0.4), noise={}),
}
# Recording length of each set (frames; the reference is the centre frame); others: 200.
STILL_FRAMES = 301
SET_FRAMES = {'still_bright': STILL_FRAMES, 'still_dim': STILL_FRAMES, 'still_dark': STILL_FRAMES}
# Seed order of the sets: the first five keep the seeds they were recorded with before the
# still sets were added.
_SEED_ORDER = ['bright_reset_zero', 'camera_pan', 'fast_objects', 'low_light', 'static',
               'still_bright', 'still_dim', 'still_dark', 'calibrated_sensor']
TESTSET_IMAGES = ('packaged', dict(type='dead_leaves', num_images=2, size=384))


def make_realistic_testset(name: str, out_dir: str, num_frames: Optional[int] = None,
                           height: int = 250,
                           width: int = 400, per_image: int = 4, seed: int = 2024,
                           progress: bool = False) -> str:
    """Record one of :data:`REALISTIC_TESTSETS` as a paired set (``spike/*.dat`` + ``gt/*.png``)
    from the held-out images (:data:`TESTSET_IMAGES`, split ``'test'``), ``num_frames`` long
    (None: the set's own length, :data:`SET_FRAMES`, else 200). Returns ``out_dir``."""
    from ..datasets import simulate_folder
    if name not in REALISTIC_TESTSETS:
        raise ValueError(f'unknown test set {name!r}; expected one of {list(REALISTIC_TESTSETS)}')
    if num_frames is None:
        num_frames = SET_FRAMES.get(name, 200)
    simulate_folder(list(TESTSET_IMAGES), out_dir, num_frames=num_frames, height=height,
                    width=width, per_image=per_image, split='test', margin=0.5, reference='scene',
                    seed=seed + _SEED_ORDER.index(name), progress=progress,
                    **REALISTIC_TESTSETS[name])
    return out_dir


def realistic_testsets(root: str, names: Optional[Sequence[str]] = None, **kwargs) -> Dict:
    """The realistic test sets as :class:`~spikeclip.datasets.PairedSpikeDataset` s, recorded
    under ``root/<name>`` on first use (a few minutes each on two CPU cores) and reused after.

    Args:
        root (str): Cache folder.
        names (Sequence[str], optional): Which sets; None for all.
        **kwargs: Recording options of :func:`make_realistic_testset` (a cached set recorded with
            other options is not re-recorded; use another ``root``).
    """
    from ..datasets import PairedSpikeDataset
    height, width = kwargs.get('height', 250), kwargs.get('width', 400)
    out = {}
    for name in names or list(REALISTIC_TESTSETS):
        folder = osp.join(root, name)
        if not osp.isfile(osp.join(folder, 'scenes.json')):  # written last: the set is complete
            print(f'recording the {name!r} test set in {folder} ...', flush=True)
            make_realistic_testset(name, folder, **kwargs)
        out[name] = PairedSpikeDataset(folder, height=height, width=width)
    return out


def config_test_set(config: str):
    """The test dataset of a config (``test_dataloader.dataset``), built in the toolkit's scope.

    Raises:
        ConfigError: The config does not read (:func:`~spikeclip.engine.runner.load_config`).
    """
    from mmengine.registry import DefaultScope

    from ..engine.runner import load_config
    from ..registry import DATASETS
    cfg = load_config(config)
    with DefaultScope.overwrite_default_scope('spikeclip'):
        return DATASETS.build(cfg.test_dataloader.dataset.to_dict())


def fitted_score(preds: torch.Tensor, gts: torch.Tensor, fit: bool = True,
                 ssim: bool = True) -> Dict[str, float]:
    """PSNR/SSIM of ``preds`` ``[N, 1, H, W]`` against ``gts`` after one least-squares gain
    fitted over all of them (:func:`~spikeclip.models.encoders.fit_gain`; 1 without ``fit``),
    the prediction clamped to [0, 1]: the benchmark's rule, also the PSNR in the titles of the
    visualizer's grids. Returns ``psnr``, ``ssim`` and ``gmsd`` (means; neither of the last two
    without ``ssim``), ``gain``, ``per_sample_psnr``."""
    gain = fit_gain(preds, gts) if fit else 1.0
    preds = (preds * gain).clamp(0, 1)
    psnr = _FUNCS['psnr'](preds, gts)
    out = dict(psnr=float(psnr.mean()), gain=gain, per_sample_psnr=[float(v) for v in psnr])
    if ssim:
        out['ssim'] = float(_FUNCS['ssim'](preds, gts).mean())
        out['gmsd'] = float(_FUNCS['gmsd'](preds, gts).mean())
    return out


def _no_reference(preds: torch.Tensor) -> Dict[str, Optional[float]]:
    """Mean NIQE and BRISQUE of ``[N, 1, H, W]`` images in [0, 1] (None where too small)."""
    out = {}
    for metric in (NIQE(), BRISQUE()):
        ok = [v for v in (metric.try_score(grey_image(p)) for p in preds) if v is not None]
        out[metric.measure.lower()] = float(np.mean(ok)) if ok else None
    return out


def _centre_rates(spikes: torch.Tensor, windows: Sequence[int]) -> Dict[int, torch.Tensor]:
    """Unclamped centred TFP rates ``[N, 1, H, W]`` for each window length that fits."""
    t = spikes.shape[1]
    out = {}
    for w in windows:
        if w <= t:
            out[w] = TFP(window=w, gain=1.0)(spikes)  # rates <= 1: the clamp changes nothing
    return out


@torch.inference_mode()
def evaluate_methods(models: Dict[str, torch.nn.Module], dataset,
                     windows: Sequence[int] = DEFAULT_WINDOWS, batch_size: int = 4,
                     max_samples: Optional[int] = None, keep_images: int = 0) -> dict:
    """PSNR/SSIM (after a fitted gain) of models and of TFP/TFI at their best on ``dataset``.

    Args:
        models (dict): Name -> model in eval mode (a stage-1 or later model: ``mode='predict'``
            fills ``pred_img``; the coarse image is scored too where it differs).
        dataset: Items with ``gt_img`` references.
        windows (Sequence[int]): TFP window lengths to try (those longer than the recordings
            are skipped).
        batch_size (int): Defaults to 4.
        max_samples (int, optional): Evaluate only the first samples.
        keep_images (int): Also return the images of the first ``keep_images`` samples (for
            grids). Defaults to 0.

    Returns:
        dict: ``num_samples``, ``methods`` (name -> psnr, ssim, gain, niqe, brisque: the
        no-reference scores, None below their minimum size), ``tfp_windows`` (every
        window), ``best_tfp_window``, and with ``keep_images`` an ``images`` dict.
    """
    n = len(dataset) if max_samples is None else min(max_samples, len(dataset))
    preds: Dict[str, List[torch.Tensor]] = {}
    gts = []
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, n))]
        spikes = torch.stack([it['inputs'] for it in items]).float()
        gts.append(torch.stack([it['data_samples'].gt_img.float() for it in items]))
        for w, rate in _centre_rates(spikes, windows).items():
            preds.setdefault(f'TFP-{w}', []).append(rate)
        preds.setdefault('TFI', []).append(TFI(gain=1.0)(spikes))  # unclamped below 1 spike/frame
        for name, model in models.items():
            data = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                                data_samples=None))
            samples = model(data['inputs'], None, mode='predict')
            img = torch.stack([s.pred_img.float().cpu() for s in samples])
            preds.setdefault(name, []).append(img)
            if 'pred_coarse' in samples[0]:
                coarse = torch.stack([s.pred_coarse.float().cpu() for s in samples])
                if not torch.equal(coarse, img):
                    preds.setdefault(f'{name} (coarse)', []).append(coarse)
    gt = torch.cat(gts)
    scores = {k: fitted_score(torch.cat(v), gt) for k, v in preds.items()}
    tfp = {int(k[4:]): v for k, v in scores.items() if k.startswith('TFP-')}
    best = max(tfp, key=lambda w: tfp[w]['psnr'])
    methods = {f'TFP (best: {best} frames)': tfp[best], 'TFI': scores['TFI']}
    methods.update({k: v for k, v in scores.items() if not k.startswith('TFP-') and k != 'TFI'})
    keys = {f'TFP (best: {best} frames)': f'TFP-{best}'}
    for name, m in methods.items():  # no-reference scores of the calibrated images
        m.update(_no_reference((torch.cat(preds[keys.get(name, name)]) * m['gain']).clamp(0, 1)))
    out = dict(num_samples=n, methods=methods, best_tfp_window=best,
               tfp_windows={w: dict(psnr=v['psnr'], ssim=v['ssim'], gmsd=v['gmsd'], gain=v['gain'])
                            for w, v in sorted(tfp.items())})
    if keep_images:
        k = min(keep_images, n)
        keep = {f'TFP-{best}': f'TFP (best: {best} frames)', 'TFI': 'TFI'}
        keep.update({m: m for m in models})
        out['images'] = dict(
            reference=gt[:k],
            **{label: (torch.cat(preds[key])[:k] * scores[key]['gain']).clamp(0, 1)
               for key, label in keep.items()})
    return out


def compare_with_baselines(model, dataset, windows: Sequence[int] = DEFAULT_WINDOWS,
                           batch_size: int = 16, max_samples: Optional[int] = None) -> dict:
    """One model against TFP (best window) and TFI, all after a fitted gain.

    Returns:
        dict: ``model``, ``coarse`` (if different), ``tfp`` (best window, its gain and every
        window), ``tfi``, and ``margin_db`` / ``margin_ssim`` of the model over the better
        baseline.
    """
    r = evaluate_methods({'model': model}, dataset, windows, batch_size, max_samples)
    m = r['methods']
    best = r['best_tfp_window']
    out = dict(num_samples=r['num_samples'], model=m['model'],
               tfp=dict(window=best, **m[f'TFP (best: {best} frames)'],
                        windows=r['tfp_windows']),
               tfi=m['TFI'])
    if 'model (coarse)' in m:
        out['coarse'] = m['model (coarse)']
    out['margin_db'] = out['model']['psnr'] - max(out['tfp']['psnr'], out['tfi']['psnr'])
    out['margin_ssim'] = out['model']['ssim'] - max(out['tfp']['ssim'], out['tfi']['ssim'])
    return out


def format_report(report: dict) -> str:
    """A text table of :func:`compare_with_baselines` results (name -> result)."""
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
            nr = ''.join(f'   {k.upper()} {m[k]:6.2f}' for k in ('niqe', 'brisque')
                         if m.get(k) is not None)
            lines.append(f'  {label:<36} PSNR {m["psnr"]:6.2f} dB   SSIM {m["ssim"]:.4f}{nr}')
        lines.append(f'  margin over the best baseline: {r["margin_db"]:+.2f} dB PSNR, '
                     f'{r["margin_ssim"]:+.4f} SSIM')
    return '\n'.join(lines)


def format_table(results: Dict[str, dict]) -> str:
    """Methods x test sets, PSNR / SSIM after the fitted gain (``results``: set -> result of
    :func:`evaluate_methods`), with the margin of each method over the best baseline, then the
    detail measure GMSD (:func:`~spikeclip.evaluation.metrics.gmsd`) and the no-reference NIQE /
    BRISQUE of each."""
    sets = list(results)
    methods = []
    for r in results.values():
        for m in r['methods']:
            key = 'TFP (best window)' if m.startswith('TFP (best') else m
            if key not in methods:
                methods.append(key)

    def get(r, m):
        if m == 'TFP (best window)':
            return r['methods'][f'TFP (best: {r["best_tfp_window"]} frames)']
        return r['methods'].get(m)

    width = max(len(m) for m in methods) + 2
    head = ''.join(f'{s[:17]:>18}' for s in sets)
    lines = [f'{"PSNR dB / SSIM":<{width}}{head}']
    for m in methods:
        row = ''
        for s in sets:
            v = get(results[s], m)
            row += f'{v["psnr"]:>10.2f}/{v["ssim"]:.3f}' if v else f'{"-":>18}'
        lines.append(f'{m:<{width}}{row}')
    lines.append(f'{"best TFP window":<{width}}' +
                 ''.join(f'{results[s]["best_tfp_window"]:>18}' for s in sets))
    for m in methods:
        if m in ('TFP (best window)', 'TFI'):
            continue
        row = ''
        for s in sets:
            v, r = get(results[s], m), results[s]
            base = max(get(r, 'TFP (best window)')['psnr'], r['methods']['TFI']['psnr'])
            base_ssim = max(get(r, 'TFP (best window)')['ssim'], r['methods']['TFI']['ssim'])
            row += f'{v["psnr"] - base:>+10.2f}/{v["ssim"] - base_ssim:+.3f}' if v else \
                f'{"-":>18}'
        lines.append(f'{("margin " + m)[:width - 1]:<{width}}{row}')
    # A test set of a few dozen recordings: the PSNR margins with their 95 % intervals (paired
    # bootstrap over the recordings of the set).
    lines.append(f'{"PSNR margin, 95 % interval":<{width}}')
    for m in methods:
        if m in ('TFP (best window)', 'TFI'):
            continue
        cells = ''
        for s in sets:
            v, r = get(results[s], m), results[s]
            base = max((get(r, 'TFP (best window)'), r['methods']['TFI']),
                       key=lambda b: b['psnr'])
            if not v or len(v.get('per_sample_psnr', ())) != len(base['per_sample_psnr']):
                cells += f'{"-":>18}'
                continue
            low, high = bootstrap_ci(np.subtract(v['per_sample_psnr'], base['per_sample_psnr']))
            cells += f'{f"[{low:+.2f}, {high:+.2f}]":>18}'
        lines.append(f'{m:<{width}}{cells}')
    # Detail: how far the gradients (edges, texture) differ from the reference's; a smoothed
    # texture scores high even where PSNR is good.
    lines.append(f'{"GMSD (detail, lower is better)":<{width}}')
    for m in methods:
        cells = ''.join(f'{get(results[s], m)["gmsd"]:>18.4f}'
                        if get(results[s], m) and 'gmsd' in get(results[s], m) else f'{"-":>18}'
                        for s in sets)
        lines.append(f'{m:<{width}}{cells}')
    lines.append(f'{"NIQE / BRISQUE":<{width}}{head}')  # no-reference, lower is better
    for m in methods:
        row = ''
        for s in sets:
            v = get(results[s], m) or {}
            niqe, bris = (v.get(k) for k in ('niqe', 'brisque'))
            row += (f'{"-" if niqe is None else f"{niqe:.2f}":>10}/'
                    f'{"-" if bris is None else f"{bris:.1f}":<7}')
        lines.append(f'{m:<{width}}{row}')
    return '\n'.join(lines)


def save_grid(results: Dict[str, dict], path: str, width: int = 256) -> str:
    """A PNG grid: one row per test set (one of its kept examples, a different one per set), one
    panel per method titled with its name and PSNR on that example, then the reference. Written
    atomically."""
    from PIL import Image, ImageDraw

    from ..utils.atomic import atomic_save_image
    from ..utils.image import to_uint8
    rows = []
    for row, (set_name, r) in enumerate(results.items()):
        imgs = r.get('images')
        if not imgs:
            continue
        i = row % len(imgs['reference'])
        labels = [k for k in imgs if k != 'reference'] + ['reference']
        panels = []
        for label in labels:
            img = imgs[label][i, 0].numpy()
            h, w = img.shape
            height = max(1, round(h * width / w))
            pil = Image.fromarray(to_uint8(img)).resize(
                (width, height), Image.Resampling.LANCZOS)
            canvas = Image.new('L', (width, height + 28), 255)
            canvas.paste(pil, (0, 28))
            draw = ImageDraw.Draw(canvas)
            title = label
            if label != 'reference':
                psnr = _FUNCS['psnr'](imgs[label][i:i + 1], imgs['reference'][i:i + 1])
                title = f'{label}: {float(psnr):.1f} dB'
            draw.text((3, 2), title[:42], fill=0)
            draw.text((3, 14), set_name[:42], fill=96)
            panels.append(np.asarray(canvas))
        rows.append(np.concatenate(panels, axis=1))
    if not rows:
        raise ValueError('no images kept: call evaluate_methods with keep_images > 0')
    full = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, full - r.shape[1])), constant_values=255) for r in rows]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_save_image(path, np.concatenate(rows, axis=0))
    return path
