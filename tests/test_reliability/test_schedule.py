"""``--cfg-options train_cfg.max_epochs=N`` reaches the LR schedule."""
import json


def lrs(work_dir):
    scalars = next(work_dir.glob('2*/vis_data/scalars.json'))
    rows = [json.loads(line) for line in scalars.read_text().splitlines() if line.strip()]
    return [r['lr'] for r in rows if 'lr' in r]


def test_a_longer_run_decays_the_lr_once_to_the_end(tmp_path, run_train):
    # coarse_demo.py's schedule file says 10 epochs; train 12 (2 iterations each).
    work = tmp_path / 'work'
    result = run_train(work, options=['train_cfg.max_epochs=12', 'train_cfg.val_interval=100',
                                      'default_hooks.checkpoint.interval=100'])
    assert result.returncode == 0, result.stderr[-3000:]
    lr = lrs(work)
    assert len(lr) == 24
    assert all(b <= a for a, b in zip(lr, lr[1:])), lr  # never climbs back
    assert lr[0] > 9e-4 and lr[-1] < 2e-5  # from 1e-3 to eta_min=1e-5 at the end
    assert 'param_scheduler.0.T_max follows train_cfg.max_epochs=12: 12' in result.stdout


def test_zero_epochs_is_a_clear_error(tmp_path, run_tool_here):
    code, _, err = run_tool_here('train', 'configs/coarse_demo.py', '--work-dir', tmp_path / 'w',
                                 '--cfg-options', 'train_cfg.max_epochs=0')
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        'error: train_cfg.max_epochs must be a positive integer, got 0')
