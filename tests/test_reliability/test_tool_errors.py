"""Ordinary mistakes get one line naming the path or field (no traceback) and the right exit
code; messages say what would fit and never repeat advice to load a file unsafely."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from spikeclip.fileio import write_dat, write_npz
from spikeclip.testing import REPO_ROOT, default_sigint
from spikeclip.utils.checkpoint import load_checkpoint_file

CONFIG = 'configs/coarse_demo.py'


def start(tool, *args, env, cwd=REPO_ROOT):
    return subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', f'{tool}.py'),
                             *map(str, args)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def one_line_error(err: str) -> str:
    assert 'Traceback' not in err, err[-3000:]
    return err.strip().splitlines()[-1]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad')
    good = root / 'good.dat'
    write_dat(str(good), np.zeros((200, 24, 24), np.uint8))
    small = root / 'small64.dat'  # recorded at 64x64, read at the default 250x400
    write_dat(str(small), np.zeros((200, 64, 64), np.uint8))
    (root / 'folder.dat').mkdir()
    os.mkfifo(root / 'fifo.npz')
    locked = root / 'locked.dat'
    locked.write_bytes(good.read_bytes())
    locked.chmod(0)
    long = root / (('x' * 240) + '.dat')
    long.write_bytes(good.read_bytes())
    (root / 'file_not_folder').write_text('x')
    (root / 'missing_base.py').write_text("_base_ = ['nowhere.py']\n")
    (root / 'broken_base.py').write_text("x = 1\ny = (2,\n")
    (root / 'uses_broken.py').write_text("_base_ = ['broken_base.py']\n")
    return root


@pytest.fixture(scope='module')
def nan_checkpoint(trained_stages, tmp_path_factory):
    ckpt = load_checkpoint_file(trained_stages['coarse'])
    key = next(k for k, v in ckpt['state_dict'].items() if v.is_floating_point())
    ckpt['state_dict'][key] = torch.full_like(ckpt['state_dict'][key], float('nan'))
    path = tmp_path_factory.mktemp('nan') / 'nan.pth'
    torch.save(ckpt, path)
    return str(path), key


def test_one_line_errors(trained_stages, files, nan_checkpoint, tmp_path, run_tool_here):
    coarse = trained_stages['coarse']
    out = tmp_path / 'out'
    infer = ['--out-dir', out, '--device', 'cpu']
    tiny = ['--height', 24, '--width', 24]
    cuda = 'cuda' if not torch.cuda.is_available() else f'cuda:{torch.cuda.device_count()}'
    work = ['--work-dir', tmp_path / 'w']
    cases = {  # name: (tool, args, exit code, expected last line)
        'dat is a folder': ('infer', [coarse, files / 'folder.dat', *infer], 1,
                            f'error: {files}/folder.dat: is a directory, not a .dat file'),
        'sizes that fit': ('infer', [coarse, files / 'small64.dat', *infer], 1,
                           f'error: {files}/small64.dat: 102400 bytes is not a whole number of '
                           '250x400 frames (12500 bytes per frame, 8 whole frames and 2400 bytes '
                           'left over); sizes that would fit: 64x64 (200 frames), 80x80 (128 '
                           'frames), 128x128 (50 frames), 160x160 (32 frames). Check '
                           '--height/--width or whether the file is truncated'),
        'out dir is a file': ('infer', [coarse, files / 'good.dat', '--out-dir',
                                        files / 'file_not_folder', *tiny], 1,
                              f'error: --out-dir {files}/file_not_folder is a file, not a '
                              'folder'),
        'no gpu': ('infer', [coarse, files / 'good.dat', '--out-dir', out, '--device', cuda], 1,
                   f'error: --device {cuda}: no CUDA GPU is available here '
                   '(torch.cuda.is_available() is False); use --device cpu'
                   if cuda == 'cuda' else f'error: --device {cuda}: there are only '
                   f'{torch.cuda.device_count()} CUDA devices'),
        'nan weights': ('infer', [nan_checkpoint[0], files / 'good.dat', *infer, *tiny], 1,
                        f'error: {nan_checkpoint[0]}: the weights hold NaN or Inf values '
                        f'({nan_checkpoint[1]}); the training that wrote them diverged'),
        'other stage config': ('infer', [coarse, files / 'good.dat', *infer, '--config',
                                         'configs/refine_demo.py'], 1,
                               f'error: {coarse} is a checkpoint of stage 1 (coarse '
                               'reconstruction), but configs/refine_demo.py builds stage 3 '
                               '(refinement) (RefineModel); use a config of its stage'),
        'iters 0': ('benchmark', [coarse, '--iters', 0, '--device', 'cpu'], 1,
                    'error: --iters must be at least 1, got 0'),
        'missing base': ('train', [files / 'missing_base.py', *work], 1,
                         f'error: config {files}/missing_base.py: a _base_ file does not exist: '
                         f'{files}/nowhere.py'),
        'syntax error in a base': ('train', [files / 'uses_broken.py', *work], 1,
                                   f'error: config {files}/broken_base.py, line 2: syntax error: '
                                   "'(' was never closed"),
        'option without =': ('train', [CONFIG, *work, '--cfg-options', 'train_cfg.max_epochs'],
                             2, "train.py: error: argument --cfg-options: "
                             "'train_cfg.max_epochs': expected key=value (e.g. "
                             'train_cfg.max_epochs=20)'),
        'wrong nested key': ('train', [CONFIG, *work, '--cfg-options',
                                       'model.encoder.window.x=1'], 1,
                             "error: --cfg-options model.encoder.window.x=1: "
                             f"model.encoder.window is int 41 in {CONFIG}, so it has no "
                             "field 'x'"),
        'bad value': ('train', [CONFIG, *work, '--cfg-options', 'train_cfg.max_epochs=ten'], 1,
                      "error: --cfg-options train_cfg.max_epochs='ten': the config has int 10 "
                      'there'),
        'negative lr': ('train', [CONFIG, *work, '--cfg-options',
                                  'optim_wrapper.optimizer.lr=-0.001'], 1,
                        'error: optim_wrapper.optimizer.lr must be a non-negative number, got '
                        '-0.001'),
        'top-level typo': ('train', [CONFIG, *work, '--cfg-options', 'trian_cfg.max_epochs=3'],
                           1, f"error: --cfg-options trian_cfg.max_epochs: {CONFIG} has no "
                           "'trian_cfg' and the Runner takes no such argument, so it would be "
                           "ignored. Did you mean 'train_cfg'?"),
    }
    if os.geteuid() != 0:  # root reads any file
        cases['unreadable dat'] = ('infer', [coarse, files / 'locked.dat', *infer], 1,
                                   f'error: {files}/locked.dat: cannot be read (permission '
                                   'denied)')
    for name, (tool, args, expected_code, expected) in cases.items():
        code, _, err = run_tool_here(tool, *args)
        assert code == expected_code, (name, err[-2000:])
        assert one_line_error(err) == expected, name
    # Nothing was written for the NaN model: no black image, no NaN in JSON.
    assert not [p for p in os.listdir(out) if p.endswith('.png')] if out.exists() else True


def test_a_fifo_named_npz_does_not_block(trained_stages, files, tmp_path, tool_env):
    code, _, err = finish(start('infer', trained_stages['coarse'], files / 'fifo.npz',
                                '--out-dir', tmp_path / 'out', '--device', 'cpu', env=tool_env))
    assert code == 1
    assert one_line_error(err) == f'error: {files}/fifo.npz: is a FIFO, not a regular .npz file'


def test_a_long_file_name_and_stale_temporaries(trained_stages, files, tmp_path,
                                               run_tool_here):
    out = tmp_path / 'out'
    out.mkdir()
    stale = out / '.old.png.spikeclip-a1b2c3d4.tmp'  # left by a killed run an hour ago
    stale.write_bytes(b'half')
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = out / '.new.png.spikeclip-e5f6g7h8.tmp'  # another run's, being written now
    fresh.write_bytes(b'half')
    long = files / (('x' * 240) + '.dat')
    code, _, err = run_tool_here('infer', trained_stages['refine'], long, '--out-dir', out,
                                 '--device', 'cpu', '--height', 24, '--width', 24,
                                 '--save-coarse')
    assert code == 0, err[-3000:]
    entry = json.loads((out / 'predictions.json').read_text())[0]
    assert osp.isfile(entry['image']) and osp.isfile(entry['coarse'])
    assert len(osp.basename(entry['coarse']).encode()) <= 255
    assert not stale.exists() and fresh.exists()


class _Pickled:
    def __reduce__(self):
        return os.system, ('true', )


@pytest.mark.parametrize('case', ['pickle', 'empty', 'garbage', 'truncated', 'npz objects'])
def test_corrupt_files_never_suggest_loading_them_unsafely(trained_stages, tmp_path,
                                                           run_tool_here, case):
    checkpoint, inputs = trained_stages['coarse'], []
    data = open(checkpoint, 'rb').read()
    bad = tmp_path / 'bad.pth'
    if case == 'pickle':
        torch.save({'x': _Pickled()}, bad)
        expected = ('could not be loaded safely (weights_only=True): it holds posix.system, '
                    'which is neither a tensor nor plain data (a pickle that can run code); '
                    'refused')
    elif case == 'empty':
        bad.write_bytes(b'')
        expected = f"error: checkpoint '{bad}' is empty (0 bytes)"
    elif case == 'garbage':
        bad.write_bytes(b'garbage' * 100)
        expected = 'it is not a PyTorch checkpoint, or it is corrupt (unreadable pickle data)'
    elif case == 'truncated':
        bad.write_bytes(data[:len(data) // 2])
        expected = 'it is corrupt or truncated (an incomplete copy or download?)'
    else:
        bad = checkpoint
        np.savez(tmp_path / 'objects.npz', spk=np.array([[[1]]], dtype=object))
        inputs = [tmp_path / 'objects.npz']
        expected = ('objects.npz: "spk" holds Python objects, which are refused (loading them '
                    'would unpickle code); save plain numeric arrays')
    if not inputs:
        inputs = [tmp_path / 'x.npz']
        write_npz(str(inputs[0]), np.zeros((200, 8, 8), np.uint8), 0, 'x')
    code, _, err = run_tool_here('infer', bad, *inputs, '--out-dir', tmp_path / 'out',
                                 '--device', 'cpu')
    line = one_line_error(err)
    assert code == 1 and line.startswith('error: ') and expected in line, line
    for advice in ('weights_only` set to `False', 'allow_pickle', 'trusted source',
                   'pickle.load', 'file an issue'):
        assert advice not in err


def test_ctrl_c_in_training_says_how_to_continue(tmp_path, tool_env, tiny_coarse_options):
    work = tmp_path / 'work'
    pause = ['custom_imports.imports=[reliability_pause_hook]',
             'default_hooks.timer.type=PauseInSecondEpochHook']
    proc = start('train', CONFIG, '--work-dir', work, '--deterministic', '--cfg-options',
                 *tiny_coarse_options, *pause, env=tool_env)
    t0 = time.monotonic()
    while not (work / 'paused').exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() - t0 < 300
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc, timeout=300)  # generous: a busy machine is slow to wind down
    assert code == 130
    line = one_line_error(err)
    assert line.startswith(f'interrupted; continue with: python {REPO_ROOT}/tools/train.py '
                           f'{CONFIG} --deterministic --cfg-options ')
    assert line.endswith(f'--work-dir {work} --resume')
    # The epoch-1 checkpoint is there to continue from.
    assert (work / 'epoch_1.pth').is_file()


def test_resume_prints_no_message_hub_warnings(coarse_runs):
    log = (coarse_runs['root'] / 'resume.log').read_text()  # the killed run, resumed
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'not defined in message_hub' not in log


def _tampered(src: str, dst, edit) -> str:
    """A copy of checkpoint ``src`` whose stored model config ``edit(model_cfg)`` changed."""
    ckpt = load_checkpoint_file(src)
    edit(ckpt['meta']['spikeclip']['model'])
    torch.save(ckpt, dst)
    return str(dst)


def _nested_hostile_zip(path) -> str:
    """An archive whose nested U-CALTECH.zip holds a member that climbs out of its folder."""
    import io
    import zipfile
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, 'w') as z:
        z.writestr('U-CALTECH/0.npz', b'x')
        z.writestr('../../evil.txt', b'x')
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('U-CALTECH.zip', inner.getvalue())
        z.writestr('U-CIFAR/0.npz', b'x')
    return str(path)


def _case(name, stages, clip, tmp_path):
    """Case ``name`` -> (tool, args, expected): the last line starts with ``expected`` (a str),
    or holds each of its parts (a tuple)."""
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    work = ['--work-dir', tmp_path / 'w']
    coarse = stages['coarse']
    demo = f'error: config {CONFIG}: '

    def train(*options):
        return 'train', [CONFIG, *work, '--cfg-options', *options]
    encoder_key = ('int key', 'unknown stored key')
    if name in encoder_key:
        key, value = (1, 2) if name == 'int key' else ('nope', 3)
        bad = _tampered(coarse, tmp_path / 'bad.pth', lambda m: m['encoder'].update({key: value}))
        (tmp_path / 'x.dat').write_bytes(b'\0' * 72 * 200)  # 200 frames of 24x24
        infer = ('infer', [bad, tmp_path / 'x.dat', '--out-dir', tmp_path / 'out', '--device',
                           'cpu', '--height', 24, '--width', 24])
        return (*infer, (f'error: {bad}: meta.spikeclip.model.encoder', 'int')) \
            if name == 'int key' else \
            (*infer, f"error: {bad}: meta.spikeclip.model.encoder.nope: MotionUNet takes no "
             "argument 'nope' (it takes: window, ")
    if name == 'refused nested archive':
        archive = _nested_hostile_zip(tmp_path / 'nested.zip')
        return ('fetch_data', ['--archive', archive, '--out-dir', tmp_path / 'data'],
                f"error: {archive} (its member U-CALTECH.zip): member '../../evil.txt' would be "
                'written outside the folder it is unpacked into; refusing to unpack this archive')
    return {
        'combine --out a folder': (
            'combine_checkpoints', ['--coarse', coarse, '--prompt', stages['prompt'], '--refine',
                                    stages['refine'], '--out', tmp_path],
            f'error: --out {tmp_path} is a folder, not a file; name the file to write'),
        'fetch --out-dir a file': ('fetch_data', ['--out-dir', a_file],
                                   f'error: data folder {a_file} is a file, not a folder'),
        'simulate into a file': ('simulate_spikes', ['default', a_file, '--frames', 5,
                                                     '--height', 16, '--width', 16],
                                 f'error: output folder {a_file} is a file, not a folder'),
        # Root writes into any folder whatever its mode; a path below a file fails for everyone.
        'work dir below a file': ('train', [CONFIG, '--work-dir', a_file / 'w'],
                                  f'error: work dir {a_file}/w cannot be created: {a_file} is a '
                                  'file, not a folder'),
        'visualize --num -3': ('visualize', [CONFIG, '--num', -3, '--out-dir', tmp_path / 'v'],
                               'error: --num must be at least 1, got -3'),
        'unknown model argument': (*train('model.nope=3'), f"{demo}model.nope: CoarseModel "
                                   "takes no argument 'nope' (it takes: encoder, losses, "),
        'misspelt loop field': (*train('train_cfg.max_epoch=1'),
                                f"{demo}train_cfg.max_epoch: EpochBasedTrainLoop takes no "
                                "argument 'max_epoch'. Did you mean 'max_epochs'?"),
        'misspelt data loader field': (*train('train_dataloader.batchsize=2'),
                                       f"{demo}train_dataloader.batchsize: DataLoader takes no "
                                       "argument 'batchsize'. Did you mean 'batch_size'?"),
        'negative batch size': (*train('train_dataloader.batch_size=-1'),
                                'error: train_dataloader.batch_size must be a positive integer, '
                                'got -1'),
        'val_interval 0': (*train('train_cfg.val_interval=0'),
                           'error: train_cfg.val_interval must be a positive integer, got 0'),
        'negative seed': (*train('randomness.seed=-1'), 'error: randomness.seed must be a '
                          'non-negative integer below 2**32, got -1'),
        'nan lr': (*train('optim_wrapper.optimizer.lr=nan'),
                   'error: optim_wrapper.optimizer.lr must be a non-negative number, got nan'),
        'unknown refiner argument': (
            'train', ['configs/refine_demo.py', *work, '--cfg-options', 'model.refiner.nope=3',
                      f'model.prompt_checkpoint={stages["prompt"]}',
                      f'model.clip.pretrained={clip}'],
            "error: config configs/refine_demo.py: model.refiner.nope: UNetRefiner takes no "
            "argument 'nope'"),
        'memory run shorter than the window': (
            'benchmark_video', [coarse, '--batch-sizes', 1, '--frames', 2, '--height', 24,
                                '--width', 24, '--memory-lengths', 10, 2000],
            f'error: --memory-lengths 10: shorter than the window of {coarse} (41 frames); give '
            'at least 41'),
        'relative CLIP path': (
            'train', ['configs/prompt_demo.py', *work, '--cfg-options',
                      'model.clip.pretrained=nowhere/clip.bin',
                      f'model.coarse_checkpoint={coarse}'],
            "error: config configs/prompt_demo.py: model.clip.pretrained='nowhere/clip.bin' does "
            f'not exist in the current directory ({REPO_ROOT}), which relative paths in a config '
            "are resolved against (not the config's folder)"),
        'tiny CLIP --lr nan': ('train_tiny_clip', ['--lr', 'nan', '--out-dir', tmp_path / 'c'],
                               'error: tiny CLIP recipe: lr must be a finite number above 0, got '
                               'nan'),
    }[name]


@pytest.mark.parametrize('name', [
    'combine --out a folder', 'fetch --out-dir a file', 'simulate into a file',
    'work dir below a file', 'visualize --num -3', 'unknown model argument',
    'misspelt loop field', 'misspelt data loader field', 'negative batch size', 'val_interval 0',
    'negative seed', 'nan lr', 'unknown refiner argument', 'unknown stored key', 'int key',
    'memory run shorter than the window', 'relative CLIP path', 'tiny CLIP --lr nan',
    'refused nested archive'])
def test_ordinary_mistakes_end_in_one_line(name, trained_stages, tiny_clip_file, tmp_path,
                                           run_tool_here):
    tool, args, expected = _case(name, trained_stages, tiny_clip_file, tmp_path)
    code, _, err = run_tool_here(tool, *args)
    assert code == 1, (name, err[-2000:])
    assert len(err.strip().splitlines()) == 1, err[-2000:]  # nothing but the error line
    line = one_line_error(err)
    if isinstance(expected, tuple):
        assert all(part in line for part in expected), line
    else:
        assert line.startswith(expected), line
    assert '.uhsr_unpack_' not in err and 'yourself' not in err  # nothing deleted or unsafe


def test_a_run_record_that_is_not_an_object(trained_stages, files, tmp_path, run_tool_here):
    out = tmp_path / 'out'
    args = (trained_stages['coarse'], files / 'good.dat', '--out-dir', out, '--device', 'cpu',
            '--height', 24, '--width', 24, '--frames', '30:32')
    assert run_tool_here('infer', *args)[0] == 0
    record = out / 'good' / 'run.json'
    record.write_text('[1, 2]')
    code, _, err = run_tool_here('infer', *args)
    assert code == 1
    assert one_line_error(err) == (f'error: {record} is unreadable (it holds a JSON list, not a '
                                   'run record); remove the folder or choose another --out-dir')
