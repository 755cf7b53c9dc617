"""A training run killed mid-epoch and restarted with --resume ends where an unbroken run ends."""
import os
import os.path as osp

import torch

from spikeclip.engine import load_config
from spikeclip.engine.runner import find_resume_checkpoint, prepare_resume
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.checkpoint import load_checkpoint_file


def _assert_same_tensors(a, b, what):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), what
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _assert_same_tensors(a[k], b[k], f'{what}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f'{what}[{i}]')
    else:
        assert a == b, what


def test_killed_run_resumes_to_the_same_weights_and_metrics(coarse_runs):
    # The kill landed in epoch 2: the epoch-1 checkpoint existed, the epoch-2 one did not.
    assert coarse_runs['killed_returncode'] == -9
    assert 'epoch_1.pth' in coarse_runs['killed_files']
    assert 'epoch_2.pth' not in coarse_runs['killed_files']
    log = (coarse_runs['root'] / 'resume.log').read_text()
    assert 'resumed epoch: 1, iter: 2' in log

    ref = load_checkpoint_file(str(coarse_runs['reference'] / 'epoch_3.pth'))
    res = load_checkpoint_file(str(coarse_runs['resumed'] / 'epoch_3.pth'))
    assert ref['meta']['epoch'] == res['meta']['epoch'] == 3
    assert ref['meta']['iter'] == res['meta']['iter'] == 6
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        _assert_same_tensors(ref[key], res[key], key)  # bit-exact
    metrics = coarse_runs['metrics']
    assert sorted(metrics['resumed']) == [2, 3]  # the resumed run validated epochs 2 and 3
    assert metrics['resumed'][3] == metrics['reference'][3]
    assert metrics['resumed'][2] == metrics['reference'][2]
    print(f"\nresume figures (s): {coarse_runs['seconds']}")


def _fake_checkpoint(path, epoch):
    torch.save(dict(meta=dict(epoch=epoch, iter=2 * epoch, seed=7),
                    state_dict={'w': torch.full((2, ), float(epoch))}), path)


def test_resume_survives_a_torn_pointer_and_a_truncated_checkpoint(tmp_path):
    for epoch in (1, 2, 3):
        _fake_checkpoint(tmp_path / f'epoch_{epoch}.pth', epoch)
        t = 1_700_000_000 + epoch  # distinct modification times, newest last
        os.utime(tmp_path / f'epoch_{epoch}.pth', (t, t))
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text(str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_2.pth')
    pointer.write_text('')  # killed while MMEngine rewrote the pointer in place
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_3.pth')
    pointer.write_text(str(tmp_path / 'epoch_4.pth'))  # names a checkpoint never written
    data = (tmp_path / 'epoch_3.pth').read_bytes()
    (tmp_path / 'epoch_3.pth').write_bytes(data[:len(data) // 2])  # written by a non-atomic tool
    path, meta = find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'epoch_2.pth') and meta['epoch'] == 2
    for name in ('epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth', 'last_checkpoint'):
        (tmp_path / name).unlink()
    assert find_resume_checkpoint(str(tmp_path)) is None


def test_prepare_resume_takes_the_seed_and_cleans_temporaries(tmp_path):
    _fake_checkpoint(tmp_path / 'epoch_1.pth', 1)
    # left by a save killed before its rename
    stale = tmp_path / '.epoch_2.pth.spikeclip-ab1_x9z2.tmp'
    stale.write_bytes(b'half a checkpoint')
    keep = tmp_path / 'notes.tmp'
    keep.write_text('not ours')
    cfg = load_config(osp.join(REPO_ROOT, 'configs/coarse_demo.py'), work_dir=str(tmp_path))
    cfg.randomness = dict(seed=None)  # a run without a fixed seed draws one
    assert prepare_resume(cfg) == str(tmp_path / 'epoch_1.pth')
    assert cfg.resume and cfg.load_from == str(tmp_path / 'epoch_1.pth')
    assert cfg.randomness['seed'] == 7  # known before the sampler draws its shuffling seed
    assert not stale.exists() and keep.exists()
    empty = load_config(osp.join(REPO_ROOT, 'configs/coarse_demo.py'),
                        work_dir=str(tmp_path / 'empty'))
    assert prepare_resume(empty) is None and not empty.resume
