"""Bad input is refused with a message that names the file or field and what is wrong.

Covered elsewhere and not repeated here: .dat sizes and windows of the paired dataset
(tests/test_datasets/test_paired.py), .npz files of the UHSR dataset and their labels
(tests/test_datasets/test_uhsr.py), image folders of the simulated dataset
(tests/test_datasets/test_simulated.py, tests/test_tools/test_simulate_spikes.py), wrong-stage
checkpoints given to the stage models and combine_checkpoints (tests/test_models/test_stages.py,
tests/test_apis/test_combine_infer.py), a .dat that does not fit 250x400 through the infer tool
(tests/test_apis/test_combine_infer.py), and a later-stage checkpoint given to tools/test.py in a
subprocess (tests/test_tools/test_test_tool.py). Here: the same kinds of input through the
user-facing tools, and what had no test.
"""
import os.path as osp
import re
import runpy
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.apis import init_model
from spikeclip.apis.combine import combine_checkpoints
from spikeclip.datasets import UnpairedImageDataset
from spikeclip.engine import build_runner, load_config
from spikeclip.fileio import frame_bytes, write_dat
from spikeclip.testing import REPO_ROOT, tiny_options
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError, ConfigError


def run_tool(monkeypatch, name, *args):
    """Run ``tools/<name>.py`` as ``__main__`` in this process; its exit code (0, or the
    ``error: ...`` message that ``sys.exit`` prints)."""
    monkeypatch.setattr(sys, 'argv', [f'{name}.py', *map(str, args)])
    try:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', f'{name}.py'), run_name='__main__')
    except SystemExit as e:
        return e.code
    return 0


def run_tool_process(name, *args, env):
    return subprocess.run([sys.executable, f'tools/{name}.py', *map(str, args)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def options(opts: dict) -> list:
    return [f'{k}={str(v).lower() if isinstance(v, bool) else v}' for k, v in opts.items()]


def config(name):
    return osp.join(REPO_ROOT, 'configs', name)


# --------------------------------------------------------------------------- spike files


def test_infer_tool_reports_an_empty_dat_without_traceback(trained_stages, tmp_path, tool_env):
    empty = tmp_path / 'empty.dat'
    empty.write_bytes(b'')
    result = run_tool_process('infer', trained_stages['coarse'], empty, '--out-dir',
                              tmp_path / 'out', '--device', 'cpu', env=tool_env)
    assert result.returncode == 1
    assert f'error: {empty}: the file is empty (0 bytes)' in result.stderr
    assert 'Traceback' not in result.stderr
    # predictions.json lists the finished inputs: none.
    assert (tmp_path / 'out' / 'predictions.json').read_text().strip() == '[]'


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize('case', ['truncated', 'other size', 'no spk', 'not binary'])
def test_infer_tool_names_the_file_and_the_fault(trained_stages, tmp_path, monkeypatch, case):
    spikes = (np.random.default_rng(0).random((40, 250, 250)) < 0.3).astype(np.uint8)
    if case == 'truncated':
        path = tmp_path / 'cut.dat'
        path.write_bytes(b'\x01' * (3 * frame_bytes(250, 400) + 777))
        expected = ('cut.dat: 38277 bytes is not a whole number of 250x400 frames (12500 bytes '
                    'per frame, 3 whole frames and 777 bytes left over); no common sensor size or '
                    'square size fits, so the file is probably truncated')
    elif case == 'other size':  # recorded at 250x250, read at the default 250x400
        path = tmp_path / 'square.dat'
        write_dat(str(path), spikes)
        expected = 'sizes that would fit: 250x250 (40 frames). Check --height/--width'
    elif case == 'no spk':
        path = _npz(tmp_path / 'nospk.npz', spikes=spikes, label=np.int64(1))
        expected = "nospk.npz: no \"spk\" array (keys found: ['label', 'spikes'])"
    else:  # a whole model window (200 frames), one count of 2 in it
        spikes = np.zeros((200, 16, 16), np.uint8)
        spikes[100, 4, 5] = 2
        path = _npz(tmp_path / 'counts.npz', spk=spikes)
        expected = 'counts.npz: "spk": spikes must be binary (0/1), found values [2]'
    code = run_tool(monkeypatch, 'infer', trained_stages['coarse'], path, '--out-dir',
                    tmp_path / 'out', '--device', 'cpu')
    assert isinstance(code, str) and code.startswith('error: '), code
    assert expected in code


# --------------------------------------------------------------------------- image folders


@pytest.fixture(scope='module')
def spike_set():
    from spikeclip.datasets import SimulatedSpikeDataset
    return SimulatedSpikeDataset(num_samples=3, crop_size=16, num_frames=4)


def test_unpaired_images_empty_folder(tmp_path, spike_set):
    (tmp_path / 'hq').mkdir()
    (tmp_path / 'hq' / 'readme.txt').write_text('no images here')
    with pytest.raises(ConfigError, match=r"image folder '.*hq' holds no images \(.png"):
        UnpairedImageDataset(spike_set, str(tmp_path / 'hq'), size=8)


def test_unpaired_images_skip_or_stop_at_an_unreadable_file(tmp_path, spike_set):
    folder = tmp_path / 'hq'
    folder.mkdir()
    (folder / 'a_broken.png').write_bytes(b'\x89PNG not really')
    Image.fromarray(np.full((12, 10), 200, np.uint8)).save(folder / 'b_good.png')
    data = UnpairedImageDataset(spike_set, str(folder), size=8)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        items = [data[i] for i in range(3)]  # one of them draws a_broken.png
    for item in items:
        assert torch.allclose(item['data_samples'].hq_img, torch.full((1, 8, 8), 200 / 255))
    assert data._bad == {str(folder / 'a_broken.png')}  # named, skipped, the rest used
    strict = UnpairedImageDataset(spike_set, str(folder), size=8, on_bad_image='error')
    with pytest.raises(ConfigError, match=r'a_broken\.png: unreadable image'):
        [strict[i] for i in range(3)]


# --------------------------------------------------------------------------- class lists


def test_class_list_of_another_length_than_the_data_stops_the_run(tmp_path):
    images = tmp_path / 'images'
    for cls in ('cats', 'dogs'):
        (images / cls).mkdir(parents=True)
        Image.fromarray(np.full((64, 64), 90, np.uint8)).save(images / cls / 'x.png')
    opts = tiny_options('configs/coarse_demo.py', str(tmp_path / 'work'), crop=16,
                        **{'train_dataloader.dataset.images': str(images)})
    runner = build_runner(load_config(config('coarse_demo.py'), opts))
    with pytest.raises(ConfigError, match=r'the model has 12 class names but the train data '
                       r"\(SimulatedSpikeDataset\) has 2 classes "
                       r"\(labels 0-1: \['cats', 'dogs'\]\)"):
        runner.train()
    assert not list((tmp_path / 'work').glob('*.pth'))  # stopped before the first step


# --------------------------------------------------------------------------- checkpoints


def test_infer_tool_refuses_a_combined_model_without_its_refiner(trained_stages, tmp_path,
                                                                monkeypatch):
    combined = str(tmp_path / 'combined.pth')
    combine_checkpoints(trained_stages['coarse'], trained_stages['prompt'],
                        trained_stages['refine'], combined)
    ckpt = load_checkpoint_file(combined)
    ckpt['state_dict'] = {k: v for k, v in ckpt['state_dict'].items()
                          if not k.startswith('refiner.')}
    torch.save(ckpt, tmp_path / 'no_refiner.pth')
    spikes = tmp_path / 'a.npz'
    _npz(spikes, spk=np.zeros((200, 16, 16), np.uint8))
    code = run_tool(monkeypatch, 'infer', tmp_path / 'no_refiner.pth', spikes, '--out-dir',
                    tmp_path / 'out', '--device', 'cpu')
    assert code.startswith('error: ')
    assert 'no_refiner.pth holds no weights for refiner of the SpikeCLIP model' in code
    assert 'a stage is missing' in code


def test_combine_tool_refuses_a_stage_in_the_wrong_slot(trained_stages, tmp_path, monkeypatch):
    out = tmp_path / 'combined.pth'
    code = run_tool(monkeypatch, 'combine_checkpoints', '--coarse', trained_stages['coarse'],
                    '--prompt', trained_stages['refine'], '--refine', trained_stages['refine'],
                    '--out', out)
    assert code.startswith('error: ')
    assert (f"{trained_stages['refine']} is a checkpoint of stage 3 (refinement), but stage 2 "
            '(prompt learning) is needed here') in code
    assert not out.exists()


def test_test_tool_refuses_a_checkpoint_of_an_earlier_stage(trained_stages, tmp_path,
                                                            monkeypatch):
    code = run_tool(monkeypatch, 'test', config('refine_demo.py'), trained_stages['coarse'],
                    '--work-dir', tmp_path / 'work')
    assert code == (f"error: {trained_stages['coarse']} is a checkpoint of stage 1 (coarse "
                    'reconstruction), but stage 3 (refinement) is needed here')


def test_a_checkpoint_of_another_architecture_is_refused(trained_stages, tmp_path, monkeypatch):
    spiking = tmp_path / 'coarse_spiking.py'
    spiking.write_text(f"_base_ = [{config('coarse_demo.py')!r}]\n"
                       "model = dict(encoder=dict(_delete_=True, type='SpikingUNet', "
                       "window=200, channels=(4, 8)))\n")
    code = run_tool(monkeypatch, 'test', spiking, trained_stages['coarse'], '--work-dir',
                    tmp_path / 'w1')
    assert code == (f"error: {trained_stages['coarse']} holds a MotionUNet encoder, but {spiking} "
                    'builds a SpikingUNet encoder (model.encoder.type); use the config it was '
                    'trained with')
    with pytest.raises(CheckpointError, match='the weights do not fit the model CoarseModel'):
        init_model(trained_stages['coarse'], str(spiking), device='cpu')
    # Same encoder type, other shapes: MMEngine would load what fits and test a partly random
    # model; the runner loads strictly.
    opts = tiny_options('configs/coarse_demo.py', str(tmp_path / 'w2'), crop=16)
    opts['model.encoder.channels'] = '(16,32,48)'
    code = run_tool(monkeypatch, 'test', config('coarse_demo.py'), trained_stages['coarse'],
                    '--cfg-options', *options(opts))
    assert code.startswith(f"error: {trained_stages['coarse']}: the weights do not fit the model "
                           'CoarseModel')
    assert 'size mismatch for encoder.' in code


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize('key,value,expected', [
    ('model.encoder.type', 'LRNX', r"type='LRNX' is not registered in the encoder registry "
     r"\(spikeclip scope\)\. Did you mean 'LRN'\? Registered: .*\bSpikingUNet, TFI, TFP\b"),
    # Built lazily, when training starts.
    ('train_dataloader.dataset.type', 'SimulatedSpikeDataSet', r"Did you mean "
     r"'SimulatedSpikeDataset'.*\? Registered: .*\bPairedSpikeDataset\b.*\bUHSRDataset\b"),
])
def test_unregistered_type_lists_the_registered_ones(tmp_path, monkeypatch, key, value,
                                                    expected):
    opts = tiny_options('configs/coarse_demo.py', str(tmp_path / 'work'), crop=16)
    opts[key] = value
    code = run_tool(monkeypatch, 'train', config('coarse_demo.py'), '--cfg-options',
                    *options(opts))
    assert isinstance(code, str) and code.startswith('error: '), code
    assert re.search(expected, code), code


def test_nan_loss_stops_the_run_naming_iteration_and_term(tmp_path, run_train):
    work = tmp_path / 'work'
    result = run_train(work, options=['custom_imports.imports=[reliability_nan_loss]',
                                      'model.losses.1.type=UnstableLoss'])
    assert result.returncode == 1, result.stderr[-3000:]
    assert ("error: loss term 'loss_unstable' is nan at iteration 2; stopping before the "
            'optimiser step, nothing corrupt was saved') in result.stderr
    assert 'Traceback' not in result.stderr
    # Epoch 1 was saved; nothing after the NaN appeared.
    assert sorted(p.name for p in work.glob('*.pth')) == [
        'best_PSNR_epoch_1.pth', 'coarse_best.pth', 'epoch_1.pth']
    assert (work / 'last_checkpoint').read_text().endswith('epoch_1.pth')
    state = load_checkpoint_file(str(work / 'epoch_1.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
