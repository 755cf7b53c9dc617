"""tools/train_tiny_clip.py: trains, reports, reuses, and refuses bad options."""
import importlib.util
import os.path as osp
import runpy
import sys

import pytest

from spikeclip.testing import REPO_ROOT


@pytest.fixture(scope='module')
def main():
    spec = importlib.util.spec_from_file_location(
        'train_tiny_clip_tool', osp.join(REPO_ROOT, 'tools', 'train_tiny_clip.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_tool_trains_reports_and_reuses(main, tmp_path, capsys):
    out = str(tmp_path / 'clip')
    main(['--out-dir', out, '--steps', '2', '--batch-size', '4'])
    text = capsys.readouterr().out
    assert 'open_clip_pytorch_model.bin' in text and 'steps/s' in text
    assert 'zero-shot top-1' in text  # evaluated through FrozenCLIP on the test regions
    main(['--out-dir', out, '--steps', '2', '--batch-size', '4'])
    assert 'reusing' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(['--out-dir', out, '--steps', '0'])
    assert '--steps must be positive' in capsys.readouterr().err


def test_tool_names_a_bad_output_folder(tmp_path, monkeypatch):
    taken = tmp_path / 'taken'
    taken.write_text('not a folder')
    monkeypatch.setattr(sys, 'argv', ['train_tiny_clip.py', '--out-dir', str(taken)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train_tiny_clip.py'), run_name='__main__')
    assert exit_info.value.code == f'error: {taken} exists and is not a folder; the tiny CLIP ' \
        'needs a folder'


def test_another_recipe_never_replaces_trained_weights_without_force(main, tmp_path,
                                                                     monkeypatch, capsys):
    out = tmp_path / 'tiny_clip'
    main(['--out-dir', str(out), '--steps', '2', '--batch-size', '4'])
    trained = (out / 'open_clip_pytorch_model.bin').read_bytes()
    # What replaced the demo's tiny CLIP: one changed option, the same folder.
    monkeypatch.setattr(sys, 'argv', ['train_tiny_clip.py', '--out-dir', str(out), '--steps',
                                      '3', '--batch-size', '4'])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train_tiny_clip.py'), run_name='__main__')
    assert exit_info.value.code == (
        f'error: {out} holds a tiny CLIP of another recipe (steps 2 there, 3 here); training '
        'this one would replace open_clip_pytorch_model.bin, which the stages trained with it '
        'need. Train it elsewhere with --out-dir DIR, or pass --force to retrain here (the old '
        'weights are moved to a previous_<time> folder)')
    assert (out / 'open_clip_pytorch_model.bin').read_bytes() == trained
    assert [p.name for p in out.iterdir() if p.name.startswith('previous_')] == []

    capsys.readouterr()
    main(['--out-dir', str(out), '--steps', '3', '--batch-size', '4', '--force'])
    assert 'moved the earlier' in capsys.readouterr().out
    (previous, ) = [p for p in out.iterdir() if p.name.startswith('previous_')]
    assert (previous / 'open_clip_pytorch_model.bin').read_bytes() == trained
    assert (out / 'open_clip_pytorch_model.bin').read_bytes() != trained
