"""One config and seed give the same results twice, and every run records what produced it."""
import json

import torch

from spikeclip.utils.checkpoint import load_checkpoint_file


def test_same_config_and_seed_give_the_same_weights_and_metrics(coarse_runs):
    ref, rep = coarse_runs['reference'], coarse_runs['repeat']
    assert coarse_runs['metrics']['reference'] == coarse_runs['metrics']['repeat']
    assert sorted(coarse_runs['metrics']['reference']) == [1, 2, 3]
    a = load_checkpoint_file(str(ref / 'epoch_3.pth'))['state_dict']
    b = load_checkpoint_file(str(rep / 'epoch_3.pth'))['state_dict']
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # --deterministic reached the runner.
    dumped = (ref / 'coarse_demo.py').read_text()
    assert "deterministic=True" in dumped and 'seed=0' in dumped


def test_seed_versions_and_commit_in_work_dir_and_checkpoints(coarse_runs):
    env = json.loads((coarse_runs['reference'] / 'env.json').read_text())
    assert env['seed'] == 0 and env['stage'] == 'coarse'
    for pkg in ('spikeclip', 'python', 'torch', 'mmengine', 'numpy', 'spikingjelly'):
        assert env['versions'][pkg], pkg
    assert env['git_commit']  # the tests run from a git checkout
    assert env['versions']['torch'] == torch.__version__.split('+')[0]
    for name in ('epoch_3.pth', 'coarse_best.pth'):
        info = load_checkpoint_file(str(coarse_runs['reference'] / name))['meta']['spikeclip']
        assert info['seed'] == 0, name
        assert info['env']['versions'] == env['versions'], name
        assert info['env']['git_commit'] == env['git_commit'], name
