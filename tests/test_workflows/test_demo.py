"""run_demo: which CLIP the stages get, and when they are trained afresh (the run itself is
``make demo``, too slow for a test; this stops it once the stages would start)."""
import pytest

import spikeclip.workflows.demo as demo
import spikeclip.workflows.tiny_clip as tiny_clip


class _Stop(Exception):
    pass


@pytest.fixture
def calls(monkeypatch):
    seen = {}

    def fake_ensure(out_dir, **kwargs):
        seen['ensure'] = dict(kwargs, out_dir=out_dir)
        return dict(weights='/clip/open_clip_pytorch_model.bin', reused=seen['reused'])

    def fake_train_all(dataset, work_root, stage_options, force):
        seen['train_all'] = dict(dataset=dataset, options=stage_options, force=force)
        raise _Stop

    monkeypatch.setattr(tiny_clip, 'ensure_tiny_clip', fake_ensure)
    monkeypatch.setattr(demo, 'train_all', fake_train_all)
    return seen


@pytest.mark.parametrize('reused,force,retrain', [(True, False, False), (False, False, True),
                                                  (True, True, True)])
def test_stages_follow_the_tiny_clip(calls, tmp_path, reused, force, retrain):
    calls['reused'] = reused
    with pytest.raises(_Stop):
        demo.run_demo(str(tmp_path), force=force)
    # --force retrains the tiny CLIP too; a tiny CLIP that was (re)trained retrains the stages,
    # which were trained around the earlier one.
    assert calls['ensure']['force'] is force
    # The demo owns its folder: a tiny CLIP of another recipe there is moved aside and
    # retrained (with the stages) instead of refused.
    assert calls['ensure']['move_other'] is True
    assert calls['train_all']['force'] is retrain
    for stage in ('coarse', 'prompt', 'refine'):
        assert 'model.clip.pretrained=/clip/open_clip_pytorch_model.bin' in \
            calls['train_all']['options'][stage]
