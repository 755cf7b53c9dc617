"""The adaptation study on a tiny camera: recorded, adapted on spikes only, scored, cached."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np

from spikeclip.benchmarks import adaptation
from spikeclip.fileio import SpikeReader
from spikeclip.testing import REPO_ROOT, save_miscalibrated_coarse, tiny_adapt_options


def test_study_records_adapts_and_scores(tmp_path, monkeypatch):
    monkeypatch.setitem(adaptation.CAMERAS, 'tiny', dict(
        mean_rate=0.2, dark_current=0.0, threshold_mismatch=0.0, photons_per_frame=300.0))
    start = save_miscalibrated_coarse(str(tmp_path / 'start.pth'))
    kwargs = dict(cameras=['tiny'], num_recordings=2, num_frames=300, height=32, width=48,
                  per_recording=4, score_frames=41, options=tiny_adapt_options(start, 32, 48))
    r = adaptation.run_adaptation_study(start, str(tmp_path / 'study'), **kwargs)['tiny']
    methods = r['methods']
    assert {'before', 'after', 'TFI'} <= set(methods)
    assert any(m.startswith('TFP (best') for m in methods) and r['num_samples'] == 8
    assert r['gain_db'] == methods['after']['psnr'] - methods['before']['psnr']
    assert r['gain_db'] > 0.3
    # The references are the scene's spike rate; the recordings hold spikes only.
    folder = tmp_path / 'study' / 'tiny'
    refs = np.load(folder / 'refs.npz')['refs']
    with SpikeReader(str(folder / 'spikes' / 'rec_000.dat'), 32, 48) as reader:
        assert reader.shape == (300, 32, 48)
        assert abs(reader.read(0, 300).mean() - refs[0].mean()) < 0.02
    saved = json.loads((tmp_path / 'study' / 'adaptation.json').read_text())
    assert saved['tiny']['gain_db'] == r['gain_db']
    # A second call reuses the recordings and the finished run.
    again = adaptation.run_adaptation_study(start, str(tmp_path / 'study'), **kwargs)['tiny']
    assert again['methods'] == methods and again['adapt_seconds'] == r['adapt_seconds']


def test_tool_takes_one_model(tmp_path):
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'benchmark_quality.py'),
                          '--adaptation', 'a.pth', 'b.pth', '--work-dir', str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip() == 'error: --adaptation takes one MODEL, got 2'
