"""Tiny command-line trainings shared by the reliability tests.

Every run is ``tools/train.py configs/coarse_demo.py --deterministic`` shrunk with
``--cfg-options`` to 3 epochs of 2 iterations (4 samples of 20 frames, 16x16), one checkpoint per
epoch, in a real subprocess with one CPU thread (two threads on a busy 2-core machine make each
iteration ~100x slower through OpenMP spinning, and one thread fixes the summation order).
"""
import contextlib
import io
import json
import os
import os.path as osp
import runpy
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List

import pytest

from spikeclip.testing import REPO_ROOT, tiny_options

FRAMES = 20

# Test-only plug-ins the subprocesses import through --cfg-options custom_imports.
PLUGINS = {
    'reliability_pause_hook.py': '''
        """An iteration timer that stops training after the first iteration of epoch 2."""
        import os.path as osp
        import time

        from mmengine.hooks import IterTimerHook

        from spikeclip.registry import HOOKS


        @HOOKS.register_module()
        class PauseInSecondEpochHook(IterTimerHook):
            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                super().after_train_iter(runner, batch_idx, data_batch, outputs)
                if runner.epoch >= 1:  # the weights have moved past the epoch-1 checkpoint
                    open(osp.join(runner.work_dir, 'paused'), 'w').close()
                    time.sleep(300)
        ''',
    'reliability_nan_loss.py': '''
        """A loss that turns NaN at iteration 2 (the first of epoch 2)."""
        import torch
        from mmengine.logging import MessageHub

        from spikeclip.models.losses.base import BaseLoss
        from spikeclip.registry import LOSSES


        @LOSSES.register_module()
        class UnstableLoss(BaseLoss):
            inputs = ('pred', )

            def forward(self, pred):
                it = MessageHub.get_current_instance().get_info('iter')
                bad = float('nan') if it >= 2 else 0.0
                return self.loss_weight * (pred.mean() * 0 + bad)
        ''',
    'reliability_slow_reader.py': '''
        """Inference that takes 1 s per input (patches the reader), to interrupt it mid-run even
        on a busy machine."""
        import time

        from spikeclip.apis import inference

        _read_window = inference._read_window


        def slow_read_window(*args, **kwargs):
            time.sleep(1.0)
            return _read_window(*args, **kwargs)


        inference._read_window = slow_read_window
        ''',
}


def coarse_options(**extra) -> List[str]:
    """``--cfg-options`` of the tiny 3-epoch coarse run (``key=value`` strings)."""
    opts = tiny_options('configs/coarse_demo.py', 'unused', crop=16, train_samples=4)
    opts.pop('work_dir')
    opts.update({
        'train_cfg.max_epochs': 3, 'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 2, 'model.encoder.window': FRAMES,
        'model.data_preprocessor.window': FRAMES,
        **{f'{s}_dataloader.dataset.num_frames': FRAMES for s in ('train', 'val', 'test')},
        **extra})
    return [f'{k}={json.dumps(v) if isinstance(v, bool) else v}' for k, v in opts.items()]


@pytest.fixture(scope='session')
def tiny_coarse_options() -> List[str]:
    """:func:`coarse_options` for tests that build their own command lines."""
    return coarse_options()


@pytest.fixture(scope='session')
def plugin_dir(tmp_path_factory) -> Path:
    """A folder with the test plug-ins, for PYTHONPATH."""
    folder = tmp_path_factory.mktemp('plugins')
    for name, text in PLUGINS.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture(scope='session')
def tool_env(plugin_dir) -> Dict[str, str]:
    """Environment of the tool subprocesses: one thread, the repo and the plug-ins importable."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', HF_HUB_OFFLINE='1')
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT, str(plugin_dir)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    return env


def train_command(work_dir, *extra_args, options=()) -> List[str]:
    """``tools/train.py`` on the tiny coarse run in ``work_dir``; ``options`` add cfg-options."""
    return [sys.executable, os.path.join(REPO_ROOT, 'tools', 'train.py'), 'configs/coarse_demo.py',
            '--work-dir', str(work_dir), '--deterministic', *extra_args,
            '--cfg-options', *coarse_options(), *options]


def _start(cmd, log: Path, env) -> subprocess.Popen:
    with log.open('w') as out:
        return subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    assert proc.wait(timeout=timeout) == 0, log.read_text()[-3000:]


@pytest.fixture(scope='session')
def coarse_runs(tmp_path_factory, tool_env) -> Dict[str, object]:
    """Three concurrent runs with one seed, then a resume.

    * ``reference``: uninterrupted;
    * ``repeat``: the same command again (reproducibility);
    * ``resumed``: paused after the first iteration of epoch 2 (its epoch-1 checkpoint saved),
      killed there with SIGKILL, then restarted with ``--resume``.

    Returns the work dirs and figures (``seconds``: wall time of each phase).
    """
    root = tmp_path_factory.mktemp('coarse_runs')
    dirs = {name: root / name for name in ('reference', 'repeat', 'resumed')}
    t0 = time.monotonic()
    procs = {name: _start(train_command(d), root / f'{name}.log', tool_env)
             for name, d in dirs.items() if name != 'resumed'}
    pause = ['custom_imports.imports=[reliability_pause_hook]',
             'default_hooks.timer.type=PauseInSecondEpochHook']
    killed = _start(train_command(dirs['resumed'], options=pause), root / 'killed.log', tool_env)
    marker = dirs['resumed'] / 'paused'
    while not marker.exists():
        assert killed.poll() is None, (root / 'killed.log').read_text()[-3000:]
        assert time.monotonic() - t0 < 300, 'the paused run never reached epoch 2'
        time.sleep(0.2)
    killed_files = sorted(p.name for p in dirs['resumed'].glob('*.pth'))
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    t_kill = time.monotonic() - t0
    resume = _start(train_command(dirs['resumed'], '--resume'), root / 'resume.log', tool_env)
    _wait(resume, root / 'resume.log')
    t_resume = time.monotonic() - t0 - t_kill
    for name, proc in procs.items():
        _wait(proc, root / f'{name}.log')
    return dict(root=root, **dirs, killed_returncode=killed.returncode, killed_files=killed_files,
                metrics={name: val_metrics(d) for name, d in dirs.items()},
                seconds=dict(until_kill=round(t_kill, 1), resume=round(t_resume, 1),
                             total=round(time.monotonic() - t0, 1)))


def val_metrics(work_dir: Path) -> Dict[int, dict]:
    """Validation metrics per epoch of the latest run in ``work_dir`` (its scalars.json)."""
    latest = sorted(work_dir.glob('2*/vis_data/scalars.json'))[-1]
    rows = [json.loads(line) for line in latest.read_text().splitlines() if line.strip()]
    return {r['step']: {k: r[k] for k in ('PSNR', 'SSIM', 'MAE', 'MSE')} for r in rows
            if 'PSNR' in r}


@pytest.fixture(scope='session')
def run_train(tool_env):
    """Run ``tools/train.py`` on the tiny coarse run: ``run_train(work_dir, *args, options=())``
    returns the CompletedProcess (text output)."""

    def run(work_dir, *args, options=(), timeout=300) -> subprocess.CompletedProcess:
        return subprocess.run(train_command(work_dir, *args, options=options), cwd=REPO_ROOT,
                              env=tool_env, capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture
def run_tool_here(monkeypatch, plugin_dir):
    """Run ``tools/<name>.py args`` as ``__main__`` in this process, from the repository root:
    ``run_tool_here(name, *args)`` returns ``(exit code, stdout, stderr)``, the ``error: ...`` line
    that ``sys.exit`` would print included in stderr. Cheaper than a subprocess for errors that
    happen before any model runs."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.syspath_prepend(str(plugin_dir))

    def run(name, *args):
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, 'argv', [f'tools/{name}.py', *map(str, args)])
        code = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                runpy.run_path(osp.join(REPO_ROOT, 'tools', f'{name}.py'), run_name='__main__')
        except SystemExit as e:
            if isinstance(e.code, str):
                err.write(e.code + '\n')
                code = 1
            else:
                code = e.code or 0
        return code, out.getvalue(), err.getvalue()

    return run
