"""Configs and tools are found in a checkout and in a package installed anywhere else."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from spikeclip.fileio import write_dat
from spikeclip.testing import REPO_ROOT
from spikeclip.utils import resources
from spikeclip.utils.errors import ConfigError
from spikeclip.workflows.train_all import stage_command


def test_a_checkout_uses_its_own_configs_and_tools(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # from any directory
    assert resources.resource_root() == REPO_ROOT
    assert resources.config_path('coarse_demo.py') == osp.join(REPO_ROOT, 'configs',
                                                               'coarse_demo.py')
    assert resources.find_config('configs/coarse_demo.py') == resources.config_path(
        'coarse_demo.py')
    assert resources.find_config('mine.py') == 'mine.py'  # unknown: the caller names it
    cmd = stage_command('coarse', 'demo', str(tmp_path))
    assert cmd[1] == osp.join(REPO_ROOT, 'tools', 'train.py')
    assert cmd[2] == osp.join(REPO_ROOT, 'configs', 'coarse_demo.py')
    with pytest.raises(ConfigError, match=r"no shipped config 'coarse_nope.py'.*coarse_demo.py"):
        stage_command('coarse', 'nope', str(tmp_path))


def test_neither_place_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, 'CHECKOUT_DIR', str(tmp_path / 'a'))
    monkeypatch.setattr(resources, 'INSTALLED_DIR', str(tmp_path / 'b'))
    with pytest.raises(ConfigError, match='neither in .*a .*nor in .*b'):
        resources.config_path('coarse_demo.py')


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The package built and installed (not editable) into a folder outside the repository."""
    site = tmp_path_factory.mktemp('site')
    build = tmp_path_factory.mktemp('build')
    env = dict(os.environ, TMPDIR=str(build))
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
         '--disable-pip-version-check', '--no-cache-dir', '--target', str(site), REPO_ROOT],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return site


def _run_installed(site, cwd, *args):
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_an_installed_package_runs_inference_and_benchmarks_outside_the_repository(
        installed, tmp_path):
    work = tmp_path / 'elsewhere'
    work.mkdir()
    probe = _run_installed(installed, work, '-c', (
        'import spikeclip; from spikeclip.utils.resources import resource_root, config_path; '
        'from spikeclip.workflows.train_all import stage_command; '
        'print(spikeclip.__file__); print(resource_root()); '
        "print(stage_command('refine', 'demo', 'w')[1:3])"))
    assert probe.returncode == 0, probe.stderr[-3000:]
    package_file, root, cmd = probe.stdout.splitlines()
    mim = osp.join(installed, 'spikeclip', '.mim')
    assert package_file.startswith(str(installed)) and root == mim
    assert cmd == str([osp.join(mim, 'tools', 'train.py'),
                       osp.join(mim, 'configs', 'refine_demo.py')])

    rng = np.random.default_rng(0)
    write_dat(str(work / 'rec.dat'), (rng.random((45, 24, 32)) < 0.3).astype(np.uint8))
    tools = osp.join(mim, 'tools')
    infer = _run_installed(installed, work, osp.join(tools, 'infer.py'), 'pretrained:real',
                           'rec.dat', '--out-dir', 'out', '--height', '24', '--width', '32')
    assert infer.returncode == 0, infer.stderr[-3000:]
    assert (work / 'out' / 'rec.png').is_file() and (work / 'out' / 'predictions.json').is_file()
    bench = _run_installed(installed, work, osp.join(tools, 'benchmark.py'), 'pretrained:real',
                           '--height', '24', '--width', '32', '--iters', '2', '--warmup', '0',
                           '--device', 'cpu', '--vs',
                           'TFP=' + osp.join(mim, 'configs', 'baselines', 'tfp_demo.py'))
    assert bench.returncode == 0, bench.stderr[-3000:]
    assert 'coarse' in bench.stdout and 'stage 1 in one run' in bench.stdout
