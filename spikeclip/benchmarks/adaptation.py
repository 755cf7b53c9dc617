"""Adaptation study: does self-supervised fine-tuning on a camera's own spikes help on that camera?

For each simulated camera (:data:`CAMERAS`: one outside the training ranges of ``pretrained:real``,
one inside them) the study records still scenes as long ``.dat`` recordings, adapts the model on
their spikes alone (``configs/adapt_real.py``: no reference image is read), and then scores,
against the references the simulation knows, the model before and after, and TFP at its best
window, each after a least-squares gain per set (:func:`~.quality.evaluate_methods`). The
in-range camera checks that adaptation costs nothing where the model was already trained.

Scoring windows are centred on frames spread over each recording, including its training part:
adaptation is transductive (a user adapts on the recordings they want reconstructed).
"""
import os
import os.path as osp
import time
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ..datasets import load_dead_leaves, load_packaged_images, pack_item
from ..fileio import SpikeReader, write_dat
from ..simulation import SpikeCameraModel, simulate_spikes
from ..utils.atomic import atomic_write_json
from .quality import evaluate_methods

# Still scenes (tripod shots: where a long recording holds the most that a 41-frame model cannot
# use). `out_of_range` is outside what `configs/coarse_real.py` trained on in four ways: darker
# (mean rate ~0.03 per frame against 0.05-0.6), twice its largest dark current and fixed-pattern
# (threshold) mismatch, and fewer photons per frame (stronger shot noise). `in_range` sits inside
# every training range.
CAMERAS = {
    'out_of_range': dict(mean_rate=0.03, dark_current=0.02, threshold_mismatch=0.12,
                         photons_per_frame=30.0),
    'in_range': dict(mean_rate=0.25, dark_current=0.004, threshold_mismatch=0.03,
                     photons_per_frame=800.0),
}


def scene_images(num: int, height: int, width: int, seed: int) -> list:
    """``num`` grey scenes ``[height, width]`` in [0, 1]: crops of the held-out photographs and of
    dead-leaves images of a test seed (a texture source that no training saw)."""
    rng = np.random.default_rng(seed)
    sources = [s.image for s in load_packaged_images('test', short_side=max(height, width))]
    sources += [s.image for s in load_dead_leaves('test', num_images=max(1, num // 2),
                                                  size=max(height, width), seed=seed)]
    out = []
    for i in range(num):
        img = np.asarray(sources[i % len(sources)], np.float32)
        if img.max() > 1:
            img = img / 255.0
        top = int(rng.integers(img.shape[0] - height + 1))
        left = int(rng.integers(img.shape[1] - width + 1))
        out.append(np.ascontiguousarray(img[top:top + height, left:left + width]))
    return out


def record_camera(name: str, out_dir: str, num_recordings: int, num_frames: int, height: int,
                  width: int, seed: int = 0) -> str:
    """Record :data:`CAMERAS` ``[name]`` looking at still scenes: ``rec_<i>.dat`` (spikes only)
    under ``out_dir/spikes`` and their references (the expected spike rate of the scene,
    ``refs.npz``) beside it. Cached: a folder with ``refs.npz`` is reused. Returns ``out_dir``."""
    refs_path = osp.join(out_dir, 'refs.npz')
    if osp.isfile(refs_path):
        return out_dir
    cam = CAMERAS[name]
    os.makedirs(osp.join(out_dir, 'spikes'), exist_ok=True)
    refs = []
    for i, scene in enumerate(scene_images(num_recordings, height, width, seed)):
        gain = cam['mean_rate'] / max(float(scene.mean()), 1e-3)
        model = SpikeCameraModel(gain=gain, dark_current=cam['dark_current'],
                                 threshold_mismatch=cam['threshold_mismatch'],
                                 photons_per_frame=cam['photons_per_frame'])
        spikes = simulate_spikes(torch.from_numpy(scene), num_frames=num_frames, model=model,
                                 seed=seed * 1000 + i)
        write_dat(osp.join(out_dir, 'spikes', f'rec_{i:03d}.dat'), spikes.numpy())
        refs.append(scene * gain)
    np.savez(refs_path + '.tmp.npz', refs=np.stack(refs))
    os.replace(refs_path + '.tmp.npz', refs_path)
    return out_dir


class ScoringSet(torch.utils.data.Dataset):
    """Windows of ``frames`` frames centred on ``per_recording`` frames spread over each
    recording, with the recording's reference as ``gt_img`` (read one window at a time)."""

    def __init__(self, folder: str, frames: int, per_recording: int, height: int, width: int):
        self.files = sorted(osp.join(folder, 'spikes', f)
                            for f in os.listdir(osp.join(folder, 'spikes')))
        self.refs = np.load(osp.join(folder, 'refs.npz'))['refs']
        self.frames, self.height, self.width = frames, height, width
        self.items = []
        for k, path in enumerate(self.files):
            with SpikeReader(path, height, width) as reader:
                t = reader.num_frames
            starts = np.linspace(0, t - frames, per_recording).round().astype(int)
            self.items += [(k, int(s)) for s in starts]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        k, start = self.items[idx]
        with SpikeReader(self.files[k], self.height, self.width) as reader:
            spikes = reader.read(start, self.frames)
        return pack_item(spikes, idx, gt_img=np.clip(self.refs[k], 0, 1))


def adapt(checkpoint: str, data_root: str, work_dir: str, height: int, width: int,
          options: Optional[dict] = None) -> Dict[str, object]:
    """Run ``configs/adapt_real.py`` on the recordings in ``data_root`` (their spikes only).

    Args:
        checkpoint (str): The stage-1 model to adapt.
        data_root (str): Folder of recordings.
        work_dir (str): The run's work dir (a finished run there is reused).
        height (int): Frame height of the ``.dat`` files.
        width (int): Frame width.
        options (dict, optional): Further ``--cfg-options``.

    Returns:
        dict: ``checkpoint`` (the selected ``coarse_best.pth``) and ``seconds`` of training.
    """
    from ..engine import build_runner, load_config
    from ..utils.resources import config_path
    best = osp.join(work_dir, 'coarse_best.pth')
    done = osp.join(work_dir, 'adaptation_done.json')
    if osp.isfile(done) and osp.isfile(best):
        import json
        with open(done) as f:
            return dict(json.load(f), checkpoint=best)
    opts = {'train_dataloader.dataset.data_root': data_root, 'work_dir': work_dir}
    for loader in ('train_dataloader', 'val_dataloader'):
        opts.update({f'{loader}.dataset.height': height, f'{loader}.dataset.width': width})
    opts.update(options or {})
    cfg = load_config(config_path('adapt_real.py'), opts)
    # Every key of the config that names the starting model follows `checkpoint`.
    cfg.model.coarse_checkpoint = checkpoint
    for loss in cfg.model.losses:
        if loss.get('type') == 'AnchorLoss':
            loss.teacher = checkpoint
    t0 = time.perf_counter()
    build_runner(cfg).train()
    seconds = time.perf_counter() - t0
    atomic_write_json(done, dict(seconds=seconds))
    return dict(checkpoint=best, seconds=seconds)


def run_adaptation_study(checkpoint: str = 'pretrained:real', work_dir: str = 'work_dirs/adapt',
                         cameras: Sequence[str] = tuple(CAMERAS), num_recordings: int = 10,
                         num_frames: int = 2000, height: int = 250, width: int = 400,
                         per_recording: int = 4, score_frames: int = 200,
                         options: Optional[dict] = None, device: Optional[str] = None) -> dict:
    """Record, adapt and score every camera in ``cameras`` (see the module doc).

    Args:
        checkpoint (str): The stage-1 model to adapt. Defaults to ``'pretrained:real'``.
        work_dir (str): Recordings, runs and ``adaptation.json`` go here.
        cameras (Sequence[str]): Keys of :data:`CAMERAS`.
        num_recordings (int): Recordings per camera. Defaults to 10.
        num_frames (int): Frames per recording. Defaults to 2000.
        height (int): Defaults to 250.
        width (int): Defaults to 400.
        per_recording (int): Scoring windows per recording. Defaults to 4.
        score_frames (int): Frames of a scoring window (TFP tries windows up to it). Defaults to
            200.
        options (dict, optional): ``--cfg-options`` of the adaptation runs.
        device (str, optional): Scoring device.

    Returns:
        dict: camera -> ``methods`` (``before``, ``after``, TFP at its best, TFI: psnr, ssim,
        gain), ``gain_db`` (after - before), ``adapt_seconds``, ``num_samples``.
    """
    from ..apis import init_model
    results = {}
    for cam in cameras:
        folder = record_camera(cam, osp.join(work_dir, cam), num_recordings, num_frames, height,
                               width, seed=sorted(CAMERAS).index(cam) + 7)
        run = adapt(checkpoint, osp.join(folder, 'spikes'), osp.join(work_dir, cam, 'run'),
                    height, width, options)
        models = {'before': init_model(checkpoint, device=device),
                  'after': init_model(run['checkpoint'], device=device)}
        data = ScoringSet(folder, score_frames, per_recording, height, width)
        r = evaluate_methods(models, data, batch_size=2)
        r['gain_db'] = r['methods']['after']['psnr'] - r['methods']['before']['psnr']
        r['adapt_seconds'] = run['seconds']
        results[cam] = r
        print(format_adaptation({cam: r}), flush=True)
    atomic_write_json(osp.join(work_dir, 'adaptation.json'), results)
    return results


def format_adaptation(results: Dict[str, dict]) -> str:
    """A text table: camera x method, PSNR / SSIM after the fitted gain."""
    lines = []
    for cam, r in results.items():
        lines.append(f'{cam} ({r["num_samples"]} windows; adaptation {r["adapt_seconds"]:.0f} s)')
        for name, m in r['methods'].items():
            lines.append(f'  {name:<28} PSNR {m["psnr"]:6.2f} dB   SSIM {m["ssim"]:.4f}')
        lines.append(f'  adaptation gain: {r["gain_db"]:+.2f} dB')
    return '\n'.join(lines)
