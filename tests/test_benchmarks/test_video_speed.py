"""tools/benchmark_video.py on a tiny MotionUNet (24x32): every figure is produced and printed.

The figures themselves (frames/s, memory flatness) are machine-dependent: they are measured by
running the tool, never asserted here.
"""
import importlib.util
import json

import numpy as np
import torch

from spikeclip.benchmarks.video import simulate_recording
from spikeclip.fileio import SpikeReader
from spikeclip.models.stages.coarse import CoarseModel
from spikeclip.testing import REPO_ROOT


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_video_tool',
                                                  f'{REPO_ROOT}/tools/benchmark_video.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_simulated_recording_is_streamed_chunk_by_chunk_and_moves(tmp_path):
    path = simulate_recording(str(tmp_path / 'r.dat'), 130, 24, 32, chunk=50, speed=0.5)
    with SpikeReader(path, 24, 32) as reader:
        assert reader.shape == (130, 24, 32)
        first, last = reader.read(0, 40).mean(0), reader.read(90, 40).mean(0)
    assert 0.05 < first.mean() < 0.95  # neither dark nor saturated
    assert np.abs(first - last).mean() > 0.02  # the scene moved


def test_tool_reports_throughput_profile_and_memory(tmp_path, capsys):
    torch.manual_seed(0)
    model = CoarseModel(encoder=dict(type='MotionUNet', window=9, channels=(4, 8)),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=9))
    ckpt = str(tmp_path / 'motion.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(spikeclip=dict(stage='coarse', model=model.export_cfg()))), ckpt)
    threads = torch.get_num_threads()
    out = tmp_path / 'bench.json'
    load_tool().main([ckpt, '--batch-sizes', '1', '3', '--threads', '1', '--height', '24',
                      '--width', '32', '--frames', '3', '--memory-lengths', '60', '120',
                      '--memory-step', '5', '--device', 'cpu', '--amp', 'none',
                      '--work-dir', str(tmp_path / 'work'), '--out', str(out)])
    assert torch.get_num_threads() == threads  # --threads applies to the run only
    result = json.loads(out.read_text())
    assert result['meta']['window'] == 9 and result['meta']['threads'] == 1
    names = [ckpt, 'TFP (9 frames)']
    assert list(result['throughput']) == names
    for name in names:
        assert list(result['throughput'][name]) == ['1', '3']
        for b, t in result['throughput'][name].items():
            assert t['stream']['frames'] == int(b) * -(-3 // int(b))  # whole batches, after one
            for kind in ('model', 'stream', 'files'):
                assert t[kind]['fps'] > 0 and t[kind]['cpu_ms_per_frame'] > 0
    profile = result['profile']
    assert profile['gflop_per_frame'] > 0 and profile['top_ops']
    assert abs(sum(op['share'] for op in profile['top_ops'])) <= 1 + 1e-6
    assert result['overlap']['stream_no_prefetch']['fps'] > 0
    for name, step in ((ckpt, 5), ('TFP (9 frames)', 1)):
        for length in ('60', '120'):
            m = result['memory'][name][length]
            assert m['step'] == step and m['peak_mib'] > 50  # a Python process with torch
    assert not list((tmp_path / 'work').glob('memory_*.dat'))  # long recordings not kept
    table = capsys.readouterr().out
    assert 'reconstructed frames/s at 24x32, 1 threads' in table
    assert 'frames/s on an idle machine' in table and 'GFLOP per frame' in table
    assert 'peak resident memory' in table
