"""Outputs are never half-written: a save that dies leaves the previous file intact."""
import errno
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

import mmengine
import numpy as np
import pytest
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.fileio import io as mmengine_io
from mmengine.runner.checkpoint import save_checkpoint

import spikeclip.engine  # noqa: F401  (installs the atomic backend)
from spikeclip.engine.atomic_backend import AtomicLocalBackend, install_atomic_backend
from spikeclip.engine.runner import remove_stale_temporaries
from spikeclip.fileio import write_dat, write_npz
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.atomic import (
    atomic_open,
    atomic_save_image,
    atomic_torch_save,
    atomic_write_json,
)
from spikeclip.utils.checkpoint import load_checkpoint_file


def _spikes(version):
    return (np.random.default_rng(version).random((3, 5, 7)) < 0.5).astype(np.uint8)


# One writer per kind of output, each called with a version number 1 or 2.
WRITERS = {
    'checkpoint (MMEngine)': lambda p, v: save_checkpoint(
        dict(meta=dict(epoch=v), state_dict={'w': torch.full((64, ), float(v))}), str(p)),
    'json (MMEngine dump)': lambda p, v: mmengine.dump(dict(version=v), str(p)),
    'combined model': lambda p, v: atomic_torch_save(dict(state_dict={'w': torch.ones(v)}), p),
    'png': lambda p, v: atomic_save_image(p, np.full((4, 6), 40 * v, np.uint8)),
    'json': lambda p, v: atomic_write_json(p, dict(version=v)),
    'dat': lambda p, v: write_dat(str(p), _spikes(v)),
    'npz': lambda p, v: write_npz(str(p), _spikes(v), v, 'cat'),
}
SUFFIX = {'checkpoint (MMEngine)': '.pth', 'json (MMEngine dump)': '.json',
          'combined model': '.pth', 'png': '.png', 'json': '.json', 'dat': '.dat', 'npz': '.npz'}


def test_mmengine_writes_through_the_atomic_backend(tmp_path):
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')), AtomicLocalBackend)
    # A plain LocalBackend cached before the install is dropped from MMEngine's cache.
    key = f':{"{}"}'
    mmengine_io.backend_instances[key] = LocalBackend()
    install_atomic_backend()
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')), AtomicLocalBackend)


class _DiskFull:
    """A file whose ``write`` stores half of the data and then fails, as a full disk would."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, 'No space left on device')

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


@pytest.mark.parametrize('kind', list(WRITERS))
def test_a_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch, kind):
    path = tmp_path / f'out{SUFFIX[kind]}'
    WRITERS[kind](path, 1)
    before = path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not mkstemp's 0600
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, 'fdopen', lambda fd, *a, **k: _DiskFull(real_fdopen(fd, *a, **k)))
    with pytest.raises(OSError, match='No space left'):
        WRITERS[kind](path, 2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [path.name]  # the temporary was removed
    WRITERS[kind](path, 2)
    assert path.read_bytes() != before


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


KILLED_SAVE = '''
    import os, sys, time
    import torch
    import spikeclip.engine  # noqa: F401
    from mmengine.runner.checkpoint import save_checkpoint

    path, marker = sys.argv[1:]
    real_fdopen = os.fdopen


    class HalfThenHang:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            open(marker, 'w').close()
            time.sleep(300)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)


    os.fdopen = lambda fd, *a, **k: HalfThenHang(real_fdopen(fd, *a, **k))
    save_checkpoint(dict(meta=dict(epoch=2), state_dict={'w': torch.full((1 << 20, ), 2.0)}),
                    path)
    '''


def test_sigkill_during_a_checkpoint_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / 'epoch_2.pth'
    save_checkpoint(dict(meta=dict(epoch=1), state_dict={'w': torch.full((1 << 20, ), 1.0)}),
                    str(path))
    before = path.read_bytes()
    marker = tmp_path / 'writing'
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(KILLED_SAVE), str(path),
                             str(marker)], env=env, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not marker.exists():
        assert proc.poll() is None, f'the save ended before it was killed: {proc.stderr.read()}'
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    proc.stderr.close()
    assert path.read_bytes() == before  # the previous checkpoint, whole
    assert load_checkpoint_file(str(path))['meta']['epoch'] == 1
    # A killed process cannot clean up: its half-written temporary is left next to the file
    # (hidden), and --resume removes it.
    left = [p for p in tmp_path.iterdir() if p.name not in (path.name, marker.name)]
    assert len(left) == 1 and left[0].name.startswith('.epoch_2.pth.')
    assert 0 < left[0].stat().st_size < len(before)
    assert remove_stale_temporaries(str(tmp_path)) == [str(left[0])]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, marker.name]


def test_a_training_run_leaves_no_temporaries(coarse_runs):
    for name in ('reference', 'resumed'):
        hidden = [p.name for p in coarse_runs[name].iterdir() if p.name.startswith('.')]
        assert hidden == [], name


def test_only_the_toolkits_own_temporaries_are_removed(tmp_path):
    # Hidden .tmp files of other programs match "<.name>.<8 characters>.tmp" too; they are
    # never ours to delete, however old.
    others = ['.budget.xlsx.backup01.tmp', '.notes.txt.abcdefgh.tmp', '.x.12345678.tmp']
    for name in others:
        (tmp_path / name).write_bytes(b'not ours')
        os.utime(tmp_path / name, (time.time() - 3600, time.time() - 3600))
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / 'out.json', 'w') as f:
            f.write('{')
            ours, = set(os.listdir(tmp_path)) - set(others)
            raise RuntimeError('killed')
    assert not osp.exists(tmp_path / ours)  # an exception cleans up; a kill leaves it:
    left = tmp_path / ours
    left.write_bytes(b'half')
    assert remove_stale_temporaries(str(tmp_path)) == [str(left)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)
