"""Train the three stages in sequence and combine them (``make train-all``, ``make demo``)."""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from ..utils.errors import ConfigError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGE_ORDER = ('coarse', 'prompt', 'refine')


def stage_paths(dataset: str, work_root: str) -> Dict[str, str]:
    """Work dirs, best checkpoints and the combined model file of a ``train_all`` run."""
    root = osp.join(work_root, dataset)
    paths = {f'{s}_dir': osp.join(root, s) for s in STAGE_ORDER}
    paths.update({s: osp.join(root, s, f'{s}_best.pth') for s in STAGE_ORDER})
    paths['combined'] = osp.join(root, 'combined_model.pth')
    return paths


def stage_command(stage: str, dataset: str, work_root: str,
                  cfg_options: Sequence[str] = (), force: bool = False) -> List[str]:
    """The ``tools/train.py`` command of one stage, earlier stages' checkpoints wired in.

    The stage resumes from its work dir (``--resume``: a finished stage has nothing left to
    train, an interrupted one continues, an empty work dir starts afresh), or with ``force``
    trains afresh (``--force``: the earlier run's checkpoints are moved aside).
    """
    config = osp.join(REPO_ROOT, 'configs', f'{stage}_{dataset}.py')
    if not osp.isfile(config):
        raise ConfigError(f'no config {config} for dataset {dataset!r}')
    p = stage_paths(dataset, work_root)
    options = list(cfg_options)
    if stage == 'prompt':
        options.append(f'model.coarse_checkpoint={p["coarse"]}')
    if stage == 'refine':  # its CombineCheckpointsHook writes <root>/combined_model.pth
        options.append(f'model.prompt_checkpoint={p["prompt"]}')
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
           '--work-dir', p[f'{stage}_dir'], '--force' if force else '--resume']
    return cmd + (['--cfg-options', *options] if options else [])


def train_all(dataset: str, work_root: str = 'work_dirs', cfg_options: Sequence[str] = (),
              stages: Sequence[str] = STAGE_ORDER, env: Optional[dict] = None,
              stage_options: Optional[Dict[str, Sequence[str]]] = None,
              force: bool = False) -> Dict[str, str]:
    """Train ``stages`` of ``configs/<stage>_<dataset>.py`` one after another.

    Each stage runs ``tools/train.py`` in a fresh process (as a user would), naming the previous
    stage's ``<stage>_best.pth``; stage 3 writes ``<work_root>/<dataset>/combined_model.pth``.
    Running it again continues where the last run stopped: every stage resumes from its work dir,
    so finished stages are not trained again (see :func:`stage_command`); ``force`` retrains all.

    Args:
        dataset (str): ``demo``, ``ucaltech`` or ``ucifar`` (any suffix with configs).
        work_root (str): Root of the work dirs. Defaults to ``'work_dirs'``.
        cfg_options (Sequence[str]): ``key=value`` overrides applied to every stage.
        stage_options (dict, optional): Further overrides per stage name.
        stages (Sequence[str]): Stages to run. Defaults to all three.
        env (dict, optional): Environment of the stage processes.
        force (bool): Train every stage afresh, moving earlier checkpoints aside. Defaults to
            False (resume).

    Returns:
        dict: :func:`stage_paths` plus ``<stage>_seconds`` wall times.

    Raises:
        RuntimeError: A stage failed (its exit code and work dir are named).
    """
    paths = dict(stage_paths(dataset, work_root))
    for stage in stages:
        options = [*cfg_options, *(stage_options or {}).get(stage, ())]
        cmd = stage_command(stage, dataset, work_root, options, force=force)
        print(f'==> {stage}: {" ".join(cmd)}', flush=True)
        start = time.time()
        result = subprocess.run(cmd, env=env or os.environ.copy())
        if result.returncode:
            raise RuntimeError(f'stage {stage!r} failed (exit code {result.returncode}); see '
                               f'the log in {paths[stage + "_dir"]}')
        paths[f'{stage}_seconds'] = f'{time.time() - start:.1f}'
    return paths
