"""Config loading and Runner construction shared by tools/train.py, tools/test.py and tests."""
import os
import os.path as osp
import uuid
from typing import Optional

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported for tools)
from mmengine.runner import Runner

from ..utils.checkpoint import register_safe_globals
from ..utils.errors import ConfigError


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config file and apply command-line overrides.

    The work dir defaults to ``work_dirs/<config name>``; the launcher is stored in the config.

    Raises:
        ConfigError: The file does not exist.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    cfg.launcher = launcher
    if cfg.get('experiment_name') is None:
        # MMEngine names loggers and visualizers after the experiment and reuses same-named ones;
        # two runs of one config within a second (tests, train-all) must not share them.
        cfg.experiment_name = f'{osp.splitext(osp.basename(path))[0]}_{uuid.uuid4().hex[:6]}'
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build MMEngine's Runner with SpikeCLIP's modules registered and safe loading allowed.

    ``default_scope='spikeclip'`` makes the registries import our modules on first use.
    """
    import spikeclip.engine  # noqa: F401  (hooks such as atomic checkpoint writes)
    register_safe_globals()
    if cfg.get('default_scope', 'spikeclip') != 'spikeclip':
        raise ConfigError(f"default_scope must be 'spikeclip', got {cfg.default_scope!r}")
    if cfg.get('launcher', 'none') != 'none':
        from ..utils.device import enable_cpu_distributed
        enable_cpu_distributed()  # multi-process CPU runs (gloo); no-op where CUDA exists
    os.makedirs(cfg.work_dir, exist_ok=True)
    return Runner.from_cfg(cfg)


# Stage of each stage-model type, to refuse a checkpoint of another stage before loading it.
MODEL_STAGES = {'CoarseModel': 'coarse', 'PromptModel': 'prompt', 'RefineModel': 'refine',
                'SpikeCLIP': 'pipeline'}


def check_checkpoint_stage(cfg: Config, checkpoint: str) -> None:
    """Raise a clear error if ``checkpoint`` was written by another stage than ``cfg.model``.

    Raises:
        CheckpointError: Missing/unsafe file, or a checkpoint of another stage.
    """
    from ..models.stages.base import load_stage_checkpoint
    stage = MODEL_STAGES.get(cfg.model.get('type'))
    if stage is not None:
        load_stage_checkpoint(checkpoint, stage)
