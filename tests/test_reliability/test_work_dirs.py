"""Training never silently overwrites a trained run; re-running train-all (make demo) resumes."""
import os
import shutil
import subprocess
import sys
import textwrap

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


# What `make demo` leaves in work_dirs/demo (names as it writes them; the contents do not matter
# to the tests, which must not look at them).
DEMO_RUN = ['coarse/coarse_best.pth', 'coarse/best_PSNR_epoch_10.pth', 'coarse/epoch_10.pth',
            'coarse/last_checkpoint', 'prompt/prompt_best.pth', 'prompt/epoch_10.pth',
            'prompt/last_checkpoint', 'refine/refine_best.pth', 'refine/epoch_10.pth',
            'refine/last_checkpoint', 'combined_model.pth', 'test/test_metrics.json',
            'tiny_clip/open_clip_pytorch_model.bin', 'tiny_clip/open_clip_config.json',
            'tiny_clip/training.json', 'infer/predictions.json']


def _copy_with_a_demo_run(tmp_path, tests):
    """The repository's code, configs, tools and ``tests`` copied to ``tmp_path/repo``, with
    :data:`DEMO_RUN` in its ``work_dirs/demo``."""
    repo = tmp_path / 'repo'
    skip = shutil.ignore_patterns('__pycache__', '*.pyc', '.pytest_cache')
    for folder in ('spikeclip', 'configs', 'tools'):
        shutil.copytree(os.path.join(REPO_ROOT, folder), repo / folder, ignore=skip)
    for name in ('pyproject.toml', 'setup.py'):
        shutil.copy(os.path.join(REPO_ROOT, name), repo / name)
    for test in tests:
        parts = test.split('/')
        for depth in range(1, len(parts)):  # the conftest.py files of the folders above it
            conftest = os.path.join(*parts[:depth], 'conftest.py')
            if os.path.isfile(os.path.join(REPO_ROOT, conftest)):
                (repo / conftest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(os.path.join(REPO_ROOT, conftest), repo / conftest)
        (repo / test).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(REPO_ROOT, test), repo / test)
    for name in DEMO_RUN:
        path = repo / 'work_dirs' / 'demo' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f'the demo\'s {name}'.encode())
    return repo


def test_the_tool_tests_pass_beside_a_demo_run_and_leave_it_alone(tmp_path):
    # `make demo` then `make test`: the tests that ran tools/train.py with the configs' own work
    # dirs (work_dirs/demo/*) failed once the demo had filled them. The tool tests whose tools
    # default to work_dirs/ run here (the others cost minutes; the guard of tests/conftest.py
    # checks every test of the suite for what it changes or opens there).
    tests = ['tests/test_tools/test_train_tool.py', 'tests/test_tools/test_train_tiny_clip.py',
             'tests/test_tools/test_visualize.py']
    repo = _copy_with_a_demo_run(tmp_path, tests)
    before = _files(repo / 'work_dirs')
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                             *tests], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert ' passed' in result.stdout and 'error' not in result.stdout.splitlines()[-1]
    assert _files(repo / 'work_dirs') == before


def test_the_suite_fails_a_test_that_uses_the_repositorys_work_dirs(tmp_path):
    test = 'tests/test_uses_work_dirs.py'
    repo = _copy_with_a_demo_run(tmp_path, ['tests/conftest.py'])
    (repo / test).write_text(textwrap.dedent('''
        import os

        def test_reads():
            open('work_dirs/demo/coarse/coarse_best.pth', 'rb').close()

        def test_lists():
            os.listdir('work_dirs/demo/coarse')

        def test_writes(tmp_path):
            open('work_dirs/demo/coarse/notes.txt', 'w').close()
            os.rename('work_dirs/demo/coarse/notes.txt', str(tmp_path / 'notes.txt'))

        def test_removes_in_a_subprocess():
            import subprocess, sys
            subprocess.run([sys.executable, '-c', 'import os; os.remove("work_dirs/demo/'
                            'combined_model.pth")'], check=True)

        def test_its_own_work_dirs(tmp_path, monkeypatch):
            monkeypatch.chdir(tmp_path)
            os.makedirs('work_dirs/demo')
            open('work_dirs/demo/x', 'w').close()
        '''))
    env = dict(os.environ, PYTHONPATH=str(repo))
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                             test], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=600)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and '5 passed, 4 errors' in lines[-1], result.stdout[-3000:]
    work = repo / 'work_dirs' / 'demo'
    for name, what in (('test_reads', f'open {work}/coarse/coarse_best.pth'),
                       ('test_lists', f'os.listdir {work}/coarse'),
                       ('test_writes', f'open {work}/coarse/notes.txt'),
                       ('test_removes_in_a_subprocess', f'deleted {work}/combined_model.pth')):
        assert f'{test}::{name} used the repository\'s work_dirs/ (tests must use tmp paths): ' \
            in result.stdout, result.stdout[-3000:]
        assert what in result.stdout, what
