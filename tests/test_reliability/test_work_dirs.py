"""Training never silently overwrites a trained run; re-running train-all (make demo) resumes."""
import os

import pytest
import torch

from spikeclip.engine import load_config
from spikeclip.engine.runner import prepare_training
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.errors import ConfigError
from spikeclip.workflows.train_all import stage_paths, train_all


def test_a_fresh_run_is_refused_where_a_trained_run_lives(tmp_path, run_train, tool_env,
                                                          tiny_coarse_options):
    root = tmp_path / 'work_dirs'
    # train-all (what make demo runs), stage 1 only, shrunk to the tiny run.
    paths = train_all('demo', str(root), cfg_options=tiny_coarse_options, stages=('coarse', ),
                      env=tool_env)
    best = paths['coarse']
    trained = open(best, 'rb').read()
    stamp = os.stat(best).st_mtime_ns

    # The README's `python tools/train.py configs/coarse_demo.py` into the same work dir.
    work = paths['coarse_dir']
    result = run_train(work)
    assert result.returncode == 1, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f'error: {work} already holds a trained run (')
    assert 'coarse_best.pth' in line and 'last_checkpoint' in line
    assert line.endswith('a fresh run would overwrite it. Continue it with --resume, train '
                         'elsewhere with --work-dir DIR, or pass --force to start afresh (the old '
                         'checkpoints are moved to a previous_<time> folder)')
    assert open(best, 'rb').read() == trained

    # Running train-all again resumes: the finished stage is not trained again.
    again = train_all('demo', str(root), cfg_options=tiny_coarse_options, stages=('coarse', ),
                      env=tool_env)
    assert again['coarse'] == best and os.stat(best).st_mtime_ns == stamp

    # --force trains afresh and keeps the earlier run's checkpoints aside.
    result = run_train(work, '--force')
    assert result.returncode == 0, result.stderr[-3000:]
    previous = [d for d in os.listdir(work) if d.startswith('previous_')]
    assert len(previous) == 1
    moved = os.path.join(work, previous[0])
    assert open(os.path.join(moved, 'coarse_best.pth'), 'rb').read() == trained
    assert 'last_checkpoint' in os.listdir(moved)
    assert os.path.isfile(best) and os.stat(best).st_mtime_ns != stamp
    assert stage_paths('demo', str(root))['coarse'] == best


def test_resume_never_restarts_over_a_lone_best_checkpoint(tmp_path, run_tool_here):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'coarse_best.pth').write_bytes(b'a trained model')  # its epoch files deleted
    code, _, err = run_tool_here('train', 'configs/coarse_demo.py', '--work-dir', work,
                                 '--resume')
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f'error: --resume: {work} holds coarse_best.pth but no checkpoint to resume from '
        '(epoch_*.pth, iter_*.pth); pass --force to start afresh (they are moved to a '
        'previous_<time> folder) or train elsewhere with --work-dir DIR')
    assert (work / 'coarse_best.pth').read_bytes() == b'a trained model'


def _trained_run(work):
    """A work dir as a finished run leaves it (its step checkpoints rotated away)."""
    work.mkdir(parents=True)
    (work / 'coarse_best.pth').write_bytes(b'a trained model')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_9.pth'))
    return {p.name: p.read_bytes() for p in work.iterdir()}


def _checkpoint(path, epoch=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(meta=dict(epoch=epoch, iter=2 * epoch, seed=7),
                    state_dict={'w': torch.zeros(2)}), path)
    return path


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob('*') if p.is_file()}


@pytest.mark.parametrize('how', ['--resume FILE', 'cfg-options', 'config', 'RANK=1',
                                 'RANK=1 --resume FILE'])
def test_resuming_another_runs_checkpoint_never_replaces_a_trained_run(
        tmp_path, run_tool_here, monkeypatch, tiny_coarse_options, how):
    work = tmp_path / 'work'
    trained = _trained_run(work)
    other = _checkpoint(tmp_path / 'other' / 'epoch_1.pth')
    other_files = _files(other.parent)
    config, args, options = 'configs/coarse_demo.py', [], list(tiny_coarse_options)
    if '--resume FILE' in how:
        args = ['--resume', other]
    if how == 'cfg-options':
        options += ['resume=True', f'load_from={other}']
    if how == 'config':
        config = tmp_path / 'resume_other.py'
        config.write_text(f'_base_ = [{os.path.join(REPO_ROOT, "configs", "coarse_demo.py")!r}]\n'
                          f'resume = True\nload_from = {str(other)!r}\n')
    if how.startswith('RANK=1'):
        monkeypatch.setenv('RANK', '1')  # a single-process run all the same (no --launcher)
    code, _, err = run_tool_here('train', config, '--work-dir', work, *args, '--cfg-options',
                                 *options)
    assert code == 1, err[-3000:]
    line = err.strip().splitlines()[-1]
    if how == 'RANK=1':
        assert line.startswith(f'error: {work} already holds a trained run (')
    else:
        assert line == (
            f'error: resuming {other}, which lies outside the work dir {work}, would overwrite '
            f'the run there (coarse_best.pth, last_checkpoint). Resume it into its own folder '
            f'(--work-dir {other.parent}) or a new one, or pass --force (the old checkpoints '
            'are moved to a previous_<time> folder)')
    assert _files(work) == trained
    assert _files(other.parent) == other_files


def test_where_a_checkpoint_to_resume_lies_decides(tmp_path, monkeypatch):
    work = tmp_path / 'work'
    trained = _trained_run(work)
    cfg = load_config(os.path.join(REPO_ROOT, 'configs/coarse_demo.py'), work_dir=str(work))
    # One of the run itself continues it.
    own = _checkpoint(work / 'epoch_1.pth')
    assert prepare_training(cfg, str(own)) == str(own) and cfg.resume
    own.unlink()
    assert _files(work) == trained
    # One moved aside earlier is another run's.
    aside = _checkpoint(work / 'previous_1' / 'epoch_1.pth')
    with pytest.raises(ConfigError, match='lies outside the work dir'):
        prepare_training(cfg, str(aside))

    # Every rank of a distributed launch refuses; with --force only rank 0 moves the files.
    other = _checkpoint(tmp_path / 'other' / 'epoch_1.pth')
    monkeypatch.setenv('RANK', '1')
    cfg.launcher = 'pytorch'
    with pytest.raises(ConfigError, match='lies outside the work dir'):
        prepare_training(cfg, str(other))
    cfg.resume, cfg.load_from = False, None
    with pytest.raises(ConfigError, match='already holds a trained run'):
        prepare_training(cfg, None)  # a fresh run
    assert prepare_training(cfg, str(other), force=True) == str(other)
    assert 'coarse_best.pth' in os.listdir(work)
    monkeypatch.setenv('RANK', '0')
    assert prepare_training(cfg, str(other), force=True) == str(other)
    assert cfg.resume and cfg.load_from == str(other)
    moved = [d for d in os.listdir(work) if d.startswith('previous_2')]
    assert len(moved) == 1 and 'coarse_best.pth' not in os.listdir(work)
    assert open(os.path.join(work, moved[0], 'coarse_best.pth'), 'rb').read() == \
        b'a trained model'
    # resume=True in the config without load_from resumes from the work dir itself.
    cfg.resume, cfg.load_from = True, None
    latest = _checkpoint(work / 'epoch_2.pth', epoch=2)
    assert prepare_training(cfg) == str(latest)
