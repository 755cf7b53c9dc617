"""Config loading and Runner construction shared by tools/train.py, tools/test.py and tests."""
import contextlib
import difflib
import glob
import logging
import os
import os.path as osp
import re
import time
import uuid
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported for tools)
from mmengine.logging import print_log
from mmengine.registry import Registry
from mmengine.runner import Runner

from ..utils.atomic import remove_stale_temporaries
from ..utils.checkpoint import load_checkpoint_file, register_safe_globals
from ..utils.errors import CheckpointError, ConfigError


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config file and apply command-line overrides.

    The work dir defaults to ``work_dirs/<config name>``; the launcher is stored in the config.
    ``custom_imports`` given in ``cfg_options`` are imported too (MMEngine imports only those
    of the file). The LR schedule follows the final ``train_cfg`` (:func:`follow_max_epochs`).

    Raises:
        ConfigError: The file does not exist, a custom import fails, or ``train_cfg`` is
            unusable.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    file_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        if any(k.split('.')[0] == 'custom_imports' for k in cfg_options):
            import_custom_modules(cfg.custom_imports)
    follow_max_epochs(cfg, file_epochs, cfg_options)
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


def follow_max_epochs(cfg: Config, file_epochs: Optional[int],
                      cfg_options: Optional[dict] = None) -> None:
    """Make the LR schedule follow ``train_cfg.max_epochs`` as it is after ``--cfg-options``.

    Schedule files compute their length when they are parsed (``T_max=max_epochs``), so
    ``--cfg-options train_cfg.max_epochs=20`` left a 10-epoch cosine that fell to ``eta_min`` at
    epoch 10 and climbed back. Here every by-epoch scheduler's ``T_max`` and ``end`` that equal
    the file's ``max_epochs`` (and were not set in ``cfg_options`` themselves) take the final
    value, and ``T_max`` is measured from the scheduler's ``begin``. Schedulers without them get
    ``end = max_epochs`` from MMEngine's Runner, and ``T_max = end - begin``.

    Args:
        cfg (Config): The config, overrides applied.
        file_epochs (int, optional): ``train_cfg.max_epochs`` as the file set it.
        cfg_options (dict, optional): The overrides (their own schedule keys are kept).

    Raises:
        ConfigError: ``train_cfg.max_epochs`` is not a positive integer.
    """
    train_cfg = cfg.get('train_cfg') or {}
    epochs = train_cfg.get('max_epochs')
    if epochs is None:
        return
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f'train_cfg.max_epochs must be a positive integer, got {epochs!r}')
    if file_epochs is None or epochs == file_epochs:
        return
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers, prefix = [schedulers], ['param_scheduler']
    else:
        prefix = [f'param_scheduler.{i}' for i in range(len(schedulers))]
    given = set(cfg_options or {})
    for scheduler, name in zip(schedulers, prefix):
        if not isinstance(scheduler, dict) or not scheduler.get('by_epoch', True):
            continue
        begin = scheduler.get('begin', 0)
        for key, value in (('end', epochs), ('T_max', epochs - begin)):
            if scheduler.get(key) == file_epochs and f'{name}.{key}' not in given:
                scheduler[key] = value
                print_log(f'{name}.{key} follows train_cfg.max_epochs={epochs}: {value}',
                          logger='current')


def import_custom_modules(custom_imports: dict) -> None:
    """Import ``custom_imports`` (``dict(imports=[...], allow_failed_imports=False)``).

    Raises:
        ConfigError: An import fails.
    """
    from mmengine.utils import import_modules_from_strings
    try:
        import_modules_from_strings(**custom_imports)
    except ImportError as e:
        raise ConfigError(f'custom_imports={dict(custom_imports)}: {e}') from e


_UNREGISTERED = re.compile(r'(?P<type>\S+) is not in the (?P<scope>[\w.]+)::(?P<name>[\w ]+?) '
                           r'registry')


def _registry_names(scope: str, name: str) -> Optional[List[str]]:
    """Names a registry (with its parents) resolves, or None if no such registry is known."""
    import mmengine.registry as mmengine_registries

    from .. import registry as spikeclip_registries
    for module in (spikeclip_registries, mmengine_registries):
        for reg in vars(module).values():
            if isinstance(reg, Registry) and reg.scope == scope and reg.name == name:
                names = set()
                while reg is not None:
                    reg.import_from_location()
                    names.update(reg.module_dict)
                    reg = reg.parent
                return sorted(names)
    return None


def unregistered_type_error(error: KeyError) -> Optional[ConfigError]:
    """MMEngine's "X is not in the scope::name registry" KeyError as a ConfigError that lists
    the registered names (and the closest ones); None for any other KeyError."""
    match = _UNREGISTERED.search(str(error.args[0]) if error.args else '')
    if match is None:
        return None
    names = _registry_names(match['scope'], match['name'])
    if names is None:
        return None
    close = difflib.get_close_matches(match['type'], names, n=3)
    hint = f' Did you mean {" or ".join(map(repr, close))}?' if close else ''
    return ConfigError(f'type={match["type"]!r} is not registered in the {match["name"]} registry '
                       f'({match["scope"]} scope).{hint} Registered: {", ".join(names)}. A '
                       'component of your own must be imported first (custom_imports)')


@contextlib.contextmanager
def explain_unregistered_types() -> Iterator[None]:
    """Turn MMEngine's registry KeyErrors into :func:`unregistered_type_error` ConfigErrors."""
    try:
        yield
    except KeyError as e:
        error = unregistered_type_error(e)
        if error is None:
            raise
        raise error from e


class SpikeCLIPRunner(Runner):
    """MMEngine's Runner with the toolkit's errors.

    * A ``type`` that no registry holds raises :class:`ConfigError` listing the registered names
      (MMEngine's KeyError does not), wherever it is built: at construction, or lazily when
      ``train``/``val``/``test`` build data loaders, metrics and optimisers.
    * Checkpoints load strictly (``load_from``, ``--resume``, ``tools/test.py``): weights that do
      not fit (another architecture) raise :class:`CheckpointError` naming the missing and
      unexpected keys, where MMEngine would only log them and go on with a partly random model.
    """

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'SpikeCLIPRunner':
        with explain_unregistered_types():
            return super().from_cfg(cfg)

    def train(self):
        with explain_unregistered_types():
            return super().train()

    def val(self) -> dict:
        with explain_unregistered_types():
            return super().val()

    def test(self) -> dict:
        with explain_unregistered_types():
            return super().test()

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = True,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 (MMEngine's)
        """MMEngine's ``load_checkpoint``, strict by default.

        Raises:
            CheckpointError: Missing, unsafe or truncated file, or weights that do not fit.
        """
        try:
            return super().load_checkpoint(filename, map_location, strict, revise_keys)
        except RuntimeError as e:
            msg = str(e) if len(str(e)) < 800 else str(e)[:800] + ' ...'
            raise CheckpointError(f'{filename}: the weights do not fit the model '
                                  f'{type(self.model).__name__}: {msg}') from e


# Hooks every run gets (appended to custom_hooks unless the config lists them): data whose class
# list does not fit the model is refused, and random state follows (seed, iteration) so that a
# resumed run repeats an unbroken one.
GUARD_HOOKS = ('ClassNamesCheckHook', 'IterSeedHook')


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (:class:`SpikeCLIPRunner`) with SpikeCLIP's modules registered, atomic
    file writes, safe loading and the :data:`GUARD_HOOKS`.

    ``default_scope='spikeclip'`` makes the registries import our modules on first use.
    """
    import spikeclip.engine  # noqa: F401  (atomic checkpoint writes, safe loads, hooks)
    register_safe_globals()
    if cfg.get('default_scope', 'spikeclip') != 'spikeclip':
        raise ConfigError(f"default_scope must be 'spikeclip', got {cfg.default_scope!r}")
    if cfg.get('launcher', 'none') != 'none':
        from ..utils.device import enable_cpu_distributed
        enable_cpu_distributed()  # multi-process CPU runs (gloo); no-op where CUDA exists
    hooks = list(cfg.get('custom_hooks') or [])
    listed = {h.get('type') for h in hooks if isinstance(h, dict)}
    cfg.custom_hooks = hooks + [dict(type=t) for t in GUARD_HOOKS if t not in listed]
    os.makedirs(cfg.work_dir, exist_ok=True)
    return SpikeCLIPRunner.from_cfg(cfg)


# Step checkpoints written by MMEngine's CheckpointHook (epoch_3.pth, iter_500.pth,
# best_PSNR_epoch_3.pth).
_CHECKPOINT_NAME = re.compile(r'(?:^|_)(?:epoch|iter)_\d+\.pth$')


def find_resume_checkpoint(work_dir: str) -> Optional[Tuple[str, dict]]:
    """The checkpoint to resume a run in ``work_dir`` from, and its ``meta``.

    The checkpoint that MMEngine's ``last_checkpoint`` names comes first. MMEngine writes that
    pointer in place and deletes old checkpoints before it saves a new one, so after a kill the
    pointer may be empty or name a missing file; then the step checkpoints (``epoch_*.pth``,
    ``iter_*.pth``, newest first) are tried. The first one that loads safely is returned.

    Returns:
        tuple | None: ``(path, meta)``, or None if no checkpoint loads.
    """
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
    steps = [p for p in glob.glob(osp.join(glob.escape(work_dir), '*.pth'))
             if _CHECKPOINT_NAME.search(osp.basename(p))]
    candidates += sorted(steps, key=osp.getmtime, reverse=True)
    seen = set()
    for path in candidates:
        key = osp.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        try:
            meta = load_checkpoint_file(path).get('meta') or {}
        except CheckpointError as e:
            print_log(f'not resuming from {path}: {e}', logger='current', level=logging.WARNING)
            continue
        if 'epoch' in meta and 'iter' in meta:
            return path, meta
    return None


def earlier_run_files(work_dir: str) -> List[str]:
    """Names of the checkpoints (``*.pth``) and the ``last_checkpoint`` pointer that an earlier
    run left in ``work_dir``, sorted."""
    if not osp.isdir(work_dir):
        return []
    return sorted(n for n in os.listdir(work_dir)
                  if (n.endswith('.pth') or n == 'last_checkpoint')
                  and osp.isfile(osp.join(work_dir, n)))


def claim_work_dir(work_dir: str, force: bool = False) -> Optional[str]:
    """Make sure a fresh training run does not overwrite an earlier run's checkpoints.

    A work dir that holds checkpoints (``<stage>_best.pth``, ``epoch_*.pth``, a combined model,
    ...) or a ``last_checkpoint`` pointer is refused: the new run would replace
    ``<stage>_best.pth``, which later stages and combined models name. With ``force`` those files
    are moved, not deleted, to ``work_dir/previous_<time>/`` first.

    Only rank 0 of a distributed launch looks (``RANK``); the others leave it to it.

    Args:
        work_dir (str): The run's work dir.
        force (bool): Move the earlier run's files aside instead of refusing. Defaults to False.

    Returns:
        str | None: Where the earlier files went (``force``), else None.

    Raises:
        ConfigError: The work dir holds an earlier run's checkpoints and ``force`` is off.
    """
    if int(os.environ.get('RANK', '0')) != 0:
        return None
    names = earlier_run_files(work_dir)
    if not names:
        return None
    if not force:
        shown = ', '.join(names[:5]) + (f' and {len(names) - 5} more' if len(names) > 5 else '')
        raise ConfigError(
            f'{work_dir} already holds a trained run ({shown}); a fresh run would overwrite it. '
            'Continue it with --resume, train elsewhere with --work-dir DIR, or pass --force to '
            'start afresh (the old checkpoints are moved to a previous_<time> folder)')
    backup = osp.join(work_dir, f'previous_{time.strftime("%Y%m%d_%H%M%S")}')
    while osp.exists(backup):
        backup += '_'
    os.makedirs(backup)
    for name in names:
        os.replace(osp.join(work_dir, name), osp.join(backup, name))
    print_log(f'--force: moved the earlier run\'s {", ".join(names)} to {backup}',
              logger='current', level=logging.WARNING)
    return backup


def prepare_resume(cfg: Config, checkpoint: str = 'auto') -> Optional[str]:
    """Point ``cfg`` at the checkpoint to resume from and take over the interrupted run's seed.

    The seed must be known before the Runner is built: the training sampler draws its shuffling
    seed at construction, while MMEngine restores the checkpoint's seed only later, so a config
    without a fixed seed (or another ``--seed``) would shuffle differently from the interrupted
    run.

    Args:
        cfg (Config): The training config (``work_dir`` set).
        checkpoint (str): A checkpoint file, or ``'auto'`` for :func:`find_resume_checkpoint` in
            the work dir (whose stale temporaries are deleted first). Defaults to ``'auto'``.

    Returns:
        str | None: The checkpoint, or None where ``'auto'`` found none (training starts afresh).

    Raises:
        CheckpointError: ``checkpoint`` is missing, truncated or unsafe.
    """
    if checkpoint == 'auto':
        for path in remove_stale_temporaries(cfg.work_dir):
            print_log(f'removed {path}, left by an interrupted save', logger='current')
        found = find_resume_checkpoint(cfg.work_dir)
        if found is None:
            print_log(f'--resume: no checkpoint to resume from in {cfg.work_dir}; training '
                      'from scratch', logger='current', level=logging.WARNING)
            cfg.resume, cfg.load_from = False, None
            return None
        checkpoint, meta = found
    else:
        meta = load_checkpoint_file(checkpoint).get('meta') or {}
    cfg.resume, cfg.load_from = True, checkpoint
    seed = meta.get('seed')
    current = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:
        if current is not None and current != seed:
            print_log(f'resuming with the seed of {checkpoint} ({seed}) instead of {current}',
                      logger='current', level=logging.WARNING)
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    return checkpoint


# Stage of each stage-model type, to refuse a checkpoint of another stage before loading it.
MODEL_STAGES = {'CoarseModel': 'coarse', 'PromptModel': 'prompt', 'RefineModel': 'refine',
                'SpikeCLIP': 'pipeline'}


def check_checkpoint_stage(cfg: Config, checkpoint: str) -> None:
    """Raise a clear error if ``checkpoint`` was written by another stage than ``cfg.model``, or
    holds a part (encoder, refiner, ...) of another type than the config builds.

    Raises:
        CheckpointError: Missing/unsafe file, a checkpoint of another stage or architecture.
    """
    from ..models.stages.base import load_stage_checkpoint
    stage = MODEL_STAGES.get(cfg.model.get('type'))
    if stage is None:
        return
    stored, _, _ = load_stage_checkpoint(checkpoint, stage, with_info=True)
    source = getattr(cfg, 'filename', None) or 'the config'
    for part, part_cfg in cfg.model.items():
        other = stored.get(part)
        if (isinstance(part_cfg, dict) and isinstance(other, dict) and 'type' in part_cfg
                and 'type' in other and part_cfg['type'] != other['type']):
            raise CheckpointError(
                f'{checkpoint} holds a {other["type"]} {part}, but {source} builds a '
                f'{part_cfg["type"]} {part} (model.{part}.type); use the config it was trained '
                'with')
