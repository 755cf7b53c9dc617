"""StageCheckpointHook in a real Runner: ``<stage>_best.pth`` is always a whole copy of MMEngine's
best checkpoint, replaced only when the best one changes."""
import torch

from spikeclip.utils.checkpoint import load_checkpoint_file


def _hook(**kwargs):
    return dict(checkpoint=dict(type='StageCheckpointHook', interval=1, save_best='score',
                                rule='greater', **kwargs))


def test_the_stage_best_file_follows_the_best_epoch(make_runner, tmp_path):
    runner = make_runner(epochs=3, scores=(1.0, 3.0, 2.0), default_hooks=_hook())
    runner.train()
    best = tmp_path / 'best_score_epoch_2.pth'
    assert sorted(p.name for p in tmp_path.glob('*best*.pth')) == [best.name, 'coarse_best.pth']
    assert (tmp_path / 'coarse_best.pth').read_bytes() == best.read_bytes()
    stored = load_checkpoint_file(str(tmp_path / 'coarse_best.pth'))
    assert stored['meta']['epoch'] == 2
    last = load_checkpoint_file(str(tmp_path / 'epoch_3.pth'))['state_dict']
    assert not torch.equal(stored['state_dict']['conv.0.weight'], last['conv.0.weight'])


def test_a_model_without_a_stage_keeps_model_best(make_runner, tmp_path):
    make_runner(stage=None, scores=(5.0, ), default_hooks=_hook()).train()
    assert (tmp_path / 'model_best.pth').read_bytes() == \
        (tmp_path / 'best_score_epoch_1.pth').read_bytes()


def test_without_save_best_there_is_no_best_file(make_runner, tmp_path):
    make_runner(default_hooks=dict(checkpoint=dict(type='StageCheckpointHook',
                                                   interval=1))).train()
    assert (tmp_path / 'epoch_1.pth').is_file() and not list(tmp_path.glob('*best*'))


def _checkpoint_hook(runner):
    return next(h for h in runner.hooks if type(h).__name__ == 'StageCheckpointHook')


def test_resuming_another_runs_checkpoint_deletes_nothing_of_that_run(make_runner, tmp_path):
    other = tmp_path / 'other'
    make_runner(work_dir=other, scores=(1.0, ), default_hooks=_hook()).train()
    before = {p.name: p.read_bytes() for p in other.glob('*.pth')}
    assert 'best_score_epoch_1.pth' in before

    # Its epoch-1 checkpoint resumed into a new folder: the message hub names other's best
    # checkpoint (score 1.0). Epoch 2 scores worse than that, epoch 3 better.
    work = tmp_path / 'work'
    runner = make_runner(work_dir=work, epochs=3, scores=(0.5, 2.0),
                         default_hooks=_hook(max_keep_ckpts=1), resume=True,
                         load_from=str(other / 'epoch_1.pth'))
    runner.train()
    assert {p.name: p.read_bytes() for p in other.glob('*.pth')} == before
    # This run kept its own best: epoch 2 was its first, replaced by epoch 3.
    assert sorted(p.name for p in work.glob('*best*.pth')) == ['best_score_epoch_3.pth',
                                                                'coarse_best.pth']
    best = work / 'best_score_epoch_3.pth'
    assert (work / 'coarse_best.pth').read_bytes() == best.read_bytes()
    hub = load_checkpoint_file(str(work / 'epoch_3.pth'))['message_hub']['runtime_info']
    assert hub['best_ckpt'] == str(best) and hub['best_score'] == 2.0
    log = work / runner.timestamp / f'{runner.timestamp}.log'
    assert f'names {other / "best_score_epoch_1.pth"} as its best checkpoint' in log.read_text()

    # Whatever MMEngine asks its file backend to remove outside the folder stays.
    hook = _checkpoint_hook(runner)
    hook.file_backend.remove(str(other / 'epoch_1.pth'))
    hook.file_backend.rmtree(str(other))
    hook.file_backend.remove(str(work / '..' / 'other' / 'coarse_best.pth'))
    assert {p.name: p.read_bytes() for p in other.glob('*.pth')} == before
    assert f'not removing {other / "epoch_1.pth"}: it lies outside the checkpoint folder ' \
        f'{work}' in log.read_text()
    hook.file_backend.remove(str(work / 'epoch_3.pth'))  # its own files it may remove
    assert not (work / 'epoch_3.pth').exists()
