"""Config loading and Runner construction shared by tools/train.py, tools/test.py and tests."""
import ast
import contextlib
import difflib
import glob
import inspect
import logging
import math
import os
import os.path as osp
import re
import time
import uuid
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import Registry
from mmengine.runner import Runner

from ..utils.atomic import remove_stale_temporaries
from ..utils.build_errors import explain_build_errors
from ..utils.checkpoint import load_checkpoint_file, weights_mismatch
from ..utils.errors import CheckpointError, ConfigError
from ..utils.paths import ensure_output_dir
from .cfg_options import DictAction  # noqa: F401  (the tools' --cfg-options action)
from .patches import install_patches


def _syntax_error_file(path: str, seen: Optional[set] = None) -> Optional[Tuple[str, SyntaxError]]:
    """The file of a config's ``_base_`` chain that does not parse, and its error (MMEngine's
    error does not name it)."""
    seen = seen or set()
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        return path, e
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else list(bases):
                found = _syntax_error_file(osp.join(osp.dirname(path), base), seen)
                if found:
                    return found
    return None


def read_config(path: str) -> Config:
    """``Config.fromfile`` with one-line errors.

    Raises:
        ConfigError: The file or one of its ``_base_`` files does not exist, does not parse
            (the file and line are named), or fails when run.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file {path!r} does not exist')
    try:
        return Config.fromfile(path)
    except FileNotFoundError as e:
        raise ConfigError(f'config {path}: a _base_ file does not exist: {e.filename or e}') \
            from e
    except SyntaxError as e:
        where, err = _syntax_error_file(path) or (path, e)
        raise ConfigError(f'config {where}, line {err.lineno}: syntax error: {err.msg}') from e
    except Exception as e:  # the config's own code raised (NameError, ZeroDivisionError, ...)
        first = str(e).splitlines()[0] if str(e) else ''
        raise ConfigError(f'config {path} could not be read: {type(e).__name__}: {first}') \
            from e


# Top-level keys that --cfg-options may add although a config does not set them: the Runner's
# own arguments and MMEngine's config keys.
_RUNNER_KEYS = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
_CONFIG_KEYS = {'custom_imports', 'work_dir', 'launcher'}
_MISSING = object()


def _lookup(cfg, key: str):
    node = cfg
    for part in key.split('.'):
        if isinstance(node, (dict, Config)) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _check_option(cfg: Config, key: str, value, path: str) -> None:
    """A ``--cfg-options`` item names a key the config (or the Runner) knows at the top, and
    gives a value of the kind the config has there."""
    top = key.split('.')[0]
    if top not in cfg and top not in _RUNNER_KEYS | _CONFIG_KEYS:
        close = difflib.get_close_matches(top, sorted(set(cfg.keys()) | _RUNNER_KEYS), n=1)
        hint = f' Did you mean {" or ".join(map(repr, close))}?' if close else ''
        raise ConfigError(f'--cfg-options {key}: {path} has no {top!r} and the Runner takes no '
                          f'such argument, so it would be ignored.{hint}')
    parts = key.split('.')
    for i in range(1, len(parts)):
        node = _lookup(cfg, '.'.join(parts[:i]))
        if node is _MISSING:
            break
        if node is not None and not isinstance(node, (dict, list, tuple)):
            raise ConfigError(f'--cfg-options {key}={value!r}: {".".join(parts[:i])} is '
                              f'{type(node).__name__} {node!r} in {path}, so it has no field '
                              f'{parts[i]!r}')
    old = _lookup(cfg, key)
    if old is _MISSING or old is None or value is None:
        return
    numeric = (int, float)
    if isinstance(old, bool) and not isinstance(value, bool) or \
            isinstance(old, numeric) and not isinstance(old, bool) and \
            not isinstance(value, numeric) or \
            isinstance(old, int) and not isinstance(old, bool) and isinstance(value, float) and \
            not value.is_integer():
        raise ConfigError(f'--cfg-options {key}={value!r}: the config has {type(old).__name__} '
                          f'{old!r} there')


# Fields that MMEngine or torch check only with a traceback (or divide by): (key, kind, least).
_BOUNDED_FIELDS = (
    *((f'{split}_dataloader.{key}', int, least) for split in ('train', 'val', 'test')
      for key, least in (('batch_size', 1), ('num_workers', 0))),
    ('train_cfg.val_interval', int, 1),
    ('default_hooks.logger.interval', int, 1),
    ('optim_wrapper.optimizer.lr', float, 0),
    ('optim_wrapper.optimizer.weight_decay', float, 0),
    ('randomness.seed', int, 0),
)


def _check_training(cfg: Config) -> None:
    """The fields of :data:`_BOUNDED_FIELDS` hold numbers of their kind and range (a seed below
    2**32, as numpy needs)."""
    for key, kind, least in _BOUNDED_FIELDS:
        value = _lookup(cfg, key)
        if value is _MISSING or value is None:
            continue
        number = not isinstance(value, bool) and isinstance(value, (int, float)) and \
            math.isfinite(value) and (kind is float or isinstance(value, int))
        if not number or value < least or (key == 'randomness.seed' and value >= 2**32):
            what = 'number' if kind is float else 'integer'
            what = f'a positive {what}' if least > 0 else f'a non-negative {what}'
            if key == 'randomness.seed':
                what += ' below 2**32'
            raise ConfigError(f'{key} must be {what}, got {value!r}')


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config file and apply command-line overrides.

    The work dir defaults to ``work_dirs/<config name>``; the launcher is stored in the config.
    ``custom_imports`` given in ``cfg_options`` are imported too (MMEngine imports only those
    of the file). The LR schedule follows the final ``train_cfg`` (:func:`follow_max_epochs`),
    validation and test folders the training one (:func:`follow_data_root`).

    Raises:
        ConfigError: The file (or a ``_base_`` file) does not exist or does not read; an
            override names a top-level key that nothing uses, does not fit the config's
            structure or gives a value of another kind (text for a number); a custom import
            fails; ``train_cfg.max_epochs`` or the learning rate is unusable.
    """
    cfg = read_config(path)
    file_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    file_root = _train_data_root(cfg)
    for key, value in (cfg_options or {}).items():
        _check_option(cfg, key, value, path)
        try:
            cfg.merge_from_dict({key: value})
        except Exception as e:  # TypeError/KeyError of a key that descends into a non-dict
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f'--cfg-options {key}={value!r} does not fit {path}: '
                              f'{first}') from e
    if any(k.split('.')[0] == 'custom_imports' for k in cfg_options or {}):
        import_custom_modules(cfg.custom_imports)
    follow_max_epochs(cfg, file_epochs, cfg_options)
    follow_data_root(cfg, file_root, cfg_options)
    _check_training(cfg)
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


def apply_amp(cfg: Config) -> str:
    """``tools/train.py --amp``: turn on mixed precision in the way the config's optimiser wrapper
    supports, checking the wrapper type first (as mmagic's ``tools/train.py`` does).

    * ``BF16OptimWrapper`` (every SpikeCLIP config): bf16 autocast on, ``enabled=True`` (the
      refine schedules switch it off by default; see configs/_base_/schedules/refine_epochs.py).
    * ``OptimWrapper`` / ``AmpOptimWrapper``: MMEngine's ``AmpOptimWrapper`` (float16 with a
      dynamic loss scale) on a GPU; without one, ``BF16OptimWrapper`` (MMEngine's needs CUDA).

    Returns:
        str: What was done, for the log.

    Raises:
        ConfigError: Another wrapper type, whose arguments ``--amp`` cannot translate.
    """
    import torch
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind == 'BF16OptimWrapper':
        wrapper.enabled = True
        return 'bf16 autocast (BF16OptimWrapper, enabled=True)'
    if kind in ('OptimWrapper', 'AmpOptimWrapper'):
        if torch.cuda.is_available():
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')
            return 'float16 autocast with a dynamic loss scale (AmpOptimWrapper)'
        wrapper.type = 'BF16OptimWrapper'
        wrapper.pop('loss_scale', None)
        wrapper.pop('dtype', None)
        return 'bf16 autocast (BF16OptimWrapper: AmpOptimWrapper needs a GPU)'
    raise ConfigError(f'--amp does not know how to turn on mixed precision for optim_wrapper '
                      f'type {kind!r}; set it in the config instead (BF16OptimWrapper, '
                      'AmpOptimWrapper)')


def _train_data_root(cfg: Config) -> Optional[str]:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    return dataset.get('data_root') if isinstance(dataset, dict) else None


def follow_data_root(cfg: Config, file_root: Optional[str],
                     cfg_options: Optional[dict] = None) -> None:
    """Make validation and test datasets that read the training folder follow
    ``--cfg-options train_dataloader.dataset.data_root=...``.

    A config that validates on held-out frames of the training recordings
    (``configs/adapt_real.py``) names one folder three times; after the override every
    ``val_dataloader`` / ``test_dataloader`` dataset whose ``data_root`` was the file's training
    ``data_root`` (and was not overridden itself) reads the new one.

    Args:
        cfg (Config): The config, overrides applied.
        file_root (str, optional): ``train_dataloader.dataset.data_root`` as the file set it.
        cfg_options (dict, optional): The overrides.
    """
    root = _train_data_root(cfg)
    if file_root is None or root == file_root:
        return
    for name in ('val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(name) or {}).get('dataset')
        if (isinstance(dataset, dict) and dataset.get('data_root') == file_root
                and f'{name}.dataset.data_root' not in (cfg_options or {})):
            dataset['data_root'] = root
            print_log(f'{name}.dataset.data_root follows train_dataloader.dataset.data_root: '
                      f'{root}', logger='current')


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


@contextlib.contextmanager
def explain_config_errors(cfg: Config) -> Iterator[None]:
    """:func:`explain_unregistered_types`, and entries of ``cfg`` that do not fit the class
    they build (an argument it does not take, a non-string key) as one line naming the file
    and the field (:func:`~spikeclip.utils.build_errors.explain_build_errors`)."""
    source = f'config {cfg.filename}' if getattr(cfg, 'filename', None) else 'the config'
    with explain_build_errors(cfg, source), explain_unregistered_types():
        yield


class SpikeCLIPRunner(Runner):
    """MMEngine's Runner with the toolkit's errors.

    * A ``type`` that no registry holds raises :class:`ConfigError` listing the registered names
      (MMEngine's KeyError does not), wherever it is built: at construction, or lazily when
      ``train``/``val``/``test`` build data loaders, metrics and optimisers; so does an entry
      that does not fit its class, naming the field (:func:`explain_config_errors`).
    * Checkpoints load strictly (``load_from``, ``--resume``, ``tools/test.py``): weights that do
      not fit (another architecture) raise :class:`CheckpointError` naming the missing and
      unexpected keys, where MMEngine would only log them and go on with a partly random model.
    """

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'SpikeCLIPRunner':
        with explain_config_errors(cfg):
            return super().from_cfg(cfg)

    def train(self):
        with explain_config_errors(self.cfg):
            return super().train()

    def val(self) -> dict:
        with explain_config_errors(self.cfg):
            return super().val()

    def test(self) -> dict:
        with explain_config_errors(self.cfg):
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
            raise weights_mismatch(filename, f'the model {type(self.model).__name__}', e) from e


# Config fields that name files; a relative one is read from the current directory (as MMEngine
# reads work_dir), which a missing-file error deep in the build would not say.
_PATH_FIELDS = ('model.clip.pretrained', 'model.coarse_checkpoint', 'model.prompt_checkpoint',
                'load_from')
_WEIGHT_SUFFIXES = ('.pth', '.pt', '.bin', '.safetensors')


def check_config_paths(cfg: Config, named_in: Optional[str] = None) -> None:
    """Each relative file path of :data:`_PATH_FIELDS` exists in the current directory.

    Args:
        cfg (Config): The config.
        named_in (str, optional): Check only the paths this error message names. Defaults to
            None (all of them).

    Raises:
        ConfigError: A relative path that is not there, naming the config, the field and the
            directory it was looked for in (and the config's folder, if it is there instead).
    """
    source = getattr(cfg, 'filename', None) or 'the config'
    for key in _PATH_FIELDS:
        value = _lookup(cfg, key)
        if not isinstance(value, str) or osp.isabs(value) or value.startswith('~') or \
                re.match(r'^[a-z][\w+.-]*:', value) or \
                not ('/' in value or value.endswith(_WEIGHT_SUFFIXES)) or osp.exists(value) or \
                (named_in is not None and value not in named_in):
            continue  # absolute, pretrained:NAME or a URL, an open_clip tag, there, not named
        beside = osp.join(osp.dirname(osp.abspath(source)), value) \
            if osp.isfile(source) else None
        hint = f'; it does exist next to the config ({beside}): give that path' \
            if beside and osp.exists(beside) else \
            '; run from the folder it is relative to, or give an absolute path'
        raise ConfigError(f'config {source}: {key}={value!r} does not exist in the current '
                          f'directory ({os.getcwd()}), which relative paths in a config are '
                          f'resolved against (not the config\'s folder){hint}')


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (:class:`SpikeCLIPRunner`) with SpikeCLIP's modules registered, atomic
    file writes and safe loading. Every hook it runs is listed in the config
    (``configs/_base_/default_runtime.py``).

    ``default_scope='spikeclip'`` makes the registries import our modules on first use.
    """
    if cfg.get('default_scope', 'spikeclip') != 'spikeclip':
        raise ConfigError(f"default_scope must be 'spikeclip', got {cfg.default_scope!r}")
    # multi-process CPU runs (gloo) need the CPU-distributed patch; a no-op where CUDA exists
    install_patches(cpu_distributed=cfg.get('launcher', 'none') != 'none')
    ensure_output_dir(cfg.work_dir, 'work dir')
    try:
        return SpikeCLIPRunner.from_cfg(cfg)
    except CheckpointError as e:  # a missing file: say where a relative path was looked for
        check_config_paths(cfg, named_in=str(e))
        raise


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


# The environment variable that holds a process's rank under each launcher of tools/train.py.
_RANK_VARIABLES = dict(pytorch='RANK', slurm='SLURM_PROCID', mpi='OMPI_COMM_WORLD_RANK')


def launch_rank(launcher: str = 'none') -> int:
    """This process's rank in a launch by ``launcher`` (known before MMEngine initialises
    distributed training); 0 for ``'none'``, whatever ``RANK`` says."""
    variable = _RANK_VARIABLES.get(launcher)
    value = os.environ.get(variable, '0') if variable else '0'
    return int(value) if value.strip().isdigit() else 0


def claim_work_dir(work_dir: str, force: bool = False, launcher: str = 'none') -> Optional[str]:
    """Make sure a fresh training run does not overwrite an earlier run's checkpoints.

    A work dir that holds checkpoints (``<stage>_best.pth``, ``epoch_*.pth``, a combined model,
    ...) or a ``last_checkpoint`` pointer is refused: the new run would replace
    ``<stage>_best.pth``, which later stages and combined models name. With ``force`` those files
    are moved, not deleted, to ``work_dir/previous_<time>/`` first.

    Every process looks, so that every rank of a distributed launch refuses; only rank 0
    (:func:`launch_rank`) moves files. A ``RANK`` variable without a launcher changes nothing.

    Args:
        work_dir (str): The run's work dir.
        force (bool): Move the earlier run's files aside instead of refusing. Defaults to False.
        launcher (str): ``tools/train.py --launcher``. Defaults to ``'none'``.

    Returns:
        str | None: Where the earlier files went (``force``, rank 0), else None.

    Raises:
        ConfigError: The work dir holds an earlier run's checkpoints and ``force`` is off.
    """
    names = earlier_run_files(work_dir)
    if not names:
        return None
    if not force:
        shown = ', '.join(names[:5]) + (f' and {len(names) - 5} more' if len(names) > 5 else '')
        raise ConfigError(
            f'{work_dir} already holds a trained run ({shown}); a fresh run would overwrite it. '
            'Continue it with --resume, train elsewhere with --work-dir DIR, or pass --force to '
            'start afresh (the old checkpoints are moved to a previous_<time> folder)')
    if launch_rank(launcher) != 0:
        return None
    backup = move_aside(work_dir, names)
    print_log(f'--force: moved the earlier run\'s {", ".join(names)} to {backup}',
              logger='current', level=logging.WARNING)
    return backup


def move_aside(folder: str, names: Sequence[str]) -> str:
    """Move the files ``names`` of ``folder`` into a new ``folder/previous_<time>/`` (``--force``
    keeps what it replaces there, never deletes it).

    Returns:
        str: The new folder.
    """
    backup = osp.join(folder, f'previous_{time.strftime("%Y%m%d_%H%M%S")}')
    while osp.exists(backup):
        backup += '_'
    os.makedirs(backup)
    for name in names:
        os.replace(osp.join(folder, name), osp.join(backup, name))
    return backup


def resume_command(argv: List[str], work_dir: str) -> str:
    """The command line that continues an interrupted ``tools/train.py`` run: ``argv`` with
    ``--resume`` instead of ``--force``/``--resume [CKPT]``, and the run's ``--work-dir``."""
    import shlex
    import sys
    args, i = [], 1
    while i < len(argv):
        arg = argv[i]
        if arg == '--force':
            i += 1
            continue
        if arg == '--resume':
            i += 2 if i + 1 < len(argv) and not argv[i + 1].startswith('-') else 1
            continue
        if arg.startswith('--resume='):
            i += 1
            continue
        if arg == '--work-dir':
            i += 2
            continue
        args.append(arg)
        i += 1
    exe = 'python' if osp.basename(sys.executable).startswith('python') else sys.executable
    return shlex.join([exe, argv[0], *args, '--work-dir', work_dir, '--resume'])


def prepare_training(cfg: Config, resume: Optional[str] = None, force: bool = False) \
        -> Optional[str]:
    """What ``tools/train.py`` settles before the Runner is built: which checkpoint the run
    resumes from, and that it overwrites no earlier run in the work dir.

    A resume is asked for by ``--resume [CHECKPOINT]`` (``resume``) or by ``resume=True`` in the
    config or ``--cfg-options`` (``load_from`` naming the checkpoint, or none for the latest in the
    work dir); every way goes through :func:`prepare_resume`. A fresh run goes through
    :func:`claim_work_dir`.

    Args:
        cfg (Config): The training config (``work_dir`` and ``launcher`` set).
        resume (str, optional): ``--resume``'s value: a checkpoint or ``'auto'``; None where it
            was not given.
        force (bool): ``--force``: move an earlier run's files aside instead of refusing.

    Returns:
        str | None: The checkpoint the run resumes from, or None (a fresh run).

    Raises:
        CheckpointError: The checkpoint to resume is missing, truncated or unsafe.
        ConfigError: The run would overwrite an earlier run's files.
    """
    if resume is None and cfg.get('resume'):
        resume = cfg.get('load_from') or 'auto'
    if resume is None:
        claim_work_dir(cfg.work_dir, force=force, launcher=cfg.get('launcher', 'none'))
        return None
    return prepare_resume(cfg, resume, force=force)


def prepare_resume(cfg: Config, checkpoint: str = 'auto', force: bool = False) -> Optional[str]:
    """Point ``cfg`` at the checkpoint to resume from and take over the interrupted run's seed.

    The seed must be known before the Runner is built: the training sampler draws its shuffling
    seed at construction, while MMEngine restores the checkpoint's seed only later, so a config
    without a fixed seed (or another ``--seed``) would shuffle differently from the interrupted
    run.

    A checkpoint that does not lie in the work dir itself (another run's, or one moved to
    ``previous_<time>``) starts a new run there: like a fresh run, it is refused where the work
    dir holds an earlier run's files, whose ``<stage>_best.pth`` it would replace
    (:func:`claim_work_dir`; ``force`` moves them aside).

    Args:
        cfg (Config): The training config (``work_dir`` set).
        checkpoint (str): A checkpoint file, or ``'auto'`` for :func:`find_resume_checkpoint` in
            the work dir (whose stale temporaries are deleted first). Defaults to ``'auto'``.
        force (bool): Where the run would overwrite an earlier run's files in the work dir
            (``'auto'`` found no checkpoint to resume beside a ``<stage>_best.pth``, or the
            checkpoint lies elsewhere), move them aside instead of refusing. Defaults to False.

    Returns:
        str | None: The checkpoint, or None where ``'auto'`` found none (training starts afresh).

    Raises:
        CheckpointError: ``checkpoint`` is missing, truncated or unsafe.
        ConfigError: The run would overwrite an earlier run's files (see above).
    """
    launcher = cfg.get('launcher', 'none')
    if checkpoint == 'auto':
        for path in remove_stale_temporaries(cfg.work_dir):
            print_log(f'removed {path}, left by an interrupted save', logger='current')
        found = find_resume_checkpoint(cfg.work_dir)
        if found is None:
            if earlier_run_files(cfg.work_dir) and not force:
                raise ConfigError(
                    f'--resume: {cfg.work_dir} holds {", ".join(earlier_run_files(cfg.work_dir))} '
                    'but no checkpoint to resume from (epoch_*.pth, iter_*.pth); pass --force to '
                    'start afresh (they are moved to a previous_<time> folder) or train '
                    'elsewhere with --work-dir DIR')
            claim_work_dir(cfg.work_dir, force=True, launcher=launcher)
            print_log(f'--resume: no checkpoint in {cfg.work_dir} yet; training from the start',
                      logger='current')
            cfg.resume, cfg.load_from = False, None
            return None
        checkpoint, meta = found
    else:
        meta = load_checkpoint_file(checkpoint).get('meta') or {}
        if osp.dirname(osp.realpath(checkpoint)) != osp.realpath(cfg.work_dir):
            names = earlier_run_files(cfg.work_dir)
            if names and not force:
                shown = ', '.join(names[:5]) + (f' and {len(names) - 5} more'
                                                if len(names) > 5 else '')
                where = 'a new --work-dir' if '://' in checkpoint else \
                    f'its own folder (--work-dir {osp.dirname(checkpoint) or "."}) or a new one'
                raise ConfigError(
                    f'resuming {checkpoint}, which lies outside the work dir {cfg.work_dir}, '
                    f'would overwrite the run there ({shown}). Resume it into {where}, or pass '
                    '--force (the old checkpoints are moved to a previous_<time> folder)')
            claim_work_dir(cfg.work_dir, force=True, launcher=launcher)
    cfg.resume, cfg.load_from = True, checkpoint
    seed = meta.get('seed')
    current = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:
        if current is not None and current != seed:
            print_log(f'resuming with the seed of {checkpoint} ({seed}) instead of {current}',
                      logger='current', level=logging.WARNING)
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    return checkpoint


def check_checkpoint_stage(cfg: Config, checkpoint: str) -> None:
    """Raise a clear error if ``checkpoint`` was written by another stage than ``cfg.model``, or
    holds a part (encoder, refiner, ...) of another type than the config builds.

    Raises:
        CheckpointError: Missing/unsafe file, a checkpoint of another stage or architecture.
    """
    from ..models.stages.base import load_stage_checkpoint, stage_of
    stage = stage_of(cfg.model.get('type'))
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
