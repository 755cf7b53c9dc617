"""Whole recordings to high-speed video: frame indices, window centres, the video, resumption."""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.apis import infer_files, infer_recordings, init_model, iter_frames, to_uint8
from spikeclip.fileio import write_dat, write_npz
from spikeclip.fileio.mp4 import Mp4Writer, mp4_info, read_mp4
from spikeclip.models.stages.coarse import CoarseModel
from spikeclip.testing import REPO_ROOT, default_sigint
from spikeclip.utils.errors import ConfigError, SpikeCLIPError, SpikeFormatError

H, W = 24, 32
ON = range(60, 90)  # frames of the synthetic recording where every pixel fires


def tfp_model(window: int = 9, gain: float = 1.0, **kwargs) -> CoarseModel:
    """Stage 1 with a TFP encoder: frame c's image is the share of firing frames in its window."""
    return CoarseModel(encoder=dict(type='TFP', window=window, gain=gain),
                       data_preprocessor=dict(type='SpikeDataPreprocessor', window=window),
                       **kwargs).eval()


def save_checkpoint(model: CoarseModel, path) -> str:
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(spikeclip=dict(stage='coarse', model=model.export_cfg()))), path)
    return str(path)


@pytest.fixture(scope='module')
def step_recording(tmp_path_factory):
    """120 frames of 24x32: silent except frames 60-89, where every pixel fires."""
    spikes = np.zeros((120, H, W), np.uint8)
    spikes[ON.start:ON.stop] = 1
    root = tmp_path_factory.mktemp('step')
    write_dat(str(root / 'step.dat'), spikes)
    write_npz(str(root / 'step.npz'), spikes, 0, 'x')
    return root


def expected_pixel(centre: int, window: int = 9, pad_total: int = None) -> int:
    """``to_uint8`` of the share of firing frames in the window of ``centre``."""
    idx = np.arange(centre - window // 2, centre - window // 2 + window)
    if pad_total is not None:  # reflect at the ends
        idx = np.abs(idx)
        idx = np.where(idx >= pad_total, 2 * (pad_total - 1) - idx, idx)
    share = np.isin(idx, np.arange(ON.start, ON.stop)).sum() / window
    return int(to_uint8(np.full((1, 1), share, np.float32))[0, 0])


@pytest.mark.parametrize('ext', ['dat', 'npz'])
@pytest.mark.parametrize('spec,batch', [('20:100:3', 4), ('50:70', 1), (':', 16)])
def test_frame_indices_and_window_centres(step_recording, ext, spec, batch):
    frames = list(iter_frames(tfp_model(), str(step_recording / f'step.{ext}'), spec,
                              batch_size=batch, height=H, width=W))
    start, stop, *step = [int(x) if x else None for x in spec.split(':')]
    want = list(range(start or 4, stop or 116, step[0] if step else 1))  # 4:116 fit 9 frames
    assert [f.index for f in frames] == want
    for f in frames:
        assert f.image.shape == (H, W) and f.scores is None
        assert (to_uint8(f.image) == expected_pixel(f.index)).all(), f.index


def test_reflect_padding_reaches_the_ends(step_recording):
    frames = list(iter_frames(tfp_model(), str(step_recording / 'step.dat'), '0:120:1',
                              batch_size=5, pad='reflect', height=H, width=W))
    assert [f.index for f in frames] == list(range(120))
    for f in frames:
        assert (to_uint8(f.image) == expected_pixel(f.index, pad_total=120)).all(), f.index


def test_a_range_outside_the_recording_names_the_file_and_the_valid_range(step_recording,
                                                                         tmp_path):
    path = str(step_recording / 'step.dat')
    with pytest.raises(SpikeFormatError) as e:
        next(iter_frames(tfp_model(), path, '0:50', height=H, width=W))
    assert str(e.value).startswith(f'{path}: --frames 0:50 reaches frames that a full 9-frame '
                                   'window does not fit around; the 120 frames of 24x32 allow '
                                   'centre frames 4:116 (--frames 4:116)')
    with pytest.raises(SpikeFormatError, match=r'reaches outside the recording \(120 frames of '
                       r'24x32\); valid: --frames 0:120'):
        next(iter_frames(tfp_model(), path, '100:130', pad='reflect', height=H, width=W))
    with pytest.raises(SpikeFormatError, match='needs a window of 200 frames, but the recording '
                       'holds only 120 frames of 24x32'):
        next(iter_frames(tfp_model(200), path, ':', height=H, width=W))
    with pytest.raises(ConfigError, match='START:STOP'):
        next(iter_frames(tfp_model(), path, '5-10', height=H, width=W))
    with pytest.raises(ConfigError, match='no fixed window'):
        next(iter_frames(CoarseModel(encoder=dict(type='TFP')), path, ':', height=H, width=W))
    # Through the tool: one line, exit code 1.
    out = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'infer.py'),
         save_checkpoint(tfp_model(), tmp_path / 'tfp.pth'), path, '--out-dir',
         str(tmp_path / 'out'), '--frames', '100:200', '--height', str(H), '--width', str(W),
         '--device', 'cpu'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f'error: {path}: --frames 100:200 reaches frames that a full 9-frame window does not '
        'fit around; the 120 frames of 24x32 allow centre frames 4:116 (--frames 4:116), or '
        'pass --pad reflect to mirror the recording at its ends')


def test_a_video_frame_equals_the_single_image_of_its_centre(tmp_path):
    """A learned encoder: batch 1 is bit-identical to ``--frame c``; larger batches may move a
    pixel by one grey level (the convolutions sum in another order)."""
    torch.manual_seed(0)
    model = CoarseModel(encoder=dict(type='MotionUNet', window=9, channels=(4, 8)),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=9)).eval()
    for p in model.parameters():  # the zero-initialised residual head would make it TFP
        p.data.normal_(0, 0.2)
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'r.dat')
    write_dat(path, (rng.random((40, 20, 28)) < 0.3).astype(np.uint8))
    for batch, tolerance in ((1, 0), (3, 1)):
        frames = list(iter_frames(model, path, '10:30:4', batch_size=batch, height=20, width=28,
                                  amp='none'))
        for f in frames:
            single = infer_files(model, [path], str(tmp_path / f'single{f.index}'), frame=f.index,
                                 height=20, width=28, amp='none', exposure='linear')[0]
            png = np.asarray(Image.open(single['image'])).astype(int)
            assert np.abs(to_uint8(f.image).astype(int) - png).max() <= tolerance


def test_mp4_has_the_frames_and_size(tmp_path):
    for h, w in ((24, 32), (25, 33)):  # odd sides are rounded up to even (H.264 4:2:0)
        path = str(tmp_path / f'{h}x{w}.mp4')
        ramp = [np.full((h, w), 10 * i, np.uint8) for i in range(12)]
        with Mp4Writer(path, h, w, fps=24) as video:
            for frame in ramp:
                video.write(frame)
        assert mp4_info(path) == dict(frames=12, height=h + h % 2, width=w + w % 2, fps=24.0)
        decoded = read_mp4(path)
        assert np.abs(decoded[:, :h, :w].astype(int) - np.stack(ramp)).max() <= 3
    assert sorted(os.listdir(tmp_path)) == ['24x32.mp4', '25x33.mp4']  # no temporaries left
    with pytest.raises(SpikeCLIPError, match='boom'), Mp4Writer(str(tmp_path / 'x.mp4'), 4, 4):
        raise SpikeCLIPError('boom')
    assert not any(n.startswith('.x.mp4') or n == 'x.mp4' for n in os.listdir(tmp_path))


def test_frames_of_another_model_are_not_mixed_in(step_recording, tmp_path):
    path = str(step_recording / 'step.dat')
    infer_recordings(tfp_model(), [path], str(tmp_path), '20:30', height=H, width=W)
    with pytest.raises(SpikeCLIPError, match=r'step holds frames of another run '
                       r'\(model_fingerprint differ'):
        infer_recordings(tfp_model(gain=2.0), [path], str(tmp_path), '20:30', height=H, width=W)
    # The same model reuses them, and can extend the range.
    entries = infer_recordings(tfp_model(), [path], str(tmp_path), '20:40', height=H, width=W)
    assert entries[0]['count'] == 20 and entries[0]['complete']


# --- the tool, interrupted and killed ---------------------------------------------------------
SLOW_PLUGIN = '''
    """Reconstruction that takes 0.5 s per batch, to interrupt the tool mid-recording even on a
    busy machine."""
    import time

    from spikeclip.apis import video

    _run = video._Engine.run


    def slow_run(self, *args, **kwargs):
        time.sleep(0.5)
        return _run(self, *args, **kwargs)


    video._Engine.run = slow_run
    '''


@pytest.fixture(scope='module')
def classifier_checkpoint(tmp_path_factory, tiny_clip_file):
    """TFP stage 1 with the tiny CLIP and the demo classes: it classifies every frame."""
    model = tfp_model(clip=dict(type='FrozenCLIP', arch='spikeclip-tiny',
                                pretrained=tiny_clip_file), class_names='demo')
    return save_checkpoint(model, tmp_path_factory.mktemp('ckpt') / 'tfp_clip.pth')


def test_a_killed_run_continues_and_gives_the_files_of_an_unbroken_run(
        classifier_checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    scene = rng.random((H, W)) < np.linspace(0.1, 0.6, W)  # a brighter right side
    spikes = ((rng.random((200, H, W)) < 0.3) | scene).astype(np.uint8)
    path = str(tmp_path / 'rec.dat')
    write_dat(path, spikes)
    spec = '10:190:2'  # 90 frames, 23 batches of 4

    (tmp_path / 'plugins').mkdir()
    (tmp_path / 'plugins' / 'slow_video_run.py').write_text(textwrap.dedent(SLOW_PLUGIN))
    env = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', PYTHONPATH=os.pathsep.join(
        [REPO_ROOT, str(tmp_path / 'plugins'), os.environ.get('PYTHONPATH', '')]))
    out, reference = tmp_path / 'out', tmp_path / 'reference'

    def command(out_dir, slow=True):
        return [sys.executable, osp.join(REPO_ROOT, 'tools', 'infer.py'), classifier_checkpoint,
                path, '--out-dir', str(out_dir), '--frames', spec, '--video', '--fps', '25',
                '--height', str(H), '--width', str(W), '--device', 'cpu', '--save-coarse',
                '--batch-size', '4'] + (
                    ['--cfg-options', 'custom_imports.imports=[slow_video_run]'] if slow else [])

    # The unbroken run, in the same settings (threads included: class scores are compared to
    # the last digit); the slowing plugin changes only the timing.
    unbroken = subprocess.run(command(reference, slow=False), cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    cmd = command(out)

    def start_and_stop(sig, min_pngs):
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        t0 = time.monotonic()
        while len([n for n in os.listdir(out / 'rec') if n.endswith('coarse.png')]
                  if (out / 'rec').is_dir() else []) < min_pngs:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() - t0 < 120
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err

    code, err = start_and_stop(signal.SIGINT, 12)
    assert code == 130 and 'Traceback' not in err
    assert err.strip().splitlines()[-1] == ('interrupted; the frames written so far are kept: '
                                            'rerun the same command to continue')
    partial = json.loads((out / 'predictions.json').read_text())
    assert len(partial) == 1 and partial[0]['complete'] is False
    assert 12 <= len(partial[0]['per_frame']) < 90
    assert not (out / 'rec.mp4').exists()

    code, _ = start_and_stop(signal.SIGKILL, 40)
    assert code == -signal.SIGKILL
    for name in os.listdir(out / 'rec'):  # every PNG on disk is whole
        if name.endswith('.png'):
            Image.open(out / 'rec' / name).load()

    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f'{path}: 90 frames in {out}/rec/ and {out}/rec.mp4 -> ' in done.stdout
    # The progress bar: frames done of all (the earlier runs' frames counted), frames per second
    # (never tqdm's s/frame) and time left.
    assert re.search(r'rec\.dat: 100%\|[^|]*\| 90/90 \[\d\d:\d\d<00:00, +\d+\.\d\dframe/s\]',
                     done.stderr), done.stderr[-1000:]

    def visible_files(root):
        return sorted(osp.relpath(osp.join(d, n), root) for d, _, names in os.walk(root)
                      for n in names if not n.startswith('.'))

    assert visible_files(out) == visible_files(reference)
    assert len(visible_files(out)) == 2 * 90 + 3  # PNGs, coarse PNGs, run.json, MP4, JSON
    for name in visible_files(reference):
        got, want = (out / name).read_bytes(), (reference / name).read_bytes()
        if name == 'predictions.json':
            got = got.replace(str(out).encode(), str(reference).encode())
        assert got == want, name
    hidden = [n for d, _, names in os.walk(out) for n in names if n.startswith('.')]
    assert not [n for n in hidden if n.endswith('.tmp')]  # no temporaries left behind

    entry = json.loads((reference / 'predictions.json').read_text())[0]
    assert entry['complete'] and entry['count'] == 90 and entry['video'] == f'{reference}/rec.mp4'
    assert [f['frame'] for f in entry['per_frame']] == list(range(10, 190, 2))
    assert all(len(f['topk']) == 5 for f in entry['per_frame'])
    assert mp4_info(entry['video']) == dict(frames=90, height=H, width=W, fps=25.0)
    # The clip's label: the per-frame probabilities averaged over the clip.
    frames = list(iter_frames(init_model(classifier_checkpoint, device='cpu'), path, spec,
                              height=H, width=W))
    mean = np.mean([f.scores for f in frames], axis=0)
    assert entry['clip']['topk'][0]['label'] == int(np.argmax(mean))
    assert entry['clip']['topk'][0]['score'] == pytest.approx(float(mean.max()), rel=1e-6)
    top1 = [int(np.argmax(f.scores)) for f in frames]
    assert entry['clip']['agreement'] == pytest.approx(np.mean(np.array(top1) == np.argmax(mean)))


def test_class_names_without_a_clip_classify_nothing(step_recording, tmp_path):
    """A stage-1 model may carry class names but no CLIP: no scores, no clip label (no NaN)."""
    entries = infer_recordings(tfp_model(class_names='demo'), [str(step_recording / 'step.dat')],
                               str(tmp_path), '50:60', height=H, width=W)
    assert 'clip' not in entries[0]
    saved = json.loads((tmp_path / 'predictions.json').read_text())[0]
    assert [f['frame'] for f in saved['per_frame']] == list(range(50, 60))
    assert all(set(f) == {'frame', 'image'} for f in saved['per_frame'])


def test_defaults_follow_the_device(step_recording, monkeypatch, tmp_path):
    """Without batch size or threads given: one window per model call and no reader or writer
    threads on a CPU (where they take cores from the model); batches of 4 with threads on a GPU."""
    from spikeclip.apis import video
    assert (video.default_batch_size('cpu'), video.default_overlap('cpu')) == (1, False)
    assert (video.default_batch_size('cuda'), video.default_overlap('cuda')) == (4, True)
    calls, threaded, threaded_flags = [], [], []  # windows per call, readers, writers
    run = video._Engine.run
    monkeypatch.setattr(video._Engine, 'run',
                        lambda self, path, centres, windows: calls.append(len(centres)) or
                        run(self, path, centres, windows))
    prefetched, writer_init = video._prefetched, video._Writer.__init__

    def spy_writer(self, write, depth=8, threaded=True):
        threaded_flags.append(threaded)
        writer_init(self, write, depth, threaded)

    monkeypatch.setattr(video, '_prefetched', lambda *a, **k: threaded.append(1) or
                        prefetched(*a, **k))
    monkeypatch.setattr(video._Writer, '__init__', spy_writer)
    path = str(step_recording / 'step.dat')
    frames = list(iter_frames(tfp_model(), path, '50:56', height=H, width=W))
    infer_recordings(tfp_model(), [path], str(tmp_path / 'out'), '50:53', height=H, width=W,
                     exposure='linear')  # 'auto' adds the calls of its sample frames
    assert [f.index for f in frames] == list(range(50, 56))
    assert calls == [1] * 9 and not threaded and threaded_flags == [False]
    calls.clear()
    list(iter_frames(tfp_model(), path, '50:56', batch_size=3, prefetch=True, height=H, width=W))
    assert calls == [3, 3] and threaded  # what is given wins
