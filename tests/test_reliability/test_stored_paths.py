"""Checkpoints load from any directory: the CLIP weight file they name is stored absolute, a
relative one resolves next to the checkpoint, and a missing one says where it came from and can
be pointed elsewhere with --cfg-options."""
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

from spikeclip.apis.combine import combine_checkpoints
from spikeclip.fileio import write_npz
from spikeclip.testing import REPO_ROOT, tiny_options
from spikeclip.utils.checkpoint import load_checkpoint_file


def run(tool, *args, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', f'{tool}.py'),
                           *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def stored_clip(path) -> str:
    return load_checkpoint_file(str(path))['meta']['spikeclip']['model']['clip']['pretrained']


def with_stored_clip(src, dst, pretrained) -> str:
    ckpt = load_checkpoint_file(str(src))
    ckpt['meta']['spikeclip']['model']['clip']['pretrained'] = pretrained
    torch.save(ckpt, dst)
    return str(dst)


@pytest.fixture(scope='module')
def spikes(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp('spk') / 'a.npz')
    write_npz(path, torch.zeros(200, 24, 24, dtype=torch.uint8).numpy(), 0, 'x')
    return path


def test_a_checkpoint_trained_with_a_relative_clip_path_works_elsewhere(
        trained_stages, tiny_clip_file, spikes, tmp_path, tool_env):
    project = tmp_path / 'project'
    (project / 'work_dirs' / 'demo').mkdir(parents=True)
    shutil.copy(tiny_clip_file, project / 'work_dirs' / 'demo' / 'tiny_clip.pth')
    opts = tiny_options('configs/prompt_demo.py', 'work_dirs/demo/prompt',
                        'work_dirs/demo/tiny_clip.pth',
                        **{'model.coarse_checkpoint': trained_stages['coarse']})
    result = run('train', osp.join(REPO_ROOT, 'configs', 'prompt_demo.py'), '--cfg-options',
                 *[f'{k}={v}' for k, v in opts.items()], cwd=project, env=tool_env)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = project / 'work_dirs' / 'demo' / 'prompt' / 'prompt_best.pth'
    assert stored_clip(ckpt) == str(project / 'work_dirs' / 'demo' / 'tiny_clip.pth')

    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    result = run('infer', ckpt, spikes, '--out-dir', 'out', '--device', 'cpu', cwd=elsewhere,
                 env=tool_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (elsewhere / 'out' / 'a.png').is_file()


@pytest.fixture(scope='module')
def combined(trained_stages, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('combined') / 'combined_model.pth')
    combine_checkpoints(trained_stages['coarse'], trained_stages['prompt'],
                        trained_stages['refine'], out)
    return out


def test_relative_paths_resolve_next_to_the_checkpoint(combined, tiny_clip_file, spikes,
                                                       tmp_path, tool_env):
    bundle = tmp_path / 'bundle'
    bundle.mkdir()
    shutil.copy(tiny_clip_file, bundle / 'tiny_clip.pth')
    path = with_stored_clip(combined, bundle / 'model.pth', 'tiny_clip.pth')
    result = run('infer', path, spikes, '--out-dir', tmp_path / 'out', '--device', 'cpu',
                 cwd=tmp_path, env=tool_env)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_missing_stored_path_is_explained_and_can_be_overridden(combined, tiny_clip_file,
                                                                  spikes, tmp_path, tool_env):
    path = with_stored_clip(combined, tmp_path / 'model.pth', 'work_dirs/demo/tiny_clip.pth')
    result = run('infer', path, spikes, '--out-dir', tmp_path / 'out', '--device', 'cpu',
                 cwd=tmp_path, env=tool_env)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {path}: meta.spikeclip.model.clip.pretrained='work_dirs/demo/tiny_clip.pth' is "
        'a relative path stored in the checkpoint, and it exists neither next to the checkpoint '
        f'({tmp_path}/work_dirs/demo/tiny_clip.pth) nor in the current directory '
        f'({tmp_path}/work_dirs/demo/tiny_clip.pth); point it at the file with --cfg-options '
        'model.clip.pretrained=/path/to/file')
    option = f'model.clip.pretrained={tiny_clip_file}'
    result = run('infer', path, spikes, '--out-dir', tmp_path / 'out', '--device', 'cpu',
                 '--cfg-options', option, cwd=tmp_path, env=tool_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'out' / 'a.png').is_file()
    # tools/test.py rebuilds a combined model from the checkpoint: the same override applies.
    data = [f'test_dataloader.{k}={v}' for k, v in (
        ('batch_size', 2), ('num_workers', 0), ('persistent_workers', False),
        ('dataset.num_samples', 2), ('dataset.crop_size', 24))]
    result = run('test', osp.join(REPO_ROOT, 'configs', 'pipeline_demo.py'), path, '--work-dir',
                 tmp_path / 'test', '--cfg-options', option, *data, cwd=tmp_path, env=tool_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'test' / 'test_metrics.json').is_file()
    # Keys that are not the model's do not apply to a checkpoint's model.
    result = run('infer', path, spikes, '--out-dir', tmp_path / 'out', '--cfg-options',
                 'train_cfg.max_epochs=3', cwd=tmp_path, env=tool_env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: --cfg-options train_cfg.max_epochs: only model.* and custom_imports keys apply '
        f'to the model of {path}')
