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
