"""tools/infer.py never points two inputs at one file, and never loses finished predictions."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from spikeclip.apis import infer_files, init_model
from spikeclip.fileio import write_dat
from spikeclip.testing import REPO_ROOT, default_sigint

SIZE = 24


def infer_command(checkpoint, *args):
    return [sys.executable, osp.join(REPO_ROOT, 'tools', 'infer.py'), checkpoint, *map(str, args),
            '--device', 'cpu', '--height', str(SIZE), '--width', str(SIZE)]


def recording(path, level: float, frames: int = 200):
    """A uniform scene whose spike rate is ``level``."""
    rng = np.random.default_rng(int(level * 100))
    os.makedirs(osp.dirname(path), exist_ok=True)
    write_dat(str(path), (rng.random((frames, SIZE, SIZE)) < level).astype(np.uint8))
    return str(path)


def infer_args(checkpoint, *args):
    return [checkpoint, *args, '--device', 'cpu', '--height', SIZE, '--width', SIZE]


def test_inputs_with_colliding_names_get_their_own_outputs(trained_stages, tmp_path,
                                                          run_tool_here):
    names = ['a/x.dat', 'b/x.dat', 'c/x.dat', 'x_dat.dat', 'cat.dat', 'cat_coarse.dat']
    inputs = [recording(tmp_path / 'in' / n, 0.1 + 0.12 * i) for i, n in enumerate(names)]
    out = tmp_path / 'out'
    code, _, err = run_tool_here('infer', *infer_args(trained_stages['refine'], *inputs,
                                                      '--out-dir', out, '--save-coarse'))
    assert code == 0, err[-3000:]
    entries = json.loads((out / 'predictions.json').read_text())
    assert [e['input'] for e in entries] == inputs
    assert [osp.basename(e['image']) for e in entries] == [
        'x.png', 'x_dat.png', 'x_dat_2.png', 'x_dat_dat.png', 'cat.png', 'cat_coarse_dat.png']
    written = [e[k] for e in entries for k in ('image', 'coarse')]
    assert len(set(written)) == len(written) == 12
    assert sorted(os.listdir(out)) == sorted([osp.basename(p) for p in written] +
                                             ['predictions.json', '.spikeclip.lock'])
    # Each file holds its own input's result: the same as inferring that input alone.
    model = init_model(trained_stages['refine'], device='cpu')
    for i, (path, entry) in enumerate(zip(inputs, entries)):
        alone = infer_files(model, [path], str(tmp_path / f'alone{i}'), height=SIZE, width=SIZE,
                            save_coarse=True)[0]
        for key in ('image', 'coarse'):
            np.testing.assert_array_equal(np.asarray(Image.open(entry[key])),
                                          np.asarray(Image.open(alone[key])))


@pytest.fixture
def batch(tmp_path):
    """Good, bad (truncated), good recordings, and an out dir holding a stale predictions.json."""
    good1 = recording(tmp_path / 'in' / 'g1.dat', 0.2)
    bad = tmp_path / 'in' / 'bad.dat'
    bad.write_bytes(b'\x01' * 1000)
    good2 = recording(tmp_path / 'in' / 'g2.dat', 0.4)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'predictions.json').write_text(json.dumps([{'input': 'old.dat', 'image': 'old.png'}]))
    return [good1, str(bad), good2], out


def test_a_bad_input_keeps_the_predictions_before_it(trained_stages, batch, run_tool_here):
    inputs, out = batch
    code, _, err = run_tool_here('infer', *infer_args(trained_stages['coarse'], *inputs,
                                                      '--out-dir', out))
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(f'error: {inputs[1]}: 1000 bytes')
    entries = json.loads((out / 'predictions.json').read_text())
    assert [e['input'] for e in entries] == inputs[:1]
    assert osp.isfile(entries[0]['image'])


def test_skip_errors_goes_on_and_reports_the_bad_files(trained_stages, batch, run_tool_here):
    inputs, out = batch
    code, stdout, err = run_tool_here('infer', *infer_args(trained_stages['coarse'], *inputs,
                                                           '--out-dir', out, '--skip-errors'))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-2].startswith(f'skipped {inputs[1]}: 1000 bytes is not a whole number')
    assert lines[-1] == ('error: 1 of 3 inputs could not be processed (listed above and in '
                         'predictions.json)')
    entries = json.loads((out / 'predictions.json').read_text())
    assert [e['input'] for e in entries] == inputs
    assert 'error' in entries[1] and 'image' not in entries[1]
    assert all(osp.isfile(entries[i]['image']) for i in (0, 2))
    assert f'{inputs[2]}: {entries[2]["image"]}' in stdout


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_keeps_the_finished_predictions(trained_stages, tmp_path, tool_env,
                                                           sig):
    inputs = [recording(tmp_path / 'in' / f'r{i}.dat', 0.1 + 0.02 * i) for i in range(30)]
    out = tmp_path / 'out'
    cmd = infer_command(trained_stages['coarse'], *inputs, '--out-dir', out, '--cfg-options',
                        'custom_imports.imports=[reliability_slow_reader]')
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=tool_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    t0 = time.monotonic()
    predictions = out / 'predictions.json'
    while not (predictions.exists() and len(json.loads(predictions.read_text())) >= 2):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    entries = json.loads(predictions.read_text())  # whole, valid JSON
    assert 2 <= len(entries) < len(inputs)
    assert [e['input'] for e in entries] == inputs[:len(entries)]
    assert all(osp.isfile(e['image']) for e in entries)
    pngs = sorted(p for p in os.listdir(out) if p.endswith('.png'))
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert 'Traceback' not in err
        assert err.strip().splitlines()[-1] == (
            f'interrupted; the finished inputs are listed in {out}/predictions.json')
        assert pngs == sorted(osp.basename(e['image']) for e in entries)
    else:  # a kill -9 cannot write; what is listed was written, at most one PNG more
        assert proc.returncode == -signal.SIGKILL
        assert len(entries) <= len(pngs) <= len(entries) + 1
