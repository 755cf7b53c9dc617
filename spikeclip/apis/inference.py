"""Inference from a checkpoint alone: spike files in, PNG images and class predictions out."""
import contextlib
import hashlib
import json
import os.path as osp
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from ..engine.fast_inference import cached_prompt_features, prepare_for_inference, to_float32
from ..fileio import (
    PAD_MODES,
    dat_num_frames,
    npz_num_frames,
    read_dat,
    read_npz,
    valid_centres,
    window_bounds,
    window_indices,
)
from ..fileio.mp4 import is_own_video
from ..models.stages.base import load_stage_checkpoint
from ..registry import MODELS
from ..utils.atomic import (
    FolderLock,
    atomic_save_image,
    atomic_write_json,
    is_own_image,
    remove_stale_temporaries,
)
from ..utils.build_errors import explain_build_errors
from ..utils.checkpoint import load_checkpoint_file, load_weights
from ..utils.device import check_device
from ..utils.errors import (
    CheckpointError,
    ConfigError,
    OutputError,
    SpikeCLIPError,
    SpikeFormatError,
)
from ..utils.exposure import Exposure, save_rates, to_display
from ..utils.paths import ensure_output_dir


def _model_options(cfg_options: Optional[dict], checkpoint: str) -> dict:
    """The ``model.*`` keys of ``--cfg-options``; ``custom_imports`` keys are imported here.

    Raises:
        ConfigError: Any other key (nothing but the model comes from a checkpoint).
    """
    from ..engine.runner import import_custom_modules
    options = dict(cfg_options or {})
    imports = {k: options.pop(k) for k in list(options) if k.split('.')[0] == 'custom_imports'}
    if imports:
        merged = Config()
        merged.merge_from_dict(imports)
        import_custom_modules(merged.custom_imports)
    other = [k for k in options if not k.startswith('model.')]
    if other:
        raise ConfigError(f'--cfg-options {", ".join(other)}: only model.* and custom_imports '
                          f'keys apply to the model of {checkpoint}')
    return options


def model_cfg_from_checkpoint(checkpoint: str, cfg_options: Optional[dict] = None) -> dict:
    """The self-contained model config a SpikeCLIP checkpoint carries (``meta.spikeclip.model``),
    checked before anything is built from it (see :mod:`spikeclip.models.stages.stored_config`),
    with ``--cfg-options`` overrides (``model.<field>`` keys; ``custom_imports`` are imported).

    Raises:
        CheckpointError: Not a SpikeCLIP checkpoint, or a stored config that is refused.
        ConfigError: Overrides that are not ``model.*``/``custom_imports`` or do not fit.
    """
    options = _model_options(cfg_options, checkpoint)
    return load_stage_checkpoint(checkpoint, resolve=True, cfg_options=options)[0]


def init_model(checkpoint: str, config: Optional[str] = None, device: Optional[str] = None,
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a stage or combined model and load its weights.

    Args:
        checkpoint (str): A stage checkpoint or a combined model file, ``pretrained:<name>``
            (a model shipped with the package, e.g. ``pretrained:real``), or an ``http(s)://`` URL.
        config (str, optional): A config file whose ``model`` replaces the one stored in the
            checkpoint.
        device (str, optional): Defaults to CUDA where available, else CPU.
        cfg_options (dict, optional): ``--cfg-options`` overrides of the model, e.g.
            ``{'model.clip.pretrained': '/path/tiny_clip.pth'}``; ``custom_imports`` keys import
            modules (components of your own) before the checkpoint is read.

    Returns:
        The model, in eval mode on ``device``.

    Raises:
        CheckpointError: Missing/unsafe file, a stored config that is refused, or weights that
            do not fit.
        ConfigError: Overrides that do not fit.
    """
    device = check_device(device)  # before anything is loaded
    from ..pretrained import resolve_checkpoint
    checkpoint = resolve_checkpoint(checkpoint)
    options = _model_options(cfg_options, checkpoint)
    if config is None:
        model_cfg, state = load_stage_checkpoint(checkpoint, resolve=True, cfg_options=options)
    else:  # the stored config is not used
        ckpt = load_checkpoint_file(checkpoint)
        state = ckpt.get('state_dict', ckpt)
        from ..engine.runner import load_config
        from ..models.stages.base import STAGE_TITLES, stage_of
        from ..models.stages.checkpoint_meta import read_meta
        model_cfg = load_config(config, options).model.to_dict()
        stored = read_meta(ckpt).get('stage')
        wanted = stage_of(model_cfg.get('type'))
        if stored in STAGE_TITLES and wanted is not None and stored != wanted:
            raise CheckpointError(f'{checkpoint} is a checkpoint of {STAGE_TITLES[stored]}, but '
                                  f'{config} builds {STAGE_TITLES[wanted]} '
                                  f'({model_cfg["type"]}); use a config of its stage')
    # Stage 2/3 configs name earlier-stage checkpoints; the stored config names their parts.
    from ..engine.runner import explain_unregistered_types
    source, root = (checkpoint, 'meta.spikeclip.model') if config is None else \
        (f'config {config}', 'model')
    with DefaultScope.overwrite_default_scope('spikeclip'), explain_unregistered_types(), \
            explain_build_errors(model_cfg, source, root):
        model = MODELS.build(model_cfg)
    missing_parts = sorted({k.split('.')[0] for k in model.state_dict()} -
                           {k.split('.')[0] for k in state})
    if missing_parts:
        raise CheckpointError(f'{checkpoint} holds no weights for {", ".join(missing_parts)} of '
                              f'the {model_cfg.get("type")} model (a stage is missing)')
    bad = [k for k, v in state.items()
           if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f'{checkpoint}: the weights hold NaN or Inf values ({bad[0]}'
                              f'{f" and {len(bad) - 1} more" if len(bad) > 1 else ""}); the '
                              'training that wrote them diverged')
    load_weights(model, state, checkpoint, f'the model {model_cfg.get("type")}')
    return model.to(device).eval()


def load_window(path: str, window: Optional[int], frame: Optional[int] = None,
                height: int = 250, width: int = 400, pad: Optional[str] = None,
                min_window: Optional[int] = None, sensor: Optional[str] = None) -> np.ndarray:
    """The ``window`` frames of a recording centred on ``frame`` (its temporal centre by default).

    Only the window is read and decoded (``.dat``: the window's bytes; ``.npz``: the ``spk``
    member up to the window's end), after the recording's length has been checked against the
    window from the file's size or header. The window of ``frame`` is ``[frame - w // 2,
    frame - w // 2 + w)``, as in video mode: a frame too close to an end for a full window is
    refused, or with ``pad='reflect'`` gets the recording mirrored there. With ``min_window`` (a
    model that accepts shorter inputs), a recording of ``min_window`` to ``window`` frames is
    read whole. ``sensor`` names a ``.dat`` preset of :mod:`~spikeclip.fileio.sensors` (it
    replaces ``height``/``width`` and drops the head).

    Returns:
        np.ndarray: ``[T, H, W]`` uint8 spikes.

    Raises:
        SpikeFormatError: Unknown type, unreadable or malformed file, a recording shorter than
            the window (the message names the file and both lengths), or ``frame`` outside it or
            too close to an end (without ``pad``), naming the frames that work.
    """
    return _read_window(path, window, frame, height, width, pad, min_window, sensor)[0]


def _read_window(path: str, window: Optional[int], frame: Optional[int], height: int,
                 width: int, pad: Optional[str] = None, min_window: Optional[int] = None,
                 sensor: Optional[str] = None) -> Tuple[np.ndarray, Optional[int]]:
    """``(spikes, centre)``: :func:`load_window` and the centre frame of the window read (None
    for a model that takes the whole recording)."""
    ext = osp.splitext(path)[1].lower()
    if ext == '.dat':
        total = dat_num_frames(path, height, width, sensor)
        what = f'{total} frames of {height}x{width}' if sensor is None else \
            f'{total} frames of {sensor}'
    elif ext == '.npz':
        total = npz_num_frames(path)
        what = f'{total} frames'
    else:
        raise SpikeFormatError(f'{path}: unknown spike file type {ext!r}; expected .dat or .npz')
    if window is not None and total < window and (min_window is None or total < min_window):
        if min_window is not None:
            raise SpikeFormatError(f'{path}: the model needs at least {min_window} frames, but '
                                   f'the recording holds only {what}')
        raise SpikeFormatError(f'{path}: the model needs a window of {window} frames, but the '
                               f'recording holds only {what}')
    if frame is not None and not 0 <= frame < total:
        raise SpikeFormatError(f'{path}: --frame {frame} is outside the {total} frames')
    if window is None:
        start, stop, centre = 0, total, None
    elif total < window:  # shorter than the window, but the model takes it: all of it
        start, stop, centre = 0, total, total // 2
        if frame is not None and frame != centre:
            raise SpikeFormatError(
                f'{path}: the {what} are fewer than the model\'s {window}-frame window, so the '
                f'model reads all of them, centred on frame {centre}; --frame {frame} cannot be '
                'the centre')
    elif frame is None:
        start, stop = window_bounds(total, window)
        centre = start + window // 2
    else:
        valid = valid_centres(total, window, pad)
        if frame not in valid:
            raise SpikeFormatError(
                f'{path}: --frame {frame} is too close to an end for a full {window}-frame '
                f'window; the {what} allow centre frames {valid.start} to {valid.stop - 1}, or '
                'pass --pad reflect to mirror the recording at its ends')
        idx = window_indices(frame, window, total, pad)
        start, stop, centre = int(idx.min()), int(idx.max()) + 1, frame
    if ext == '.dat':
        spikes = read_dat(path, height, width, start, stop - start, sensor=sensor)
    else:
        spikes = read_npz(path, require_label=False, start=start, num_frames=stop - start).spikes
    if centre is not None and stop - start < window <= total:  # padded: mirrored indices
        spikes = spikes[window_indices(centre, window, total, pad) - start]
    return spikes, centre


# Output file names stay within the usual 255-byte limit: a stem longer than this is cut and
# given a hash of the full name.
MAX_STEM_BYTES = 180
PREDICTIONS = 'predictions.json'


def _fit_stem(stem: str) -> str:
    if len(stem.encode()) <= MAX_STEM_BYTES:
        return stem
    digest = hashlib.sha1(stem.encode()).hexdigest()[:8]
    cut = stem.encode()[:MAX_STEM_BYTES - 9].decode(errors='ignore')
    return f'{cut}~{digest}'


def output_stems(inputs: Sequence[str], save_coarse: bool = False,
                 suffixes: Optional[Sequence[str]] = None) -> List[str]:
    """One output stem per input such that no two inputs share an output file.

    ``DIR/<stem>.png`` (and ``DIR/<stem>_coarse.png`` with ``save_coarse``) are reserved for
    every input before any is written, case-insensitively (for case-insensitive file systems),
    together with ``predictions.json``. An input keeps its own stem where that is free, else
    gets ``<stem>_<ext>``, then ``<stem>_<ext>_2``, ``_3``, ...: ``a/x.dat b/x.dat`` give ``x``
    and ``x_dat``; ``cat.dat cat_coarse.dat`` with ``save_coarse`` give ``cat`` and
    ``cat_coarse_dat``. Long stems are cut (with a hash) to keep names within 255 bytes.

    Args:
        suffixes (Sequence[str], optional): The names ``<stem><suffix>`` each input reserves
            instead, e.g. ``('', '.mp4')`` for a folder and a video per input.

    Returns:
        list[str]: The stems, in input order.
    """
    if suffixes is None:
        suffixes = ('.png', '_coarse.png') if save_coarse else ('.png', )
    taken = {PREDICTIONS}
    stems = []
    for path in inputs:
        stem, ext = osp.splitext(osp.basename(osp.normpath(path)))
        stem = stem.lstrip('.') or 'input'
        ext = ext.lstrip('.').lower() or 'file'
        n = 0
        while True:
            candidate = stem if n == 0 else f'{stem}_{ext}' if n == 1 else f'{stem}_{ext}_{n}'
            candidate = _fit_stem(candidate)
            files = {f'{candidate}{suffix}'.lower() for suffix in suffixes}
            if not files & taken:
                break
            n += 1
        taken |= files
        stems.append(candidate)
    return stems


def prepare_out_dir(out_dir: str) -> None:
    """Create ``out_dir`` (or check it is a writable folder) and delete the hidden temporaries
    that a killed earlier run left there (older than a minute).

    Raises:
        SpikeCLIPError: ``out_dir`` is a file, or cannot be created or written to.
    """
    ensure_output_dir(out_dir, '--out-dir')
    remove_stale_temporaries(out_dir, min_age=60)


def _listed_outputs(predictions: str) -> set:
    """The files an earlier run recorded in ``predictions`` (absolute paths).

    Raises:
        OutputError: ``predictions`` exists but is not a predictions file of this toolkit.
    """
    if not osp.lexists(predictions):
        return set()
    try:
        if osp.islink(predictions):
            raise ValueError('a symbolic link')
        with open(predictions) as f:
            entries = json.load(f)
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and 'input' in e for e in entries):
            raise ValueError('not a list of entries with an "input"')
    except (OSError, ValueError) as e:
        raise OutputError(f'{predictions} exists and is not the predictions.json of an earlier '
                          f'run ({e}); move it away or choose another --out-dir') from e
    return {osp.abspath(e[k]) for e in entries for k in ('image', 'coarse', 'video', 'float')
            if isinstance(e.get(k), str)}


def check_replaceable(out_dir: str, paths: Sequence[str]) -> None:
    """Refuse to write over files this toolkit did not write.

    A file under one of ``paths`` may be replaced only if an earlier run wrote it: a PNG or MP4
    carrying the toolkit's mark (:func:`~spikeclip.utils.atomic.is_own_image`,
    :func:`~spikeclip.fileio.mp4.is_own_video`), or a file listed in ``out_dir``'s
    ``predictions.json`` (which itself must be one of ours).

    Raises:
        OutputError: The first path that is taken by something else (a file not ours, a folder,
            a symbolic link), naming it.
    """
    known = _listed_outputs(osp.join(out_dir, PREDICTIONS))
    for path in paths:
        if not osp.lexists(path) or osp.basename(path) == PREDICTIONS:
            continue
        if osp.islink(path) or not osp.isfile(path):
            what = 'a symbolic link' if osp.islink(path) else 'a folder'
            raise OutputError(f'{path} is {what}, where this run would write a file; move it '
                              'away or choose another --out-dir')
        ours = (is_own_image(path) if path.lower().endswith('.png') else
                is_own_video(path) if path.lower().endswith('.mp4') else False)
        if not (ours or osp.abspath(path) in known):
            raise OutputError(f'{path} exists and was not written by an earlier run of this '
                              'toolkit, so it is not replaced; move it away or choose another '
                              '--out-dir')


@contextlib.contextmanager
def claimed_out_dir(out_dir: str, outputs: Sequence[str]) -> Iterator[None]:
    """``out_dir`` prepared (:func:`prepare_out_dir`), locked for the run
    (:class:`~spikeclip.utils.atomic.FolderLock`: a second run into it is refused), and
    ``outputs`` checked (:func:`check_replaceable`) before anything is written.

    Raises:
        SpikeCLIPError: An unusable ``out_dir``.
        OutputError: Another run holds the folder, or an output name is taken.
    """
    prepare_out_dir(out_dir)
    with FolderLock(out_dir):
        check_replaceable(out_dir, outputs)
        yield


class _Predictions:
    """``predictions.json``, rewritten atomically as inputs finish: after every input while it
    is small, at most once a second when large, and always on :meth:`flush`."""

    def __init__(self, path: str):
        self.path, self.entries, self._last = path, [], float('-inf')

    def add(self, entry: dict) -> None:
        self.entries.append(entry)
        if len(self.entries) <= 200 or time.monotonic() - self._last >= 1.0:
            self.flush()

    def flush(self) -> None:
        atomic_write_json(self.path, self.entries)
        self._last = time.monotonic()


def _check_finite(path: str, sample) -> None:
    for key in ('pred_img', 'pred_coarse', 'pred_score'):
        if key in sample and not torch.isfinite(getattr(sample, key)).all():
            raise SpikeCLIPError(f'{path}: the model output ({key}) holds NaN or Inf values; '
                                 'nothing was written for this input')


@torch.inference_mode()
def infer_files(model: torch.nn.Module, inputs: Sequence[str], out_dir: str,
                frame: Optional[int] = None, height: int = 250, width: int = 400,
                save_coarse: bool = False, topk: int = 5, amp: str = 'auto',
                channels_last: Union[str, bool] = 'auto',
                skip_errors: bool = False, pad: Optional[str] = None,
                exposure: Union[str, float, Exposure] = 'auto', save_float: bool = False,
                sensor: Optional[str] = None) -> List[Dict]:
    """Reconstruct (and classify) each input; write PNGs and ``predictions.json`` atomically.

    Writes ``out_dir/<stem>.png`` (8-bit grey, the input's height and width: the refined image
    for stage-3 and combined models, shown at ``exposure``), ``out_dir/<stem>_coarse.png`` with
    ``save_coarse`` (at the same gain), ``out_dir/<stem>.npy`` with ``save_float``, and
    ``out_dir/predictions.json``: per input its image paths, the exposure and its ``gain`` and,
    where the model classifies, the top-``topk`` classes with probabilities. Stems are reserved
    for all inputs first (:func:`output_stems`), so two inputs never share a file.
    ``predictions.json`` is rewritten as inputs finish (see :class:`_Predictions`) and when the
    run stops on an error or Ctrl-C, so it always lists exactly the outputs written so far.

    The model runs with :func:`~spikeclip.engine.fast_inference.prepare_for_inference` settings
    (``amp``, ``channels_last``; ``'auto'`` picks bf16 + channels_last where the hardware has
    native bf16, fp32 elsewhere; ``amp='none'`` reproduces fp32 exactly), and the frozen prompt
    features are computed once for all inputs. This sets the model's memory format and fp32
    parts in place.

    Args:
        exposure (str | float | Exposure): The PNGs' brightness: ``'auto'`` (a gain per input
            from its reconstruction), ``'linear'`` (the rate itself) or a fixed gain; each entry
            records its ``gain`` (see :mod:`spikeclip.utils.exposure`). Defaults to ``'auto'``.
        save_float (bool): Also write the linear rates as ``out_dir/<stem>.npy`` float32.
        sensor (str, optional): A ``.dat`` sensor preset (``'vidar-250x416'``, see
            :mod:`spikeclip.fileio.sensors`) instead of ``height``/``width``.
        skip_errors (bool): An input that cannot be read (or whose output is not finite) gets
            an entry ``{'input': ..., 'error': message}`` and the next input is processed;
            otherwise the first such error stops the run. A failed write always stops it.
            Defaults to False.
        pad (str, optional): ``'reflect'``: a ``frame`` too close to an end for a full window
            gets the recording mirrored there (as in video mode); None: such a frame is an
            error. Each entry records the centre frame used (``frame``). Defaults to None.

    Returns:
        list[dict]: The entries of ``predictions.json``.

    ``out_dir`` is locked for the run (a second run into it is refused), and files under the
    names this run writes are replaced only where an earlier run wrote them
    (:func:`check_replaceable`).

    Raises:
        SpikeCLIPError: A bad input (without ``skip_errors``), or an unusable ``out_dir``.
        OutputError: A file not ours under an output name, another run in ``out_dir``, or a
            failed write (``predictions.json`` then lists the inputs finished before it).
    """
    if pad is not None and pad not in PAD_MODES:
        raise ConfigError(f'--pad must be one of {PAD_MODES}, got {pad!r}')
    exposure = Exposure.parse(exposure)
    stems = output_stems(inputs, save_coarse)
    suffixes = ('.png', ) + (('_coarse.png', ) if save_coarse else ()) + \
        (('.npy', ) if save_float else ())
    outputs = [osp.join(out_dir, f'{stem}{suffix}') for stem in stems for suffix in suffixes]
    with claimed_out_dir(out_dir, outputs):
        model, ctx = prepare_for_inference(model, amp=amp, channels_last=channels_last)
        window = model.data_preprocessor.window
        min_window = getattr(model.data_preprocessor, 'min_window', None)
        names = list(getattr(model, 'class_names', []) or [])
        predictions = _Predictions(osp.join(out_dir, PREDICTIONS))
        predictions.flush()  # an older predictions.json never stays beside this run's images
        try:
            with ctx, cached_prompt_features(model):  # bf16/fp32 as chosen; prompts once
                for path, stem in zip(inputs, stems):
                    try:
                        entry = _infer_one(model, path, stem, out_dir, (window, min_window),
                                           names, frame, height, width, save_coarse, topk, pad,
                                           exposure, save_float, sensor)
                    except SpikeCLIPError as e:
                        if not skip_errors or isinstance(e, OutputError):
                            raise
                        entry = dict(input=path, error=str(e))
                    predictions.add(entry)
        finally:
            predictions.flush()
    return predictions.entries


def save_output_image(path: str, pixels: np.ndarray) -> None:
    """:func:`~spikeclip.utils.atomic.atomic_save_image`, a failed write as an OutputError.

    Raises:
        OutputError: The file cannot be written (the message names it and why).
    """
    try:
        atomic_save_image(path, pixels)
    except OSError as e:
        raise OutputError(f'{path}: cannot be written ({e.strerror or e}); the run stops '
                          'here') from e


def _infer_one(model, path, stem, out_dir, window, names, frame, height, width, save_coarse,
               topk, pad, exposure, save_float, sensor) -> dict:
    window, min_window = window
    spikes, centre = _read_window(path, window, frame, height, width, pad, min_window, sensor)
    spikes = torch.from_numpy(spikes)
    if window is not None and spikes.shape[0] < window:
        print_log(f'{path}: {spikes.shape[0]} frames, shorter than the model\'s {window}-frame '
                  'window: the model uses all of them', logger='current')
    data = model.data_preprocessor(dict(inputs=[spikes], data_samples=None))
    sample = to_float32(model(data['inputs'], None, mode='predict')[0])
    _check_finite(path, sample)
    entry = dict(input=path, frames=int(spikes.shape[0]))
    if centre is not None:  # the window's centre frame, given or chosen
        entry.update(frame=centre, pad=pad)
    entry['image'] = osp.join(out_dir, f'{stem}.png')
    gain = exposure.gain(lambda: [sample.pred_img])
    entry.update(exposure=str(exposure), gain=gain)
    save_output_image(entry['image'], to_display(sample.pred_img, gain))
    if save_float:
        entry['float'] = osp.join(out_dir, f'{stem}.npy')
        save_rates(entry['float'], sample.pred_img)
    if save_coarse and 'pred_coarse' in sample:
        entry['coarse'] = osp.join(out_dir, f'{stem}_coarse.png')
        save_output_image(entry['coarse'], to_display(sample.pred_coarse, gain))
    if 'pred_score' in sample and names:
        scores = sample.pred_score.float().cpu()
        top = scores.topk(min(topk, len(scores)))
        entry['topk'] = [dict(label=int(i), name=names[int(i)], score=float(s))
                         for s, i in zip(top.values, top.indices)]
    return entry
