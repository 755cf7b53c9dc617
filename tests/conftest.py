"""Fixtures shared by the whole suite."""
import os
import os.path as osp
import sys
from typing import Optional

# Threads that sleep between parallel regions: busy-waiting ones starve each other on a shared
# CPU (tools/demo.py). Set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import pytest  # noqa: E402

from spikeclip.engine import build_runner, load_config  # noqa: E402
from spikeclip.testing import REPO_ROOT, tiny_options  # noqa: E402

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # no test may reach a model hub

# No test may read or write the repository's work_dirs/ (where `make demo` keeps its models): a
# test that did passed on a fresh clone and failed after `make demo`, or spoiled the demo. Every
# test is checked from the start of its setup to the end of its teardown (fixtures included): the
# files under work_dirs/ (names, sizes, modification times) must be the same afterwards, and no
# file operation of this process (open, listdir, scandir, mkdir, remove, rename; audit events)
# may name a path there. Subprocesses are covered by the first check.
WORK_DIRS = sorted({osp.join(REPO_ROOT, 'work_dirs'), osp.join(os.getcwd(), 'work_dirs')})
_WATCHED_EVENTS = {'open', 'os.listdir', 'os.scandir', 'os.mkdir', 'os.remove', 'os.rename',
                   'os.replace', 'os.rmdir', 'shutil.rmtree', 'os.truncate', 'os.chmod'}
_touched: list = []  # (event, path) seen during the current test; None outside tests


def _under_work_dirs(path) -> Optional[str]:
    """``path`` made absolute where it lies under :data:`WORK_DIRS`, else None."""
    if path is None or isinstance(path, int):
        return None
    try:
        path = osp.abspath(os.fsdecode(os.fspath(path)))
    except (TypeError, ValueError, OSError):
        return None
    return path if any(path == root or path.startswith(root + os.sep)
                       for root in WORK_DIRS) else None


def _audit(event: str, args: tuple) -> None:
    if event in _WATCHED_EVENTS and _touched is not None and args:
        for path in args[:2] if event in ('os.rename', 'os.replace') else args[:1]:
            path = _under_work_dirs(path)
            if path is not None:
                _touched.append((event, path))


sys.addaudithook(_audit)  # cannot be removed; idle outside tests (_touched is None)
_touched = None


def work_dirs_snapshot() -> dict:
    """``{path: (size, mtime_ns)}`` of everything under the repository's work_dirs/ (folders
    with ``size`` None)."""
    out = {}
    for root in WORK_DIRS:
        if not osp.isdir(root):
            continue
        out[root] = (None, None)
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = osp.join(folder, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                out[path] = (None if name in dirs else st.st_size,
                             None if name in dirs else st.st_mtime_ns)
    return out


def work_dirs_changes(before: dict, after: dict) -> list:
    """``'created PATH'``, ``'deleted PATH'``, ``'modified PATH'`` lines, sorted."""
    return sorted([f'created {p}' for p in after.keys() - before.keys()] +
                  [f'deleted {p}' for p in before.keys() - after.keys()] +
                  [f'modified {p}' for p in before.keys() & after.keys()
                   if before[p] != after[p]])


_BEFORE = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    global _touched
    item.stash[_BEFORE] = work_dirs_snapshot()
    _touched = []
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    global _touched
    try:
        result = yield
    finally:
        touched, _touched = _touched or [], None
    problems = work_dirs_changes(item.stash.get(_BEFORE, {}), work_dirs_snapshot())
    problems += sorted({f'{event} {path}' for event, path in touched})
    if problems:
        shown = '; '.join(problems[:5]) + (f' and {len(problems) - 5} more'
                                           if len(problems) > 5 else '')
        pytest.fail(f'{item.nodeid} used the repository\'s work_dirs/ (tests must use tmp '
                    f'paths): {shown}', pytrace=False)
    return result


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
