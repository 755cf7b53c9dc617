"""A checkpoint that carries code is refused by every loader, and the code never runs."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

import spikeclip.engine  # noqa: F401  (MMEngine's local loads through the safe loader)
from spikeclip.apis import init_model
from spikeclip.fileio import write_npz
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError


class _Payload:
    """Unpickling this runs ``touch <marker>`` through os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.fixture
def evil(tmp_path):
    """A checkpoint-shaped file whose meta unpickles to a shell command, and its marker."""
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(meta=dict(spikeclip=dict(stage='coarse', model={}), payload=_Payload(marker)),
                    state_dict={'encoder.w': torch.zeros(1)}), path)
    return str(path), marker


def test_the_payload_is_real(evil):
    path, marker = evil
    torch.load(path, weights_only=False)  # what an unsafe loader would do
    assert marker.exists()


@pytest.mark.parametrize('force_unsafe_env', [False, True])
def test_python_loaders_refuse_it(evil, monkeypatch, force_unsafe_env):
    path, marker = evil
    if force_unsafe_env:  # makes torch.load(weights_only unset) unsafe; our loads set it
        monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(CheckpointError, match='could not be loaded safely'):
        load_checkpoint_file(path)
    with pytest.raises(CheckpointError, match='evil.pth'):
        init_model(path, device='cpu')
    # MMEngine's loader (Runner.load_checkpoint, resume) for local files.
    with pytest.raises(CheckpointError, match='could not be loaded safely'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert not marker.exists()


@pytest.fixture(scope='module')
def spike_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('spk') / 'a.npz'
    write_npz(str(path), torch.zeros(20, 16, 16, dtype=torch.uint8).numpy(), 0, 'x')
    return str(path)


@pytest.mark.parametrize('tool', ['infer', 'test'])
def test_tools_refuse_it(evil, spike_file, tmp_path, tool_env, tool):
    path, marker = evil
    env = dict(tool_env, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    if tool == 'infer':
        args = [path, spike_file, '--out-dir', str(tmp_path / 'out'), '--device', 'cpu']
    else:
        args = ['configs/baselines/tfp_demo.py', path, '--work-dir', str(tmp_path / 'work')]
    result = subprocess.run([sys.executable, f'tools/{tool}.py', *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert 'error: checkpoint' in result.stderr and 'could not be loaded safely' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not marker.exists()
