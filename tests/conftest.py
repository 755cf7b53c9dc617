"""Fixtures shared by the whole suite."""
import os
import os.path as osp

# Threads that sleep between parallel regions: busy-waiting ones starve each other on a shared
# CPU (tools/demo.py). Set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import pytest  # noqa: E402

from spikeclip.engine import build_runner, load_config  # noqa: E402
from spikeclip.testing import REPO_ROOT, tiny_options  # noqa: E402

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # no test may reach a model hub


@pytest.fixture(scope='session')
def tiny_clip_file(tmp_path_factory) -> str:
    """Random ``'spikeclip-tiny'`` CLIP weights in a local file (seed 0)."""
    from spikeclip.models.clip import save_tiny_clip
    return save_tiny_clip(str(tmp_path_factory.mktemp('clip') / 'tiny_clip.pth'), seed=0)


@pytest.fixture(scope='session')
def trained_tiny_clip_file(tmp_path_factory) -> str:
    """The demo's tiny CLIP, trained once per session with the demo's recipe (about a minute
    on two cores): tests that only a CLIP that means something can pass use it."""
    from spikeclip.workflows.tiny_clip import ensure_tiny_clip
    out = tmp_path_factory.mktemp('trained_clip')
    return ensure_tiny_clip(str(out), evaluate=False, log=lambda _: None)['weights']


@pytest.fixture(scope='session')
def trained_stages(tmp_path_factory, tiny_clip_file):
    """Stages 1, 2 and 3 of the demo configs, each trained for 2 iterations."""
    root = tmp_path_factory.mktemp('stages')
    out = {}
    for stage in ('coarse', 'prompt', 'refine'):
        extra = {}
        if stage == 'prompt':
            extra['model.coarse_checkpoint'] = out['coarse']
        if stage == 'refine':
            extra['model.prompt_checkpoint'] = out['prompt']
        config = f'configs/{stage}_demo.py'
        cfg = load_config(osp.join(REPO_ROOT, config),
                          tiny_options(config, str(root / stage), tiny_clip_file, **extra))
        build_runner(cfg).train()
        out[stage] = str(root / stage / f'{stage}_best.pth')
        assert osp.isfile(out[stage]), f'{stage} wrote no best checkpoint'
    out['combined'] = str(root / 'combined_model.pth')
    return out
