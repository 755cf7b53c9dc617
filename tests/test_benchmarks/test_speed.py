"""tools/benchmark.py and spikeclip.benchmarks.speed on tiny models (32x48, 3 iterations)."""
import importlib.util
import json

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from spikeclip.benchmarks.speed import (
    FIGURES,
    benchmark_dat_decode,
    build_benchmark_model,
    compare_coarse,
    format_comparison,
    read_dat_per_frame,
    run_benchmark,
)
from spikeclip.fileio import read_dat, write_dat
from spikeclip.models.stages import SpikeCLIP
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.atomic import atomic_torch_save
from spikeclip.utils.errors import ConfigError

TINY = dict(height=32, width=48, iters=3, warmup=1, device='cpu')
COARSE_CFG = """
model = dict(
    type='CoarseModel',
    encoder=dict(type='LRN', window=8, bin_size=2, channels=(8, 8)),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=8))
"""


@pytest.fixture(scope='module')
def pipeline_file(tmp_path_factory, tiny_clip_file):
    """A tiny combined-model file: LRN (8 frames), UNet refiner, tiny CLIP with 3 classes."""
    with DefaultScope.overwrite_default_scope('spikeclip'):
        model = SpikeCLIP(
            refiner=dict(type='UNetRefiner', base_channels=8, num_levels=2),
            clip=dict(type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file),
            parts=dict(encoder=dict(type='LRN', window=8, bin_size=2, channels=(8, 8)),
                       hq_lq=dict(type='HQLQPromptLearner'),
                       class_prompt=dict(type='ClassPromptLearner', num_ctx=4)),
            class_names=['cat', 'dog', 'moon'],
            data_preprocessor=dict(type='SpikeDataPreprocessor', window=8))
    path = str(tmp_path_factory.mktemp('ckpt') / 'pipe.pth')
    atomic_torch_save({'state_dict': model.state_dict(),
                       'meta': {'spikeclip': {'stage': 'pipeline', 'model': model.export_cfg()}}},
                      path)
    return path


def check_stage_entries(result: dict, expected: set) -> None:
    stages = result['stages']
    assert set(stages) == expected
    tfp = stages['tfp']
    for name, s in stages.items():
        assert set(FIGURES) <= set(s) and set(s['ratio_to_tfp']) == set(FIGURES)
        assert s['p50_ms'] > 0 and s['p50_ms'] <= s['p90_ms'] <= s['p99_ms']
        assert s['throughput'] == pytest.approx(result['meta']['batch_size'] * 1000 / s['mean_ms'])
        assert s['peak_mem_mib'] > 0
        assert s['power_w'] is None and s['ratio_to_tfp']['power_w'] is None  # no GPU here
        for k in FIGURES[:-1]:
            assert s['ratio_to_tfp'][k] == pytest.approx(s[k] / tfp[k]), (name, k)
    assert all(v == pytest.approx(1.0) for k, v in tfp['ratio_to_tfp'].items() if v is not None)


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_tool',
                                                  f'{REPO_ROOT}/tools/benchmark.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_combined_checkpoint_times_every_stage_and_writes_json(pipeline_file, tmp_path):
    threads = torch.get_num_threads()
    out = tmp_path / 'bench.json'
    load_tool().main([pipeline_file, '--height', '32', '--width', '48', '--iters', '3',
                      '--warmup', '1', '--device', 'cpu', '--batch-size', '2', '--threads', '1',
                      '--out', str(out)])
    result = json.loads(out.read_text())
    assert torch.get_num_threads() == threads  # --threads applies to the run only
    check_stage_entries(result, {'tfp', 'coarse', 'refine', 'classify', 'pipeline'})
    meta = result['meta']
    assert meta['input_shape'] == [2, 8, 32, 48] and meta['model_input_shape'] == [2, 8, 32, 48]
    assert meta['threads'] == 1 and meta['device'] == 'cpu' and meta['torch'] == torch.__version__
    assert meta['model'] == 'SpikeCLIP' and meta['encoder'] == 'LRN'
    assert meta['refiner'] == 'UNetRefiner' and meta['pipeline_parts'] == ['coarse', 'refine']
    for key in ('amp', 'amp_requested', 'channels_last', 'compile', 'fp32_parts', 'iters',
                'warmup', 'peak_mem_source', 'power_unavailable', 'native_bf16'):
        assert key in meta
    decode = result['dat_decode']
    assert decode['same_output'] is True and decode['frames'] == 8
    assert decode['file_mb'] == pytest.approx(8 * 32 * 48 / 8 / 1e6)
    for reader in ('read_dat', 'per_frame'):
        r = decode[reader]
        assert r['mb_per_s'] == pytest.approx(decode['file_mb'] * 1000 / r['p50_ms'])
        assert r['ratio_to_tfp']['p50_ms'] == pytest.approx(
            r['p50_ms'] / result['stages']['tfp']['p50_ms'])
    assert decode['speedup'] == pytest.approx(
        decode['per_frame']['p50_ms'] / decode['read_dat']['p50_ms'])


def test_config_source_uses_random_weights_and_skips_missing_stages(tmp_path):
    cfg = tmp_path / 'coarse_tiny.py'
    cfg.write_text(COARSE_CFG)
    result = run_benchmark(str(cfg), amp='none', frames=12, **TINY)
    check_stage_entries(result, {'tfp', 'coarse', 'pipeline'})
    meta = result['meta']
    assert meta['source_kind'] == 'config' and meta['amp'] == 'none'
    assert meta['channels_last'] is False
    assert meta['input_shape'] == [1, 12, 32, 48] and meta['model_input_shape'] == [1, 8, 32, 48]
    assert set(meta['skipped']) == {'refine', 'classify'} and meta['pipeline_parts'] == ['coarse']


def test_vs_times_several_encoders_in_one_run_each_on_its_own_window(tmp_path, capsys):
    short, long_ = tmp_path / 'short.py', tmp_path / 'long.py'
    short.write_text(COARSE_CFG)
    long_.write_text(COARSE_CFG.replace('window=8', 'window=24'))
    out = tmp_path / 'bench.json'
    load_tool().main([str(short), '--vs', f'long={long_}', '--height', '32', '--width', '48',
                      '--iters', '4', '--warmup', '1', '--device', 'cpu', '--amp', 'none',
                      '--out', str(out)])
    vs = json.loads(out.read_text())['vs']
    models = vs['models']
    assert list(models) == [str(short), 'long', 'TFP']
    assert [models[k]['window'] for k in models] == [8, 24, 24]  # TFP on the longest window
    assert models['long']['params'] > models[str(short)]['params'] > 0  # 24 vs 8 input bins
    for e in models.values():
        assert e['p50_ms'] > 0 and e['ratio_to_tfp']['p50_ms'] == pytest.approx(
            e['p50_ms'] / models['TFP']['p50_ms'])
        assert e['ratio_to_first'] == pytest.approx(e['p50_ms'] / models[str(short)]['p50_ms'])
    assert models[str(short)]['ratio_to_first'] == 1.0
    printed = capsys.readouterr().out
    assert 'stage 1 in one run' in printed and 'long' in printed
    with pytest.raises(ConfigError, match="two models are labelled 'a'"):
        compare_coarse([f'a={short}', f'a={long_}'], **TINY)
    assert 'p50/first' in format_comparison(compare_coarse([str(short)], rounds=2, **TINY))


def test_configs_that_need_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match=r'model\.prompt_checkpoint names .*missing\.pth'):
        build_benchmark_model(f'{REPO_ROOT}/configs/refine_demo.py', cfg_options={
            'model.prompt_checkpoint': str(tmp_path / 'missing.pth')})
    with pytest.raises(ConfigError, match='from_checkpoint'):
        build_benchmark_model(f'{REPO_ROOT}/configs/pipeline_demo.py')
    with pytest.raises(ConfigError, match='does not exist'):
        build_benchmark_model(str(tmp_path / 'nope.py'))


def test_a_config_on_a_shipped_stage_builds(tiny_clip_file):
    # configs/prompt_real.py builds on coarse_checkpoint='pretrained:real', a shipped model
    model = build_benchmark_model(f'{REPO_ROOT}/configs/prompt_real.py', cfg_options={
        'model.clip.pretrained': tiny_clip_file, 'model.clip.arch': 'spikeclip-tiny'})
    assert type(model).__name__ == 'PromptModel'


@pytest.mark.parametrize('shape', [(5, 7, 9), (3, 32, 48)])
@pytest.mark.parametrize('flip', [True, False])
def test_per_frame_reference_decoder_matches_read_dat(tmp_path, shape, flip):
    spikes = (np.random.default_rng(0).random(shape) < 0.3).astype(np.uint8)
    path = str(tmp_path / 'x.dat')
    write_dat(path, spikes, flip=flip)
    ref = read_dat_per_frame(path, *shape[1:], flip=flip)
    np.testing.assert_array_equal(ref, read_dat(path, *shape[1:], flip=flip))
    np.testing.assert_array_equal(ref, spikes)


def test_dat_decode_benchmark_figures():
    spikes = (np.random.default_rng(1).random((6, 10, 12)) < 0.5).astype(np.uint8)
    out = benchmark_dat_decode(spikes, iters=2)
    assert out['same_output'] and out['frames'] == 6 and out['file_mb'] == 6 * 15 / 1e6
    for reader in ('read_dat', 'per_frame'):
        assert out[reader]['mb_per_s'] > 0 and out[reader]['p50_ms'] > 0
