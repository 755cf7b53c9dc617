"""Small hostile files cost little memory or disk: only a recording's window is read, lengths
are checked before decoding, and archives are limited from their member lists."""
import io
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from spikeclip.datasets import fetch
from spikeclip.fileio import frame_bytes, write_dat
from spikeclip.testing import REPO_ROOT

# Runs a tool as __main__ and writes its peak resident memory (MiB) to a file when it exits:
# VmHWM of /proc/self/status, the peak of this process's own memory (ru_maxrss would include the
# parent's memory at the time of the fork).
PEAK_RSS = '''
import atexit, runpy, sys


def peak():
    with open('/proc/self/status') as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))
    open(out, 'w').write(str(kib / 1024))


out, tool = sys.argv[1], sys.argv[2]
atexit.register(peak)
sys.argv = [tool] + sys.argv[3:]
runpy.run_path(tool, run_name='__main__')
'''


def run_measured(tool, *args, env, tmp_path):
    """``tools/<tool>.py args`` in a subprocess: (CompletedProcess, peak RSS in MiB)."""
    rss = tmp_path / f'rss_{len(os.listdir(tmp_path))}.txt'
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(PEAK_RSS), str(rss),
                             osp.join(REPO_ROOT, 'tools', f'{tool}.py'), *map(str, args)],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    return result, float(rss.read_text())


def npz_of_zeros(path, frames, size):
    """A compressed ``.npz`` whose ``spk`` is ``[frames, size, size]`` zeros, written in pieces
    (``frames * size**2`` bytes uncompressed, about a thousandth of that on disk)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, dict(descr='|u1', fortran_order=False,
                                                      shape=(frames, size, size)))
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zf:
        with zf.open('spk.npy', 'w', force_zip64=True) as f:
            f.write(header.getvalue())
            block = bytes(size * size * 100)
            for _ in range(frames // 100):
                f.write(block)
    return str(path)


def test_a_long_npz_reads_only_the_window(trained_stages, tmp_path, tool_env):
    short = npz_of_zeros(tmp_path / 'short.npz', 200, 250)
    long = npz_of_zeros(tmp_path / 'long.npz', 20000, 250)  # 1.25 GB of spikes, a 1.2 MB file
    assert os.path.getsize(long) < 2 * 1024**2
    args = ['--out-dir', tmp_path / 'out', '--device', 'cpu']
    base, base_rss = run_measured('infer', trained_stages['coarse'], short, *args, env=tool_env,
                                  tmp_path=tmp_path)
    assert base.returncode == 0, base.stderr[-3000:]
    result, rss = run_measured('infer', trained_stages['coarse'], long, *args, env=tool_env,
                               tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # the demo model's 41-frame window, read around the centre of 20000 frames
    assert json.loads((tmp_path / 'out' / 'predictions.json').read_text())[0]['frames'] == 41
    print(f'\npeak RSS: 200-frame npz {base_rss:.0f} MiB, 20000-frame npz {rss:.0f} MiB')
    assert rss - base_rss < 100, (base_rss, rss)


def test_a_short_dat_is_refused_before_decoding(trained_stages, tmp_path, tool_env,
                                                run_tool_here):
    side = 4096  # the largest frame side accepted
    big = tmp_path / 'sparse.dat'
    with open(big, 'wb') as f:  # 30 frames of 4096x4096: 63 MB, sparse on disk
        f.truncate(30 * frame_bytes(side, side))
    args = ['--out-dir', tmp_path / 'out', '--device', 'cpu', '--height', side, '--width', side]
    result, rss = run_measured('infer', trained_stages['coarse'], big, *args, env=tool_env,
                               tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {big}: the model needs a window of 41 frames, but the recording holds only '
        '30 frames of 4096x4096')
    assert rss < 1500, rss  # decoding it (as float for the model) would take 2 GB more
    small = tmp_path / 'small.dat'
    write_dat(str(small), np.zeros((50, 24, 24), np.uint8))
    code, _, err = run_tool_here('infer', trained_stages['coarse'], small, '--out-dir',
                                 tmp_path / 'out', '--height', '30000', '--width', '30000')
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f'error: {small}: frame size 30000x30000 (--height/--width) is out of range: both must '
        'be between 1 and 4096')


def fetch_tool(*args, env):
    return subprocess.run([sys.executable, 'tools/fetch_data.py', *map(str, args)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_fetch_refuses_a_decompression_bomb_from_its_member_list(tmp_path, tool_env):
    bomb = tmp_path / 'bomb.zip'
    with zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED) as zf:
        with zf.open('U-CALTECH/0.npz', 'w', force_zip64=True) as f:
            block = bytes(1 << 20)
            for _ in range(256):  # 256 MiB of zeros
                f.write(block)
        zf.writestr('U-CIFAR/0.npz', b'x')
    assert os.path.getsize(bomb) < 1024**2
    data = tmp_path / 'data'
    result = fetch_tool('--archive', bomb, '--out-dir', data, env=tool_env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f'error: {bomb}: {os.path.getsize(bomb) / 1024:.1f} KiB that would unpack to more than '
        '256.0 MiB (100x); refusing what looks like a decompression bomb')
    written = sum(os.path.getsize(osp.join(d, f)) for d, _, fs in os.walk(data) for f in fs)
    assert written == 0 and os.listdir(data) == []  # nothing unpacked, no staging left


def test_fetch_limits_the_member_count_and_cleans_stale_staging(tmp_path, tool_env):
    many = tmp_path / 'many.zip'
    with zipfile.ZipFile(many, 'w') as zf:
        for i in range(30):
            zf.writestr(f'U-CALTECH/{i}.npz', b'x')
        zf.writestr('U-CIFAR/0.npz', b'x')
    data = tmp_path / 'data'
    gone = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()  # a finished process
    stale = data / f'.uhsr_unpack_{gone}_x1y2'
    (stale / 'U-CALTECH').mkdir(parents=True)
    (stale / 'U-CALTECH' / 'half.npz').write_bytes(b'\0' * 4096)
    result = fetch_tool('--archive', many, '--out-dir', data, '--max-files', 10, env=tool_env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f'error: {many}: more than 10 members (--max-files); refusing to unpack it')
    assert os.listdir(data) == []  # the stale staging folder of the killed run is gone


def test_an_archive_without_the_data_sets_is_refused_before_unpacking(tmp_path, monkeypatch):
    other = tmp_path / 'other.zip'
    with zipfile.ZipFile(other, 'w') as zf:
        zf.writestr('photos/cat.jpg', b'x' * 100)

    def no_unpacking(*args, **kwargs):
        raise AssertionError('the archive was unpacked')
    monkeypatch.setattr(fetch, 'safe_extract', no_unpacking)
    with pytest.raises(fetch.FetchError, match=r'other.zip: no U-CALTECH or U-CIFAR folder'):
        fetch.install_uhsr(str(other), str(tmp_path / 'data'))
