"""Training never silently overwrites a trained run; re-running train-all (make demo) resumes."""
import os

from spikeclip.apis.train_all import stage_paths, train_all


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
