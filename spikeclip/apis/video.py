"""Whole recordings to high-speed video: every STEP-th frame reconstructed from its own window.

Two entry points:

* :func:`iter_frames` yields a :class:`Frame` (centre frame index, image, class probabilities)
  per reconstructed frame, for users who process them in Python::

      model = init_model('pretrained:real')
      for frame in iter_frames(model, 'rec.dat', '1000:3000', exposure='auto'):
          use(frame.index, frame.image)          # [H, W] float32 spike rates in [0, 1]
          show(frame.pixels())                   # [H, W] uint8 at the recording's one gain

* :func:`infer_recordings` (``tools/infer.py CKPT REC.dat --out-dir DIR --frames A:B[:S]``)
  writes ``DIR/<stem>/<frame>.png`` per frame, optionally an MP4, and ``DIR/predictions.json``;
  a rerun after a kill continues where it stopped.

Frame ``c`` is reconstructed from the window ``[c - w // 2, c - w // 2 + w)`` of the model's
``w = model.data_preprocessor.window`` frames, exactly as the single-image inference of
``--frame c`` does, so a frame of the video equals that image. Frames too close to the ends for a
full window are refused, naming the range that works, unless ``pad='reflect'`` (see
:mod:`spikeclip.fileio.stream`).

Streaming: the recording is read window by window (:class:`~spikeclip.fileio.WindowStream`;
``.npz`` members decompress forward once), windows are batched through the model, a reader
thread prepares the next batch while the model runs and a writer thread encodes the PNGs and
the video, with bounded queues between them, so memory does not grow with the recording.
"""
import contextlib
import hashlib
import json
import os
import os.path as osp
import queue
import re
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..engine.fast_inference import cached_prompt_features, prepare_for_inference, to_float32
from ..fileio import PAD_MODES, SpikeReader, WindowStream, valid_centres
from ..fileio.mp4 import Mp4Writer, check_fps
from ..utils.atomic import (
    FolderLock,
    atomic_open,
    atomic_write_json,
    open_append_nofollow,
    remove_stale_temporaries,
)
from ..utils.errors import ConfigError, OutputError, SpikeCLIPError, SpikeFormatError
from ..utils.exposure import Exposure, sample_positions, save_rates, to_display
from .inference import PREDICTIONS, claimed_out_dir, output_stems, save_output_image

RUN_RECORD = 'run.json'
_SCORES = '.scores'  # per-frame class probabilities, appended as frames finish
# tqdm's bar, always in frames per second (tqdm shows s/frame below one frame per second).
_BAR = '{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]'


# ---------------------------------------------------------------------------------------------
# Which frames
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameRange:
    """Centre frames ``START:STOP[:STEP]`` (STOP excluded), as ``--frames`` takes them.

    ``start``/``stop`` may be None: the first / one past the last frame that a full window fits
    around (with padding: the recording's first / last frame). ``'1000:3000:10'``, ``'1000:'``
    and ``':'`` (every frame) are valid.
    """
    start: Optional[int] = None
    stop: Optional[int] = None
    step: int = 1

    @classmethod
    def parse(cls, spec: Union[str, range, 'FrameRange', None]) -> 'FrameRange':
        """A range from ``'START:STOP[:STEP]'``, a ``range``, a FrameRange or None (every frame).

        Raises:
            ConfigError: Not of that form, negative numbers, or a step below 1.
        """
        if spec is None:
            return cls()
        if isinstance(spec, FrameRange):
            return spec
        if isinstance(spec, range):
            return cls(spec.start, spec.stop, spec.step)._checked(str(spec))
        # Signs are matched so that negative numbers get the error of their own below.
        m = re.fullmatch(r'\s*((?:-?\d+)?)\s*:\s*((?:-?\d+)?)\s*(?::\s*(-?\d+)\s*)?',
                         str(spec))
        if m is None:
            raise ConfigError(f'--frames {spec!r}: expected START:STOP[:STEP] with non-negative '
                              'integers, e.g. 1000:3000 or 1000:3000:10 (START or STOP may be '
                              'left out: ":" is every frame a full window fits around)')
        start, stop, step = (int(g) if g else None for g in m.groups())
        return cls(start, stop, 1 if step is None else step)._checked(spec)

    def _checked(self, spec) -> 'FrameRange':
        if self.step < 1:
            raise ConfigError(f'--frames {spec}: STEP must be at least 1, got {self.step}')
        if (self.start is not None and self.start < 0) or (self.stop is not None and
                                                           self.stop < 0):
            raise ConfigError(f'--frames {spec}: frame indices cannot be negative (frames count '
                              'from 0; leave START out for the first frame a full window fits '
                              'around)')
        return self

    def __str__(self) -> str:
        start = '' if self.start is None else self.start
        stop = '' if self.stop is None else self.stop
        return f'{start}:{stop}' + (f':{self.step}' if self.step != 1 else '')

    def resolve(self, reader: SpikeReader, window: int, pad: Optional[str] = None) -> range:
        """The centre frames of this range in ``reader``'s recording.

        Raises:
            SpikeFormatError: A recording shorter than the window, or a range reaching frames
                that a full window does not fit around (without ``pad``) or outside the
                recording, or an empty range; the message names the file and the valid range.
        """
        path, total = reader.path, reader.num_frames
        if total < window:
            raise SpikeFormatError(f'{path}: the model needs a window of {window} frames, but the '
                                   f'recording holds only {reader.describe()}')
        valid = valid_centres(total, window, pad)
        lo, hi = valid.start, valid.stop
        start = lo if self.start is None else self.start
        stop = hi if self.stop is None else self.stop
        if start >= stop:
            raise SpikeFormatError(f'{path}: --frames {self} selects no frame (valid: '
                                   f'{lo}:{hi})')
        if start < lo or stop > hi:
            if pad is None:
                raise SpikeFormatError(
                    f'{path}: --frames {self} reaches frames that a full {window}-frame window '
                    f'does not fit around; the {reader.describe()} allow centre frames '
                    f'{lo}:{hi} (--frames {lo}:{hi}), or pass --pad reflect to mirror the '
                    'recording at its ends')
            raise SpikeFormatError(f'{path}: --frames {self} reaches outside the recording '
                                   f'({reader.describe()}); valid: --frames 0:{total}')
        return range(start, stop, self.step)


def model_window(model: nn.Module) -> int:
    """The model's window length ``w`` (``model.data_preprocessor.window``).

    Raises:
        ConfigError: The model takes whole recordings (no fixed window).
    """
    window = getattr(getattr(model, 'data_preprocessor', None), 'window', None)
    if window is None:
        raise ConfigError('the model has no fixed window (model.data_preprocessor.window is '
                          'None), so it cannot reconstruct frame by frame; set one, e.g. '
                          '--cfg-options model.data_preprocessor.window=41')
    return int(window)


# ---------------------------------------------------------------------------------------------
# Running the model on batches of windows
# ---------------------------------------------------------------------------------------------
@dataclass
class Frame:
    """One reconstructed frame.

    Attributes:
        index (int): The centre frame in the recording.
        image (np.ndarray): ``[H, W]`` float32 model output in [0, 1] (spike rates: the refined
            image of stage-3 and combined models); :meth:`pixels` gives the PNG's pixels.
        coarse (np.ndarray, optional): ``[H, W]`` stage-1 image, where the model has one.
        scores (np.ndarray, optional): ``[K]`` float32 class probabilities, where the model
            classifies (``model.class_names`` name them).
        gain (float): The recording's display gain (:mod:`spikeclip.utils.exposure`), the same
            for every frame of it; :meth:`pixels` applies it.
    """
    index: int
    image: np.ndarray
    coarse: Optional[np.ndarray] = None
    scores: Optional[np.ndarray] = None
    gain: float = 1.0

    def pixels(self, coarse: bool = False) -> np.ndarray:
        """``[H, W]`` uint8: the image (or the stage-1 image) at the display gain, as in the
        PNG that :func:`infer_recordings` writes."""
        return to_display(self.coarse if coarse else self.image, self.gain)


_END = object()


class _Engine:
    """A model prepared for inference (settings of :func:`prepare_for_inference`, prompt features
    once) that reconstructs groups of centre frames from a :class:`WindowStream`."""

    def __init__(self, model: nn.Module, amp: str = 'auto',
                 channels_last: Union[str, bool] = 'auto'):
        self.model, self.ctx = prepare_for_inference(model, amp=amp, channels_last=channels_last)
        self.window = model_window(self.model)
        self.device = next((p.device for p in self.model.parameters()), torch.device('cpu'))
        # The class names where the model classifies (a CLIP and names; a stage-1 model may
        # carry names without a CLIP).
        self.names = list(getattr(self.model, 'class_names', []) or []) \
            if getattr(self.model, 'clip', None) is not None else []
        self._stack = contextlib.ExitStack()

    def settings(self, batch_size: Optional[int], overlap: Optional[bool]) -> Tuple[int, bool]:
        """``(batch_size, overlap)`` with the device's defaults where None."""
        return (batch_size or default_batch_size(self.device),
                default_overlap(self.device) if overlap is None else overlap)

    def __enter__(self) -> '_Engine':
        with self.ctx:  # prompt features in the precision the uncached path would have
            self._stack.enter_context(cached_prompt_features(self.model))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def run(self, path: str, centres: Sequence[int], windows: np.ndarray) -> List[Frame]:
        """Frames of ``centres`` from their windows ``[B, w, H, W]`` uint8."""
        with self.ctx:
            data = self.model.data_preprocessor(dict(inputs=torch.from_numpy(windows),
                                                     data_samples=None))
            samples = to_float32(self.model(data['inputs'], None, mode='predict'))
        frames = []
        for c, sample in zip(centres, samples):
            for key in ('pred_img', 'pred_coarse', 'pred_score'):
                if key in sample and not torch.isfinite(getattr(sample, key)).all():
                    raise SpikeCLIPError(f'{path}: frame {c}: the model output ({key}) holds NaN '
                                         'or Inf values')
            image = np.ascontiguousarray(sample.pred_img.reshape(sample.pred_img.shape[-2:])
                                         .cpu().numpy())
            coarse = scores = None
            if 'pred_coarse' in sample:
                coarse = np.ascontiguousarray(
                    sample.pred_coarse.reshape(sample.pred_coarse.shape[-2:]).cpu().numpy())
            if self.names:
                if 'pred_score' not in sample:
                    raise SpikeCLIPError(f'{path}: frame {c}: the {type(self.model).__name__} '
                                         'has class names and a CLIP but gave no class scores')
                scores = sample.pred_score.float().cpu().numpy()
            frames.append(Frame(int(c), image, coarse, scores))
        return frames

    def exposure_gain(self, exposure: Exposure, reader: SpikeReader, centres: Sequence[int],
                      pad: Optional[str] = None) -> float:
        """The one display gain of a recording's ``centres``: for ``'auto'``, from the images
        of a few frames evenly spaced over them (:func:`~spikeclip.utils.exposure.sample_positions`,
        reconstructed here one by one, in a stream of their own)."""
        def images():
            stream = WindowStream(reader, self.window, pad)
            for i in sample_positions(len(centres)):
                c = centres[i]
                yield self.run(reader.path, [c], stream.get(c)[None].copy())[0].image
        return exposure.gain(images)

    def groups(self, reader: SpikeReader, centres: Sequence[int], batch_size: int,
               pad: Optional[str] = None, skip: Optional[Callable[[int], bool]] = None,
               prefetch: bool = True) -> Iterator[Tuple[List[int], Optional[List[Frame]]]]:
        """``(group, frames)`` for consecutive groups of ``batch_size`` centres, in order;
        ``frames`` is None for a group ``skip(i)`` (its position) says is done already.

        With ``prefetch``, a reader thread reads and batches the next group's windows while the
        model runs (a queue of one batch).
        """
        stream = WindowStream(reader, self.window, pad)

        def batches():
            for i, first in enumerate(range(0, len(centres), batch_size)):
                group = list(centres[first:first + batch_size])
                if skip is not None and skip(i):
                    yield group, None
                else:  # copies each window out of the stream's buffer
                    yield group, np.stack([stream.get(c) for c in group])

        source = _prefetched(batches()) if prefetch else batches()
        try:
            for group, windows in source:
                yield group, None if windows is None else self.run(reader.path, group, windows)
        finally:
            if hasattr(source, 'close'):
                source.close()


def _prefetched(items: Iterator, depth: int = 1) -> Iterator:
    """``items``, produced by a background thread at most ``depth`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:  # False once the consumer has stopped
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as e:  # handed to the consumer
            put((_END, e))

    thread = threading.Thread(target=produce, name='spikeclip-window-reader', daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        thread.join(timeout=10)


def iter_frames(model: nn.Module, path: str, frames: Union[str, range, FrameRange, None] = None,
                *, batch_size: Optional[int] = None, pad: Optional[str] = None,
                height: int = 250, width: int = 400, amp: str = 'auto',
                channels_last: Union[str, bool] = 'auto',
                prefetch: Optional[bool] = None,
                exposure: Union[str, float, Exposure] = 'linear',
                sensor: Optional[str] = None) -> Iterator[Frame]:
    """Reconstruct every STEP-th frame of a recording, streamed: yields a :class:`Frame` each.

    The recording is read window by window (never whole), ``batch_size`` windows go through the
    model at once, and a reader thread prepares the next batch meanwhile (``prefetch``). The
    model runs with :func:`~spikeclip.engine.fast_inference.prepare_for_inference` settings
    (``amp``/``channels_last``; ``amp='none'`` for exact fp32), set on the model in place.

    Args:
        model (nn.Module): A stage or combined model (:func:`~spikeclip.apis.init_model`).
        path (str): A ``.dat`` or ``.npz`` recording.
        frames (str | range | FrameRange, optional): Centre frames ``'START:STOP[:STEP]'``;
            None: every frame a full window fits around.
        batch_size (int, optional): Windows per model call; None: 4 on a GPU, 1 on a CPU
            (:func:`default_batch_size`).
        pad (str, optional): ``'reflect'``: also frames near the ends (the recording mirrored
            there). Defaults to None (such frames are an error).
        height (int): ``.dat`` frame height. Defaults to 250.
        width (int): ``.dat`` frame width. Defaults to 400.
        prefetch (bool, optional): Read the next batch in a thread of its own; None: on a GPU
            only (:func:`default_overlap`).
        exposure (str | float | Exposure): The display gain each :class:`Frame` carries (its
            ``image`` stays the linear rate): ``'linear'`` (1.0, the default), ``'auto'`` (one
            gain for the whole range, from a few frames spread over it, reconstructed first) or
            a fixed gain.
        sensor (str, optional): A ``.dat`` sensor preset (e.g. ``'vidar-250x416'``,
            :mod:`spikeclip.fileio.sensors`) instead of ``height``/``width``.

    Yields:
        Frame: In frame order.

    Raises:
        SpikeFormatError: A bad file, or a range the recording cannot give (at the first
            ``next``), naming the file and the valid range.
        ConfigError: Bad arguments, or a model without a fixed window.
    """
    _check_batch(batch_size, pad)
    frame_range = FrameRange.parse(frames)
    exposure = Exposure.parse(exposure)
    engine = _Engine(model, amp, channels_last)
    batch_size, prefetch = engine.settings(batch_size, prefetch)
    with SpikeReader(path, height, width, sensor) as reader, engine:
        centres = frame_range.resolve(reader, engine.window, pad)
        gain = engine.exposure_gain(exposure, reader, centres, pad)
        for _, batch in engine.groups(reader, centres, batch_size, pad, prefetch=prefetch):
            for frame in batch:
                frame.gain = gain
                yield frame


def default_batch_size(device: torch.device) -> int:
    """Windows per model call where none is given: 4 on a GPU; 1 on a CPU, where a batch of
    250x400 windows gains nothing over single windows (README, "Recordings to high-speed video")."""
    return 4 if torch.device(device).type == 'cuda' else 1


def default_overlap(device: torch.device) -> bool:
    """Whether reading and writing run in threads of their own beside the model where not said:
    on a GPU; not on a CPU, where they take cores from the model's threads."""
    return torch.device(device).type == 'cuda'


def _check_batch(batch_size: Optional[int], pad: Optional[str]) -> None:
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f'--batch-size must be a positive integer, got {batch_size!r}')
    if pad is not None and pad not in PAD_MODES:
        raise ConfigError(f'--pad must be one of {PAD_MODES}, got {pad!r}')


# ---------------------------------------------------------------------------------------------
# Writing a recording's frames: PNG folder, video, per-frame scores, resumable
# ---------------------------------------------------------------------------------------------
def model_fingerprint(model: nn.Module) -> str:
    """SHA-1 of the model's config (``export_cfg``) and weights (the state dict: what changes
    the images), to tell whether frames on disk were made by this model."""
    digest = hashlib.sha1()
    cfg = model.export_cfg() if hasattr(model, 'export_cfg') else type(model).__name__
    digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, value in sorted(model.state_dict().items()):
        if torch.is_tensor(value):
            t = value.detach().cpu().contiguous()
            digest.update(f'{name}:{t.dtype}:{tuple(t.shape)}'.encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _ScoreJournal:
    """Class probabilities per finished frame, appended as fixed-size binary records
    (``frame`` int64, ``probs`` float32[K]) to ``<folder>/.scores``; a record cut short by a
    kill is dropped when the journal is opened again. The last record of a frame counts."""

    def __init__(self, folder: str, num_classes: int):
        self.path = osp.join(folder, _SCORES)
        self.dtype = np.dtype([('frame', '<i8'), ('probs', '<f4', (num_classes, ))])
        self._file = open_append_nofollow(self.path)  # a planted symbolic link is refused
        size = os.fstat(self._file.fileno()).st_size
        if size % self.dtype.itemsize:
            self._file.truncate(size - size % self.dtype.itemsize)

    def append(self, frame: int, probs: np.ndarray) -> None:
        record = np.zeros(1, self.dtype)
        record['frame'], record['probs'] = frame, probs
        self._file.write(record.tobytes())
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def load(folder: str, num_classes: int) -> Tuple[Dict[int, int], Optional[np.ndarray]]:
        """``(rows, records)``: the row of each frame's last record, and the records (memory-
        mapped, read-only; None when there are none). A record cut short is ignored."""
        dtype = np.dtype([('frame', '<i8'), ('probs', '<f4', (num_classes, ))])
        path = osp.join(folder, _SCORES)
        if osp.islink(path):  # never read another file's bytes into predictions.json
            raise OutputError(f'{path}: is a symbolic link, which is not followed; remove it')
        count = (osp.getsize(path) if osp.exists(path) else 0) // dtype.itemsize
        if count == 0:
            return {}, None
        records = np.memmap(path, dtype=dtype, mode='r', shape=(count, ))
        return {int(f): i for i, f in enumerate(records['frame'])}, records


class _Lazy:
    """A JSON list produced on demand when predictions.json is written (never held whole)."""

    def __init__(self, make: Callable[[], Iterator[dict]]):
        self.make = make


def write_predictions(path: str, entries: Sequence[dict]) -> None:
    """``json.dump(entries, indent=2)`` atomically, with each :class:`_Lazy` value written as a
    list of one-line items streamed from its generator.

    Raises:
        OutputError: The file cannot be written (the previous one stays).
    """
    try:
        _write_predictions(path, entries)
    except OSError as e:
        raise OutputError(f'{path}: cannot be written ({e.strerror or e}); the frames written '
                          'are kept: free space and rerun the same command to continue') from e


def _write_predictions(path: str, entries: Sequence[dict]) -> None:
    with atomic_open(path, 'w') as f:
        f.write('[')
        for i, entry in enumerate(entries):
            plain = {k: v for k, v in entry.items() if not isinstance(v, _Lazy)}
            text = json.dumps(plain, indent=2, allow_nan=False).replace('\n', '\n  ')
            f.write(('\n  ' if i == 0 else ',\n  ') + text[:-1].rstrip())
            for key, value in entry.items():
                if isinstance(value, _Lazy):
                    f.write(f',\n    {json.dumps(key)}: [')
                    for j, item in enumerate(value.make()):
                        f.write(('\n      ' if j == 0 else ',\n      ') +
                                json.dumps(item, allow_nan=False))
                    f.write('\n    ]')
            f.write('\n  }')
        f.write('\n]\n' if entries else ']\n')


class _Writer:
    """A thread that writes finished frames in order (PNGs, score journal, video) while the
    model computes the next batch; a queue of at most ``depth`` items keeps memory bounded.
    Without ``threaded``, :meth:`put` writes at once."""

    def __init__(self, write: Callable[[object], None], depth: int = 8, threaded: bool = True):
        self._write, self._q = write, queue.Queue(maxsize=depth)
        self._error: Optional[BaseException] = None
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name='spikeclip-frame-writer',
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is _END:
                return
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as e:
                    self._error = e

    def put(self, item) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._write(item)
        else:
            self._q.put(item)

    def close(self) -> None:
        """Write what is queued, stop, and raise the first write error."""
        if self._thread is not None:
            self._q.put(_END)
            self._thread.join()
        if self._error is not None:
            raise self._error


class _RecordingJob:
    """Reconstructs one recording into ``<out_dir>/<stem>/`` (see :func:`infer_recordings`)."""

    def __init__(self, engine: _Engine, path: str, folder: str, frame_range: FrameRange,
                 video: Optional[str], fps: float, batch_size: int, pad: Optional[str],
                 height: int, width: int, save_coarse: bool, topk: int, progress: bool,
                 overlap: bool = True, exposure: Exposure = Exposure('linear'),
                 save_float: bool = False, sensor: Optional[str] = None):
        self.engine, self.path, self.folder = engine, path, folder
        self.overlap = overlap
        self.exposure, self.save_float, self.gain = exposure, save_float, 1.0
        self.sensor = sensor
        self.frame_range, self.video, self.fps = frame_range, video, fps
        self.batch_size, self.pad, self.height, self.width = batch_size, pad, height, width
        self.save_coarse, self.topk, self.progress = save_coarse, topk, progress
        self.names = engine.names
        self.centres: range = range(0)
        self.digits = 6
        self.started = False  # frames may have been written into the folder

    def image_path(self, c: int, kind: str = '', ext: str = '.png') -> str:
        return osp.join(self.folder, f'{c:0{self.digits}d}{kind}{ext}')

    def run(self) -> dict:
        """Reconstruct; the complete predictions.json entry (:meth:`entry`)."""
        with SpikeReader(self.path, self.height, self.width, self.sensor) as reader:
            self.centres = self.frame_range.resolve(reader, self.engine.window, self.pad)
            self.digits = max(6, len(str(reader.num_frames - 1)))
            if osp.islink(self.folder):  # frames are never written through a planted link
                raise OutputError(f'{self.folder} is a symbolic link, which is not followed; '
                                  'remove it or choose another --out-dir')
            try:
                os.makedirs(self.folder, exist_ok=True)
            except OSError as e:
                raise SpikeCLIPError(f'{self.folder} cannot be created: {e.strerror}') from e
            with FolderLock(self.folder):
                remove_stale_temporaries(self.folder)  # ours alone, under the lock
                if self.video:
                    remove_stale_temporaries(osp.dirname(osp.abspath(self.video)),
                                             destination=self.video)
                self._check_run_record(reader)
                self.started = True
                self._reconstruct(reader)
        return self.entry(complete=True)

    def _run_record(self, reader: SpikeReader) -> dict:
        st = os.stat(self.path)
        return dict(input=osp.abspath(self.path), input_bytes=st.st_size,
                    input_mtime_ns=st.st_mtime_ns, height=reader.height, width=reader.width,
                    recording_frames=reader.num_frames, window=self.engine.window, pad=self.pad,
                    amp=self.engine.ctx.amp, model=type(self.engine.model).__name__,
                    model_fingerprint=model_fingerprint(self.engine.model),
                    num_classes=len(self.names), exposure=str(self.exposure))

    def _check_run_record(self, reader: SpikeReader) -> None:
        """Frames already in the folder are reused only if this run would make the same ones;
        sets the display gain: the recorded one when resuming (so the frames of one folder share
        it), else chosen now and recorded."""
        record = self._run_record(reader)
        path = osp.join(self.folder, RUN_RECORD)
        if osp.exists(path):
            try:
                with open(path) as f:
                    old = json.load(f)
                if not isinstance(old, dict):
                    raise ValueError(f'it holds a JSON {type(old).__name__}, not a run record')
            except (OSError, ValueError) as e:
                raise SpikeCLIPError(f'{path} is unreadable ({e}); remove the folder or choose '
                                     'another --out-dir') from e
            differ = sorted(k for k in (set(record) | set(old)) - {'gain'}
                            if record.get(k) != old.get(k))
            if differ:
                raise SpikeCLIPError(
                    f'{self.folder} holds frames of another run ({", ".join(differ)} differ from '
                    f'this one, see {path}); remove that folder or choose another --out-dir')
            gain = old.get('gain')
            if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0 \
                    or not np.isfinite(gain):
                raise SpikeCLIPError(f'{path}: "gain" is {gain!r}, not a positive number; remove '
                                     'the folder or choose another --out-dir')
            self.gain = float(gain)
        elif any(name.endswith('.png') for name in os.listdir(self.folder)):
            raise SpikeCLIPError(f'{self.folder} holds PNG files but no {RUN_RECORD}, so it is '
                                 'unknown what made them; remove them or choose another '
                                 '--out-dir')
        else:
            self.gain = self.engine.exposure_gain(self.exposure, reader, self.centres, self.pad)
            atomic_write_json(path, dict(record, gain=self.gain))

    def _done(self, scored: Optional[Dict[int, int]] = None) -> Callable[[int], bool]:
        """``done(frame)``: its PNGs and (when classifying) its probabilities are on disk
        (``scored``: the journal's frames, read here if None)."""
        present = set(os.listdir(self.folder)) if osp.isdir(self.folder) else set()
        if self.names and scored is None:
            scored = _ScoreJournal.load(self.folder, len(self.names))[0]

        def done(c: int) -> bool:
            if osp.basename(self.image_path(c)) not in present:
                return False
            if self.save_coarse and osp.basename(self.image_path(c, '_coarse')) not in present:
                return False
            if self.save_float and osp.basename(self.image_path(c, ext='.npy')) not in present:
                return False
            return not self.names or c in scored

        return done

    def _reconstruct(self, reader: SpikeReader) -> None:
        from tqdm import tqdm
        done, b, centres = self._done(), self.batch_size, self.centres
        groups = (centres[i:i + b] for i in range(0, len(centres), b))
        # A group counts as done only whole, so a rerun batches exactly as an unbroken run.
        skipped = {i for i, g in enumerate(groups) if all(done(c) for c in g)}
        journal = _ScoreJournal(self.folder, len(self.names)) if self.names else None
        mp4 = Mp4Writer(self.video, reader.height, reader.width, self.fps) if self.video else None
        bar = tqdm(total=len(centres), initial=sum(len(centres[i * b:(i + 1) * b])
                                                   for i in skipped),
                   unit='frame', desc=osp.basename(self.path), disable=not self.progress,
                   dynamic_ncols=True, smoothing=0.1, mininterval=0.5, bar_format=_BAR)

        def write(item: Union[int, Frame]) -> None:
            if isinstance(item, int):  # a frame an earlier run wrote: only the video needs it
                from PIL import Image
                with Image.open(self.image_path(item)) as im:
                    mp4.write(np.asarray(im))
                return
            pixels = to_display(item.image, self.gain)
            save_output_image(self.image_path(item.index), pixels)
            if self.save_float:
                save_rates(self.image_path(item.index, ext='.npy'), item.image)
            if self.save_coarse and item.coarse is not None:
                save_output_image(self.image_path(item.index, '_coarse'),
                                  to_display(item.coarse, self.gain))
            if journal is not None:  # after the PNGs: a frame with a record is complete
                try:
                    journal.append(item.index, item.scores)
                except OSError as e:
                    raise OutputError(f'{journal.path}: cannot be written ({e.strerror or e}); '
                                      'the run stops here') from e
            if mp4 is not None:
                mp4.write(pixels)
            bar.update(1)

        writer = _Writer(write, threaded=self.overlap)
        try:
            for group, frames in self.engine.groups(reader, centres, b, self.pad,
                                                    skip=skipped.__contains__,
                                                    prefetch=self.overlap):
                for item in frames if frames is not None else group if mp4 else ():
                    writer.put(item)
            writer.close()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.close()  # the frames already computed are still written
            if mp4 is not None:
                mp4.abort()
            raise
        finally:
            bar.close()
            if journal is not None:
                journal.close()
        if mp4 is not None:
            mp4.commit()

    def entry(self, complete: bool) -> dict:
        """The predictions.json entry: what was written, the clip's label and, per frame, its
        image(s) and top-k classes (only the frames on disk when not ``complete``); the
        per-frame list is read from disk whenever the file is written, never held."""
        c = self.centres
        entry = dict(input=self.path, folder=self.folder,
                     range=dict(start=c.start, stop=c.stop, step=c.step), count=len(c),
                     window=self.engine.window, pad=self.pad, exposure=str(self.exposure),
                     gain=self.gain, complete=complete)
        if self.video and complete:
            entry.update(video=self.video, fps=self.fps)
        if self.names:
            entry['clip'] = self._clip_label()
        entry['per_frame'] = _Lazy(self._per_frame)
        return entry

    def _scored_frames(self) -> Iterator[Tuple[int, Optional[np.ndarray]]]:
        """``(frame, probs or None)`` of the finished frames, in order."""
        rows, records = (_ScoreJournal.load(self.folder, len(self.names)) if self.names
                         else ({}, None))
        done = self._done(rows)
        for c in self.centres:
            if done(c):
                yield c, None if records is None else records['probs'][rows[c]]

    def _per_frame(self) -> Iterator[dict]:
        for c, probs in self._scored_frames():
            item = dict(frame=c, image=self.image_path(c))
            if self.save_float:
                item['float'] = self.image_path(c, ext='.npy')
            if self.save_coarse:
                item['coarse'] = self.image_path(c, '_coarse')
            if probs is not None:
                item['topk'] = self._topk(probs)
            yield item

    def _topk(self, probs: np.ndarray) -> List[dict]:
        order = np.argsort(-probs, kind='stable')[:min(self.topk, len(probs))]
        return [dict(label=int(i), name=self.names[int(i)], score=float(probs[i])) for i in order]

    def _clip_label(self) -> Optional[dict]:
        """Top-k of the per-frame class probabilities averaged over the clip (a label that does
        not flicker with per-frame noise), and the share of frames whose own top-1 agrees."""
        total = np.zeros(len(self.names), np.float64)
        top1 = np.zeros(len(self.names), np.int64)  # frames per top-1 class
        for _, probs in self._scored_frames():
            total += probs
            top1[int(np.argmax(probs))] += 1
        n = int(top1.sum())
        if n == 0:
            return None
        mean = total / n
        return dict(topk=self._topk(mean), agreement=float(top1[int(np.argmax(mean))] / n),
                    frames=n, smoothing='mean of the per-frame class probabilities')


def infer_recordings(model: nn.Module, inputs: Sequence[str], out_dir: str,
                     frames: Union[str, range, FrameRange, None] = None, *,
                     video: Union[bool, str, None] = None, fps: float = 30.0,
                     batch_size: Optional[int] = None, pad: Optional[str] = None,
                     height: int = 250, width: int = 400, save_coarse: bool = False,
                     topk: int = 5, amp: str = 'auto', channels_last: Union[str, bool] = 'auto',
                     skip_errors: bool = False, progress: bool = False,
                     overlap: Optional[bool] = None,
                     exposure: Union[str, float, Exposure] = 'auto',
                     save_float: bool = False, sensor: Optional[str] = None) -> List[Dict]:
    """Reconstruct every STEP-th frame of each recording into a PNG folder (and a video).

    Per input (stems reserved for all inputs first, :func:`output_stems`):

    * ``out_dir/<stem>/<frame>.png``: frame indices zero-padded to six digits (more for longer
      recordings), 8-bit, the same pixels as single-image inference of that centre frame;
      ``<frame>_coarse.png`` with ``save_coarse``;
    * ``out_dir/<stem>/<frame>.npy`` with ``save_float``: the linear rates, float32;
    * ``out_dir/<stem>/run.json``: what made the frames (input, model fingerprint, window,
      padding, precision, exposure) and the display ``gain``; a rerun reuses the frames only
      where it matches, and then their recorded gain;
    * with ``video``: an H.264 MP4 (``True``: ``out_dir/<stem>.mp4``; a path: that file, one
      input only) at ``fps``, assembled atomically (written to a hidden temporary, renamed);
    * an entry in ``out_dir/predictions.json``: the range, the folder, the video, per frame its
      image and (where the model classifies) its top-``topk`` classes, and ``clip``: the top-k
      of the class probabilities averaged over the clip, with the share of frames that agree.

    Resumable: PNGs are written atomically, and a frame counts as done once its PNGs and (when
    classifying) its probabilities are on disk; rerunning the same call after a kill or Ctrl-C
    skips the finished batches and gives the same files as an unbroken run. ``out_dir`` and each
    frame folder are locked while a run writes them, and a file under a name the run writes is
    replaced only where an earlier run wrote it
    (:func:`~spikeclip.apis.inference.check_replaceable`).
    A failed write (a full disk, an encoder that fails) ends the run; ``predictions.json`` then
    lists the frames written.

    Args:
        frames (str | range | FrameRange, optional): ``'START:STOP[:STEP]'``; None: every frame
            a full window fits around.
        batch_size (int, optional): Windows per model call; None: 4 on a GPU, 1 on a CPU.
        pad (str, optional): ``'reflect'`` to allow frames near the ends. Defaults to None.
        skip_errors (bool): A bad input gets an ``error`` entry and the next one is processed.
        progress (bool): A progress bar per input on stderr (frames, frames/s, time left).
        overlap (bool, optional): Read the next batch and write the finished frames in threads
            of their own while the model runs; None: on a GPU only (:func:`default_overlap`).
        exposure (str | float | Exposure): The PNG/MP4 brightness, one gain per recording:
            ``'auto'`` (default; from a few frames evenly spaced over the range), ``'linear'``
            (the rate itself) or a fixed gain (:mod:`spikeclip.utils.exposure`).
        save_float (bool): Also write each frame's linear rates as ``<frame>.npy`` float32.

    Other args as :func:`iter_frames` and :func:`~spikeclip.apis.infer_files`.

    Returns:
        list[dict]: The entries of ``predictions.json`` (``per_frame`` as a lazy object; read
        the file for the lists).

    Raises:
        SpikeCLIPError: A bad input (without ``skip_errors``) or range, an unusable ``out_dir``,
            or a frame folder holding frames of another run.
        OutputError: A failed write, another run in ``out_dir``, a file not ours under an output
            name, or a ``video`` path that is a folder (checked before any frame).
        ConfigError: Bad arguments.
    """
    _check_batch(batch_size, pad)
    frame_range = FrameRange.parse(frames)
    exposure = Exposure.parse(exposure)
    if isinstance(video, str):
        if not video.lower().endswith('.mp4'):
            raise ConfigError(f'--video {video}: the video file must end with .mp4')
        if len(inputs) != 1:
            raise ConfigError(f'--video {video} names one file but there are {len(inputs)} '
                              'inputs; give --video without a file name for '
                              '<out-dir>/<stem>.mp4 per input')
    fps = check_fps(fps)
    stems = output_stems(inputs, suffixes=('', '.mp4') if video is True else ('', ))
    targets = [video if isinstance(video, str) else
               osp.join(out_dir, f'{stem}.mp4') if video else None for stem in stems]
    for target in targets:  # checked before any frame is computed
        if target is not None and osp.isdir(target):
            raise OutputError(f'--video {target} is an existing folder; name a .mp4 file')
    with claimed_out_dir(out_dir, [t for t in targets if t is not None]):
        engine = _Engine(model, amp, channels_last)
        batch_size, overlap = engine.settings(batch_size, overlap)
        entries: List[dict] = []
        predictions = osp.join(out_dir, PREDICTIONS)
        write_predictions(predictions, entries)  # an older file never stays beside new frames
        try:
            with engine:
                for path, stem, target in zip(inputs, stems, targets):
                    job = _RecordingJob(engine, path, osp.join(out_dir, stem), frame_range,
                                        target, fps, batch_size, pad, height, width,
                                        save_coarse, topk, progress, overlap, exposure,
                                        save_float, sensor)
                    try:
                        entries.append(job.run())
                    except BaseException as e:
                        # The frames written so far are listed (complete: false), the error too.
                        entry = job.entry(complete=False) if job.started else dict(input=path)
                        if isinstance(e, SpikeCLIPError):
                            entry['error'] = str(e)
                        entries.append(entry)
                        if not (skip_errors and isinstance(e, SpikeCLIPError)
                                and not isinstance(e, OutputError)):
                            raise
                    write_predictions(predictions, entries)
        finally:
            write_predictions(predictions, entries)
    return entries
