"""ValidateBeforeTrainHook in a real Runner: the untrained model is validated once before the first
epoch (so it can be the best checkpoint), and not again when a run resumes."""


def _run(make_runner, tmp_path, scores, **kwargs):
    runner = make_runner(epochs=2, scores=scores, work_dir=tmp_path,
                         custom_hooks=[dict(type='ValidateBeforeTrainHook')],
                         default_hooks=dict(checkpoint=dict(
                             type='StageCheckpointHook', interval=1, save_best='score',
                             rule='greater')), **kwargs)
    runner.train()
    return runner


def test_the_untrained_model_is_validated_first_and_can_stay_the_best(make_runner, tmp_path):
    runner = _run(make_runner, tmp_path, scores=(9.0, 1.0, 2.0))
    assert runner.val_evaluator.metrics[0].calls == 3  # before training, then after each epoch
    # The untrained model scored best ("epoch 0"); no epoch beat it, so it stays the best.
    assert sorted(p.name for p in tmp_path.glob('*best*.pth')) == ['best_score_epoch_0.pth',
                                                                   'coarse_best.pth']
    assert runner.message_hub.get_info('best_score') == 9.0


def test_a_resumed_run_does_not_validate_again_first(make_runner, tmp_path):
    _run(make_runner, tmp_path / 'first', scores=(1.0, 2.0, 3.0))
    resumed = make_runner(epochs=3, scores=(5.0, ), work_dir=tmp_path / 'first', resume=True,
                          custom_hooks=[dict(type='ValidateBeforeTrainHook')])
    resumed.train()
    assert resumed.val_evaluator.metrics[0].calls == 1  # epoch 3 only


def test_without_a_validation_loop_it_does_nothing(make_runner, tmp_path):
    runner = make_runner(custom_hooks=[dict(type='ValidateBeforeTrainHook')],
                         val_dataloader=None, val_cfg=None, val_evaluator=None)
    runner.train()
    assert runner.iter == 2
