"""Two-process training on CPU (gloo) through tools/dist_train.sh and tools/train.py.

``tools/dist_train.sh`` (torchrun, ``--launcher pytorch``) trains the stage-1 demo config,
shrunk to 8 samples per epoch, for 2 iterations on each of 2 ranks. A hook
loaded through ``custom_imports`` dumps each rank's view; the test checks that the ranks end
with the same weights as the saved checkpoint, trained on disjoint halves of the data, and got
per-rank seeds. MMEngine needs CUDA to start a ``pytorch``/``slurm`` launch, so a
``sitecustomize`` on the workers' path calls :func:`spikeclip.engine.patches.install_patches`.
``tools/slurm_train.sh`` is checked through the srun command line it builds (no SLURM here).
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikeclip.utils.checkpoint import load_checkpoint_file

ROOT = Path(__file__).resolve().parents[2]

RANK_DUMP_HOOK = '''
import hashlib, json, os
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from spikeclip.registry import HOOKS


def hashes(model):
    model = model.module if is_model_wrapper(model) else model
    return {k: hashlib.sha256(v.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
            for k, v in model.state_dict().items()}


@HOOKS.register_module()
class RankDumpHook(Hook):
    priority = 'LOWEST'

    def __init__(self, out_dir):
        self.out_dir, self.indices, self.initial = out_dir, [], None

    def before_train(self, runner):
        self.initial = hashes(runner.model)

    def before_train_epoch(self, runner):
        self.indices.append(list(iter(runner.train_dataloader.sampler)))

    def after_train(self, runner):
        init_fn = runner.train_dataloader.worker_init_fn.keywords
        info = dict(rank=runner.rank, world_size=runner.world_size, seed=runner.seed,
                    worker_seed_args={k: init_fn[k] for k in ('rank', 'seed', 'num_workers')},
                    wrapper=type(runner.model).__name__, indices=self.indices,
                    initial=self.initial, final=hashes(runner.model))
        os.makedirs(self.out_dir, exist_ok=True)
        with open(os.path.join(self.out_dir, f'rank{runner.rank}.json'), 'w') as f:
            json.dump(info, f)
'''

TINY_CONFIG = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['spikeclip_test_rank_dump'], allow_failed_imports=False)
custom_hooks = [dict(type='RankDumpHook', out_dir={dump!r})]
default_hooks = dict(device_metrics=dict(type='DeviceMetricsHook', interval=1),
                     logger=dict(type='LoggerHook', interval=1))
train_cfg = dict(max_epochs=1, val_interval=1)
_tiny = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, dataset=dict(num_samples=8, crop_size=32), **_tiny)
val_dataloader = dict(batch_size=2, dataset=dict(num_samples=4, crop_size=32), **_tiny)
test_dataloader = val_dataloader
'''

SITECUSTOMIZE = ('from spikeclip.engine.patches import install_patches\n'
                 'install_patches(cpu_distributed=True)\n')

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _tensor_hashes(state_dict: dict) -> dict:
    return {k: hashlib.sha256(v.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
            for k, v in state_dict.items()}


def test_dist_train_sh_two_ranks_on_cpu(tmp_path):
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    (tmp_path / 'spikeclip_test_rank_dump.py').write_text(RANK_DUMP_HOOK)
    config = tmp_path / 'coarse_demo_tiny.py'
    config.write_text(TINY_CONFIG.format(base=str(ROOT / 'configs' / 'coarse_demo.py'),
                                         dump=str(tmp_path / 'dump')))
    env = dict(os.environ, PYTHON=sys.executable, MASTER_ADDR='127.0.0.1',
               MASTER_PORT=str(_free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(site), str(tmp_path)]))
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        ['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(config), '2', '--work-dir',
         str(work_dir), '--cfg-options', 'env_cfg.dist_cfg.backend=gloo'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    dumps = [json.loads((tmp_path / 'dump' / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [d['rank'] for d in dumps] == [0, 1] and dumps[0]['world_size'] == 2
    assert all(d['wrapper'] == 'MMDistributedDataParallel' for d in dumps)
    # DefaultSampler: each rank takes its own half of one shared shuffle.
    (idx0,), (idx1,) = dumps[0]['indices'], dumps[1]['indices']
    assert len(idx0) == len(idx1) == 4 and sorted(idx0 + idx1) == list(range(8))
    # One seed for the model and the sampler; data-loader workers are seeded per rank
    # (num_workers * rank + worker_id + seed).
    assert dumps[0]['seed'] == dumps[1]['seed'] == 0
    assert [d['worker_seed_args']['rank'] for d in dumps] == [0, 1]
    # Different data, yet the same weights: the gradients were averaged across the ranks.
    assert dumps[0]['final'] == dumps[1]['final'] != dumps[0]['initial']
    ckpt = load_checkpoint_file(str(work_dir / 'epoch_1.pth'))
    assert _tensor_hashes(ckpt['state_dict']) == dumps[0]['final']
    # Rank 0's device figures reach the log of the distributed run.
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed launcher: pytorch' in log
    assert 'latency_ms:' in log and 'data_wait:' in log


def _slurm_args(tmp_path: Path, *args: str, **env_vars: str) -> list:
    """The srun command line that tools/slurm_train.sh builds (a stand-in srun records it)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / 'srun').write_text('#!/usr/bin/env bash\necho "$@" > "$SRUN_LOG"\n')
    (bin_dir / 'srun').chmod(0o755)
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
               SRUN_LOG=str(tmp_path / 'srun.txt'), **env_vars)
    subprocess.run(['bash', str(ROOT / 'tools' / 'slurm_train.sh'), *args], env=env, check=True,
                   timeout=30)
    return (tmp_path / 'srun.txt').read_text().split()


def test_slurm_train_sh_builds_the_srun_command(tmp_path):
    args = _slurm_args(tmp_path, 'gpu', 'coarse', 'cfg.py', 'work', '--cfg-options', 'a=1',
                       GPUS='2', CPUS_PER_TASK='3', SRUN_ARGS='--time=10 --quotatype=auto',
                       PYTHON='py')
    train = str(ROOT / 'tools' / 'train.py')
    assert args == ['-p', 'gpu', '--job-name=coarse', '--gres=gpu:2', '--ntasks=2',
                    '--ntasks-per-node=2', '--cpus-per-task=3', '--kill-on-bad-exit=1',
                    '--time=10', '--quotatype=auto', 'py', '-u', train, 'cfg.py',
                    '--work-dir', 'work', '--launcher', 'slurm', '--cfg-options', 'a=1']
    # WORK_DIR is optional: an option in its place is passed on to tools/train.py.
    args = _slurm_args(tmp_path, 'gpu', 'job', 'cfg.py', '--resume', '--seed', '1', GPUS='16')
    assert '--work-dir' not in args
    assert args[args.index('cfg.py'):] == ['cfg.py', '--launcher', 'slurm', '--resume',
                                           '--seed', '1']
    assert '--ntasks=16' in args and '--ntasks-per-node=8' in args and '--gres=gpu:8' in args


def test_scripts_refuse_missing_arguments():
    for script, args in (('dist_train.sh', ['cfg.py']), ('slurm_train.sh', ['gpu', 'job'])):
        proc = subprocess.run(['bash', str(ROOT / 'tools' / script), *args],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and 'usage:' in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only patches')
def test_enable_cpu_distributed_drops_device_ids_for_cpu_modules(monkeypatch):
    from mmengine.model import MMDistributedDataParallel

    from spikeclip.engine.patches import install_cpu_distributed_patch
    monkeypatch.setattr(torch.cuda, 'set_device', torch.cuda.set_device)  # undone afterwards
    monkeypatch.setattr(MMDistributedDataParallel, '__init__', MMDistributedDataParallel.__init__)
    monkeypatch.delattr(MMDistributedDataParallel, '_spikeclip_cpu_patch', raising=False)
    with pytest.raises((RuntimeError, AssertionError)):  # no driver / no CUDA build
        torch.cuda.set_device(0)
    assert install_cpu_distributed_patch() and install_cpu_distributed_patch()
    torch.cuda.set_device(0)  # a no-op now
    seen = {}
    monkeypatch.setattr(torch.nn.parallel.DistributedDataParallel, '__init__',
                        lambda self, module, **kw: seen.update(kw))
    MMDistributedDataParallel(torch.nn.Linear(2, 2), device_ids=[0], broadcast_buffers=False)
    assert seen == dict(broadcast_buffers=False)


def test_sync_bn_conversion_fits_the_spiking_unet():
    """``sync_bn='torch'`` swaps every BatchNorm of the spiking encoder for SyncBatchNorm; the
    encoder runs them on ``[T * N, C, H, W]`` (SeqToANNContainer), which SyncBatchNorm accepts,
    and outside a process group it computes exactly what BatchNorm does."""
    import copy

    from mmengine.model import convert_sync_batchnorm, revert_sync_batchnorm

    from spikeclip.registry import ENCODERS
    torch.manual_seed(0)
    net = ENCODERS.build(dict(type='SpikingUNet', window=8, num_bins=4, channels=(4, 8)))
    torch.nn.init.normal_(net.head.weight, std=0.1)  # zero-initialised: make BN matter
    synced = convert_sync_batchnorm(copy.deepcopy(net), 'torch')
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == 2
    assert not any(type(m) is torch.nn.BatchNorm2d for m in synced.modules())

    spikes = (torch.rand(2, 8, 16, 16) < 0.3).float()
    out, ref = synced(spikes), net(spikes)
    out.mean().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(synced.state_dict(), net.state_dict())
    # MMEngine reverts SyncBN to BatchNorm when it trains without a process group.
    reverted = revert_sync_batchnorm(synced)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in reverted.modules())
