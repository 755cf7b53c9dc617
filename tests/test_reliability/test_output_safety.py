"""tools/infer.py writes only what is its own to write: failed writes end the run with an error
(never a truncated video under its real name), files that are not ours are never replaced, one
run at a time per --out-dir, and symbolic links planted in output folders are not followed."""
import json
import os
import os.path as osp
import resource
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.fileio import write_dat, write_npz
from spikeclip.fileio.mp4 import Mp4Writer, mp4_frame_count, mp4_info
from spikeclip.models.stages.coarse import CoarseModel
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.atomic import FolderLock
from spikeclip.utils.errors import OutputError

H, W = 48, 64


def tfp_checkpoint(path, window: int = 9, **kwargs) -> str:
    """Stage 1 with a TFP encoder (no weights: frame c's image is its window's spike rate)."""
    model = CoarseModel(encoder=dict(type='TFP', window=window),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=window),
                        **kwargs).eval()
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(spikeclip=dict(stage='coarse', model=model.export_cfg()))), path)
    return str(path)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return tfp_checkpoint(tmp_path_factory.mktemp('ckpt') / 'tfp.pth')


def noise_recording(path, frames: int = 60, height: int = H, width: int = W, seed: int = 0):
    """Spikes whose every window looks different: images that barely compress."""
    spikes = (np.random.default_rng(seed).random((frames, height, width)) < 0.5).astype(np.uint8)
    (write_npz(str(path), spikes, 0, 'x') if str(path).endswith('.npz')
     else write_dat(str(path), spikes))
    return str(path)


def infer(*args, limit=None, env, **kwargs) -> subprocess.CompletedProcess:
    """``tools/infer.py`` in a subprocess, with a file-size limit in bytes (``ulimit -f``)."""
    def preexec():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'infer.py'),
                           *map(str, args), '--device', 'cpu'], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec,
                          **kwargs)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------
# Failed writes (issue 21 item 8)
# ---------------------------------------------------------------------------------------------
MP4_UNDER_A_LIMIT = '''
import resource, sys
import numpy as np
from spikeclip.fileio.mp4 import Mp4Writer
resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))
writer = Mp4Writer(sys.argv[1], 48, 64, 25)
rng = np.random.default_rng(0)
try:
    for _ in range(10):  # 30 kB of frames: all of them fit in the pipe before ffmpeg dies
        writer.write(rng.integers(0, 256, (48, 64), dtype=np.uint8))
    writer.commit()
except Exception as e:
    print(type(e).__name__, e)
'''


def test_a_video_ffmpeg_could_not_finish_is_never_renamed_into_place(tmp_path, tool_env):
    target = tmp_path / 'clip.mp4'
    target.write_bytes(b'the previous video')
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(MP4_UNDER_A_LIMIT), str(target)],
                          env=tool_env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == (
        f'OutputError {target}: the video encoder failed (ffmpeg was ended by signal SIGXFSZ, a '
        'file-size limit); the video was not written'), done.stderr[-2000:]
    assert target.read_bytes() == b'the previous video'
    assert os.listdir(tmp_path) == ['clip.mp4']  # no temporary left either


def test_the_frame_count_is_read_from_the_mp4_index(tmp_path):
    path = str(tmp_path / 'v.mp4')
    with Mp4Writer(path, 24, 32, fps=25) as writer:
        for i in range(7):
            writer.write(np.full((24, 32), 30 * i, np.uint8))
    assert mp4_frame_count(path) == 7 == mp4_info(path)['frames']
    data = open(path, 'rb').read()
    for cut in (0, 7, len(data) // 2, len(data) - 1):  # any truncation: no index
        (tmp_path / 'cut.mp4').write_bytes(data[:cut])
        assert mp4_frame_count(str(tmp_path / 'cut.mp4')) is None


def test_a_failed_video_write_ends_the_run_and_lists_the_frames_written(checkpoint, tmp_path,
                                                                       tool_env):
    rec = noise_recording(tmp_path / 'rec.dat')
    out = tmp_path / 'out'
    done = infer(checkpoint, rec, '--out-dir', out, '--frames', '10:20', '--video',
                 '--height', H, '--width', W, '--no-progress', limit=8000, env=tool_env)
    assert done.returncode == 1, done.stderr[-3000:]
    assert last_line(done.stderr) == (
        f'error: {out}/rec.mp4: the video encoder failed (ffmpeg was ended by signal SIGXFSZ, '
        'a file-size limit); the video was not written')
    assert not (out / 'rec.mp4').exists()
    entry, = json.loads((out / 'predictions.json').read_text())
    assert entry['complete'] is False and 'video' not in entry
    assert entry['error'] == last_line(done.stderr)[len('error: '):]
    assert [f['frame'] for f in entry['per_frame']] == list(range(10, 20))
    # what was written is kept: a rerun without the limit reuses the frames and adds the video
    again = infer(checkpoint, rec, '--out-dir', out, '--frames', '10:20', '--video',
                  '--height', H, '--width', W, '--no-progress', env=tool_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert mp4_info(str(out / 'rec.mp4'))['frames'] == 10


def test_a_failed_image_write_ends_the_run_with_one_line(checkpoint, tmp_path, tool_env):
    small = noise_recording(tmp_path / 'a.npz', 30, 16, 16)
    large = noise_recording(tmp_path / 'b.npz', 30, 250, 400, seed=1)  # a PNG of ~100 kB
    out = tmp_path / 'out'
    done = infer(checkpoint, small, large, large, '--out-dir', out, '--skip-errors',
                 limit=40000, env=tool_env)
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr[-3000:]
    assert last_line(done.stderr) == (f'error: {out}/b.png: cannot be written (File too large); '
                                      'the run stops here')
    assert [e['input'] for e in json.loads((out / 'predictions.json').read_text())] == [small]
    assert sorted(os.listdir(out)) == ['.spikeclip.lock', 'a.png', 'predictions.json']


# ---------------------------------------------------------------------------------------------
# Files that are not ours, one run per folder (item 10)
# ---------------------------------------------------------------------------------------------
def test_files_not_ours_under_our_names_are_refused(checkpoint, tmp_path, run_tool_here):
    folder = tmp_path / 'recordings'  # the recording's own folder as --out-dir
    folder.mkdir()
    rec = noise_recording(folder / 'rec300.dat', 60)
    args = [checkpoint, rec, '--out-dir', folder, '--device', 'cpu', '--height', H,
            '--width', W]
    mine = {'rec300.png': b'my photo', 'predictions.json': b'{"budget": 1}',
            'rec300.mp4': b'my video'}
    for name, data in mine.items():
        (folder / name).write_bytes(data)
    code, _, err = run_tool_here('infer', *args)
    assert code == 1
    assert last_line(err) == (f'error: {folder}/predictions.json exists and is not the '
                              'predictions.json of an earlier run (not a list of entries with '
                              'an "input"); move it away or choose another --out-dir')
    (folder / 'predictions.json').unlink()
    code, _, err = run_tool_here('infer', *args)
    assert code == 1
    assert last_line(err) == (f'error: {folder}/rec300.png exists and was not written by an '
                              'earlier run of this toolkit, so it is not replaced; move it away '
                              'or choose another --out-dir')
    code, _, err = run_tool_here('infer', *args, '--frames', '10:20', '--video')
    assert code == 1
    assert last_line(err) == (f'error: {folder}/rec300.mp4 exists and was not written by an '
                              'earlier run of this toolkit, so it is not replaced; move it away '
                              'or choose another --out-dir')
    assert not (folder / 'rec300').exists()  # refused before any frame
    for name, data in mine.items():
        if name != 'predictions.json':
            assert (folder / name).read_bytes() == data
    # Our own outputs are replaced by a rerun, in both modes.
    (folder / 'rec300.png').unlink()
    (folder / 'rec300.mp4').unlink()
    for _ in range(2):
        code, _, err = run_tool_here('infer', *args)
        assert code == 0, err[-3000:]
        code, _, err = run_tool_here('infer', *args, '--frames', '10:20', '--video')
        assert code == 0, err[-3000:]
    assert mp4_info(str(folder / 'rec300.mp4'))['frames'] == 10


def test_a_video_path_that_is_a_folder_is_refused_before_any_frame(checkpoint, tmp_path,
                                                                  run_tool_here):
    rec = noise_recording(tmp_path / 'rec.dat', 60)
    (tmp_path / 'clip.mp4').mkdir()
    code, _, err = run_tool_here('infer', checkpoint, rec, '--out-dir', tmp_path / 'out',
                                 '--frames', ':', '--video', tmp_path / 'clip.mp4',
                                 '--height', H, '--width', W, '--device', 'cpu')
    assert code == 1
    assert last_line(err) == (f'error: --video {tmp_path}/clip.mp4 is an existing folder; name a '
                              '.mp4 file')
    assert not (tmp_path / 'out' / 'rec').exists()


@pytest.mark.parametrize('mode', [[], ['--frames', '10:20']])
def test_a_second_run_into_one_out_dir_is_refused(checkpoint, tmp_path, run_tool_here, mode):
    rec = noise_recording(tmp_path / 'rec.dat', 60)
    out = tmp_path / 'out'
    out.mkdir()
    with FolderLock(out):  # what a running tools/infer.py holds
        code, _, err = run_tool_here('infer', checkpoint, rec, '--out-dir', out, *mode,
                                     '--height', H, '--width', W, '--device', 'cpu')
    assert code == 1
    assert last_line(err) == (f'error: {out} is being written by another run (tools/infer.py '
                              'with the same --out-dir); wait for it or choose another --out-dir')
    assert sorted(os.listdir(out)) == ['.spikeclip.lock']
    with FolderLock(out), pytest.raises(OutputError, match='being written by another run'):
        with FolderLock(out):
            pass


# ---------------------------------------------------------------------------------------------
# --frame near the ends, symbolic links (item 12)
# ---------------------------------------------------------------------------------------------
def test_a_frame_too_close_to_an_end_is_refused_or_padded(checkpoint, tmp_path, run_tool_here):
    rec = noise_recording(tmp_path / 'rec.dat', 60)
    args = [checkpoint, rec, '--height', H, '--width', W, '--device', 'cpu']
    for frame in (0, 3, 56, 59):  # the 9-frame window fits around frames 4 to 55
        code, _, err = run_tool_here('infer', *args, '--out-dir', tmp_path / 'o', '--frame',
                                     frame)
        assert code == 1
        assert last_line(err) == (
            f'error: {rec}: --frame {frame} is too close to an end for a full 9-frame window; '
            f'the 60 frames of {H}x{W} allow centre frames 4 to 55, or pass --pad reflect to '
            'mirror the recording at its ends')
    code, _, err = run_tool_here('infer', *args, '--out-dir', tmp_path / 'single', '--frame',
                                 0, '--pad', 'reflect')
    assert code == 0, err[-3000:]
    entry, = json.loads((tmp_path / 'single' / 'predictions.json').read_text())
    assert entry['frame'] == 0 and entry['pad'] == 'reflect'
    code, _, err = run_tool_here('infer', *args, '--out-dir', tmp_path / 'video', '--frames',
                                 '0:1', '--pad', 'reflect')
    assert code == 0, err[-3000:]
    # the single image of a padded frame is the video's frame, as everywhere else
    np.testing.assert_array_equal(np.asarray(Image.open(entry['image'])),
                                  np.asarray(Image.open(tmp_path / 'video' / 'rec' /
                                                        '000000.png')))
    code, _, err = run_tool_here('infer', *args, '--out-dir', tmp_path / 'default')
    assert code == 0, err[-3000:]
    entry, = json.loads((tmp_path / 'default' / 'predictions.json').read_text())
    assert entry['frame'] == 30 and entry['pad'] is None  # the centre used is recorded


def test_a_symbolic_link_planted_as_the_score_journal_is_not_followed(tmp_path, tiny_clip_file,
                                                                     run_tool_here):
    checkpoint = tfp_checkpoint(tmp_path / 'clip.pth', clip=dict(
        type='FrozenCLIP', arch='spikeclip-tiny', pretrained=tiny_clip_file), class_names='demo')
    rec = noise_recording(tmp_path / 'rec.dat', 60)
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    folder = tmp_path / 'out' / 'rec'
    folder.mkdir(parents=True)
    os.symlink(victim, folder / '.scores')
    code, _, err = run_tool_here('infer', checkpoint, rec, '--out-dir', tmp_path / 'out',
                                 '--frames', '10:12', '--height', H, '--width', W,
                                 '--device', 'cpu')
    assert code == 1
    assert last_line(err) == (f'error: {folder}/.scores: is a symbolic link, which is not '
                              'followed; remove it')
    assert victim.read_text() == 'precious'
    elsewhere = tmp_path / 'elsewhere'  # the frame folder itself planted as a link
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / 'out' / 'rec2')
    os.symlink(rec, tmp_path / 'rec2.dat')
    code, _, err = run_tool_here('infer', checkpoint, tmp_path / 'rec2.dat', '--out-dir',
                                 tmp_path / 'out', '--frames', '10:12', '--height', H,
                                 '--width', W, '--device', 'cpu')
    assert code == 1
    assert last_line(err) == (f'error: {tmp_path}/out/rec2 is a symbolic link, which is not '
                              'followed; remove it or choose another --out-dir')
    assert os.listdir(elsewhere) == []


# ---------------------------------------------------------------------------------------------
# Video mode's options and SIGTERM (item 13)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('option, message', [
    (['--fps', 'inf'], "--fps must be a finite positive frame rate, got inf"),
    (['--fps', 'nan'], "--fps must be a finite positive frame rate, got nan"),
    (['--fps', '0'], "--fps must be a finite positive frame rate, got 0.0"),
    (['--frames', '-5:10'], '--frames -5:10: frame indices cannot be negative (frames count '
     'from 0; leave START out for the first frame a full window fits around)'),
    (['--frames', '5:10:-1'], '--frames 5:10:-1: STEP must be at least 1, got -1'),
])
def test_bad_video_options_are_one_line_errors(checkpoint, tmp_path, run_tool_here, option,
                                               message):
    rec = noise_recording(tmp_path / 'rec.dat', 60)
    code, _, err = run_tool_here('infer', checkpoint, rec, '--out-dir', tmp_path / 'out',
                                 '--frames', ':', '--video', *option, '--height', H,
                                 '--width', W, '--device', 'cpu')
    assert code == 1
    assert last_line(err) == f'error: {message}'


SLOW_PLUGIN = '''
import time

from spikeclip.apis import video

_run = video._Engine.run


def slow_run(self, *args, **kwargs):
    time.sleep(0.3)
    return _run(self, *args, **kwargs)


video._Engine.run = slow_run
'''


def test_sigterm_stops_a_video_run_like_ctrl_c(checkpoint, tmp_path, tool_env):
    (tmp_path / 'plugins').mkdir()
    (tmp_path / 'plugins' / 'slow_video_run.py').write_text(SLOW_PLUGIN)
    env = dict(tool_env, PYTHONPATH=os.pathsep.join([str(tmp_path / 'plugins'),
                                                      tool_env['PYTHONPATH']]))
    rec = noise_recording(tmp_path / 'rec.dat', 60)
    out = tmp_path / 'out'
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'infer.py'), checkpoint, rec,
           '--out-dir', str(out), '--frames', '5:50', '--video', '--height', str(H),
           '--width', str(W), '--device', 'cpu', '--no-progress', '--cfg-options',
           'custom_imports.imports=[slow_video_run]']
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while len([n for n in os.listdir(out / 'rec') if n.endswith('.png')]
              if (out / 'rec').is_dir() else []) < 5:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() - t0 < 120
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and 'Traceback' not in err, err[-3000:]
    assert last_line(err) == ('interrupted; the frames written so far are kept: rerun the same '
                              'command to continue')
    entry, = json.loads((out / 'predictions.json').read_text())
    assert entry['complete'] is False and 5 <= len(entry['per_frame']) < 45
    assert not (out / 'rec.mp4').exists()
    done = subprocess.run(cmd[:-2], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert mp4_info(str(out / 'rec.mp4'))['frames'] == 45
