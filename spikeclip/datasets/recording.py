"""Random windows and crops of a folder of long, unlabelled recordings (self-supervised data)."""
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..fileio import SpikeReader, blind_spot_indices
from ..registry import DATASETS
from ..utils.errors import ConfigError, SpikeFormatError
from .base import pack_item

SPIKE_EXTENSIONS = ('.dat', '.npz')


def list_recordings(folder: str) -> List[str]:
    """``.dat`` / ``.npz`` files under ``folder`` (recursive, sorted).

    Raises:
        ConfigError: The folder is missing or holds no recordings.
    """
    if not osp.isdir(folder):
        raise ConfigError(f'recording folder {folder!r} does not exist')
    files = sorted(osp.join(root, f) for root, _, names in os.walk(folder) for f in names
                   if f.lower().endswith(SPIKE_EXTENSIONS))
    if not files:
        raise ConfigError(f'recording folder {folder!r} holds no recordings (.dat or .npz)')
    return files


@DATASETS.register_module()
class RecordingDataset(Dataset):
    """Windows of ``window + context`` frames and random crops drawn from long recordings.

    No reference image anywhere: the data of self-supervised training and validation
    (:class:`~spikeclip.models.losses.TemporalBlindSpotLoss`). Item ``i`` is drawn from the
    generator ``(seed, i)``: a recording (in proportion to the windows it holds), a start frame
    inside the ``frames`` part of it, and a ``crop_size`` crop; so items are the same for a seed
    and an index whatever the worker or the order. With :class:`EpochIndexSampler` the index
    carries the epoch, so every epoch draws new windows.

    Only the frames of one clip are read and decoded per item
    (:class:`~spikeclip.fileio.SpikeReader`); a recording is never decoded whole. (A compressed
    ``.npz`` member is decompressed from its start up to the clip, so long ``.npz`` files read
    slower than ``.dat`` ones; memory stays one clip.)

    Each item's ``inputs`` are the ``window`` centre frames of the clip; with ``context > 0`` the
    data sample's ``context_spikes`` holds the whole clip (``[window + context, h, w]``) for the
    blind-spot loss. With ``blind_spot`` the item is the blind spot's validation view instead:
    ``inputs`` the blind-spot input (:func:`~spikeclip.fileio.blind_spot_indices`) and
    ``gt_img`` the rate of the held-out frames times ``gain``: the standard image metrics then
    score the self-supervised loss on frames the model never saw (a noisy target: its MSE is the
    model's error plus the target's noise, the same for every model, so rankings hold).

    Args:
        data_root (str): Folder of ``.dat`` / ``.npz`` recordings (searched recursively).
        window (int): Frames of the model input.
        context (int): Extra frames around the window in ``context_spikes`` (the blind-spot
            loss's ``held_out + 2 * guard``). Defaults to 0.
        crop_size (int | Sequence[int], optional): Crop side (or ``(h, w)``); None keeps whole
            frames. Defaults to 96.
        num_samples (int): Items per epoch. Defaults to 1000.
        frames (tuple[float, float]): Part of each recording windows are drawn from, as
            fractions of its length: ``(0, 0.9)`` for training and ``(0.9, 1)`` for validation
            keeps the two apart. Defaults to ``(0.0, 1.0)``.
        blind_spot (dict, optional): ``dict(held_out=..., guard=..., gain=1.0)``: items for
            validation (see above); ``context`` must then be ``held_out + 2 * guard``.
        seed (int, optional): Seed of the draws; None takes the sampler's with
            :class:`EpochIndexSampler`, else 0. Defaults to None.
        height (int): Frame height of ``.dat`` files. Defaults to 250.
        width (int): Frame width of ``.dat`` files. Defaults to 400.

    Raises:
        ConfigError: Bad arguments, a missing or empty folder.
        SpikeFormatError: A malformed recording, or one too short for a window (naming the file).
    """
    takes_epoch_indices = True

    def __init__(self,
                 data_root: str,
                 window: int,
                 context: int = 0,
                 crop_size=96,
                 num_samples: int = 1000,
                 frames: Tuple[float, float] = (0.0, 1.0),
                 blind_spot: Optional[dict] = None,
                 seed: Optional[int] = None,
                 height: int = 250,
                 width: int = 400):
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f'RecordingDataset window must be a positive int, got {window!r}')
        if not isinstance(context, int) or context < 0:
            raise ConfigError(f'RecordingDataset context must be an int >= 0, got {context!r}')
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f'RecordingDataset num_samples must be a positive int, got '
                              f'{num_samples!r}')
        lo, hi = (float(f) for f in frames)
        if not 0.0 <= lo < hi <= 1.0:
            raise ConfigError(f'RecordingDataset frames must be fractions 0 <= start < stop <= 1, '
                              f'got {tuple(frames)}')
        self.blind_spot = None
        if blind_spot is not None:
            bs = dict(blind_spot)
            self.blind_spot = dict(held_out=int(bs.pop('held_out')), guard=int(bs.pop('guard')),
                                   gain=float(bs.pop('gain', 1.0)))
            if bs:
                raise ConfigError(f'RecordingDataset blind_spot takes held_out, guard, gain; got '
                                  f'also {sorted(bs)}')
            gap = self.blind_spot['held_out'] + 2 * self.blind_spot['guard']
            if context != gap:
                raise ConfigError(f'RecordingDataset blind_spot needs context = held_out + 2 * '
                                  f'guard = {gap}, got {context}')
        self.data_root = data_root
        self.window, self.context = window, context
        self.length = window + context
        self.crop = self._crop_size(crop_size)
        self.num_samples = num_samples
        self.frames = (lo, hi)
        self.seed = seed
        self.height, self.width = height, width
        self.files = list_recordings(data_root)
        self.spans = [self._span(path) for path in self.files]  # (first start, starts, H, W)
        self._weights = np.array([s[1] for s in self.spans], np.float64)
        self._weights /= self._weights.sum()

    @staticmethod
    def _crop_size(crop_size) -> Optional[Tuple[int, int]]:
        if crop_size is None:
            return None
        size = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ConfigError(f'RecordingDataset crop_size must be None, a positive int or (h, w), '
                              f'got {crop_size!r}')
        return size

    def _span(self, path: str) -> Tuple[int, int, int, int]:
        """``(first start frame, number of start frames, H, W)`` of a recording, from its header
        or size alone."""
        with SpikeReader(path, self.height, self.width) as reader:
            t, h, w = reader.shape
        first = int(np.ceil(self.frames[0] * t))
        stop = int(np.floor(self.frames[1] * t))
        starts = stop - first - self.length + 1
        if starts < 1:
            part = '' if self.frames == (0.0, 1.0) else \
                f' (frames {first}-{stop} of it: the part {self.frames})'
            raise SpikeFormatError(f'{path}: {t} frames of {h}x{w}{part} is too short for a clip '
                                   f'of {self.length} frames (window {self.window} + context '
                                   f'{self.context})')
        if self.crop is not None and (self.crop[0] > h or self.crop[1] > w):
            raise SpikeFormatError(f'{path}: frames of {h}x{w} are smaller than crop_size '
                                   f'{self.crop}')
        return first, starts, h, w

    @property
    def metainfo(self) -> dict:
        return dict(classes=None)

    def __len__(self) -> int:
        return self.num_samples

    def draw(self, idx: int) -> Tuple[int, int, int, int]:
        """``(file index, start frame, top, left)`` of item ``idx``."""
        rng = np.random.default_rng([int(self.seed or 0), int(idx)])
        k = int(rng.choice(len(self.files), p=self._weights))
        first, starts, h, w = self.spans[k]
        start = first + int(rng.integers(starts))
        ch, cw = self.crop or (h, w)
        return k, start, int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))

    def read_clip(self, idx: int) -> np.ndarray:
        """The clip of item ``idx``: ``[window + context, h, w]`` uint8."""
        return self._read(*self.draw(idx))

    def _read(self, k: int, start: int, top: int, left: int) -> np.ndarray:
        h, w = self.spans[k][2:]
        ch, cw = self.crop or (h, w)
        with SpikeReader(self.files[k], self.height, self.width) as reader:
            return np.ascontiguousarray(reader.read(start, self.length)[:, top:top + ch,
                                                                        left:left + cw])

    def __getitem__(self, idx: int) -> dict:
        k, start, top, left = self.draw(idx)
        clip = torch.from_numpy(self._read(k, start, top, left))
        meta = dict(spike_path=self.files[k], start_frame=start, crop_origin=(top, left))
        if self.blind_spot is not None:
            bs = self.blind_spot
            inputs, held = blind_spot_indices(self.length, self.window, bs['held_out'],
                                              bs['guard'])
            target = clip[torch.from_numpy(held)].float().mean(0) * bs['gain']
            return pack_item(clip[torch.from_numpy(inputs)], idx, gt_img=target, **meta)
        lo = self.context // 2
        item = pack_item(clip[lo:lo + self.window], idx, **meta)
        if self.context:
            item['data_samples'].set_field(clip, 'context_spikes')
        return item

