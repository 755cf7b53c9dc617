"""Spike windows simulated on the fly from still images, and paired ``.dat``/``.png`` sets on disk.

A sample is a ``crop_size`` square view of an image watched by the integrate-and-fire simulator
for ``num_frames`` frames: :class:`spikeclip.simulation.SceneSimulator` moves the camera along a
smooth random path (translation up to about a pixel per frame, rotation, zoom, acceleration,
shake), lets foreground objects cross the view, picks a light level and draws sensor noise (dark
current, threshold mismatch, shot noise).

Reference convention: the reference image is the scene at the centre frame ``T // 2`` scaled by
the light level relative to a nominal gain, ``gt = clip(scene * gain / nominal_gain, 0, 1)``.
A pixel's expected spike rate is ``gain * scene / threshold``, so ``gt = rate / nominal_gain``
(threshold 1): the brightness of the reference is a function of the spikes, and TFP with
``gain = 1 / nominal_gain`` reproduces it in expectation. With the default ``nominal_gain=1`` the
reference is the expected spike rate per frame, which never clips. Dark current, threshold
mismatch and shot noise are sensor noise and are not part of the reference.
"""
import math
import os
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..fileio import write_dat
from ..registry import DATASETS
from ..simulation import SceneSimulator
from ..utils.atomic import atomic_open, atomic_save_image, atomic_write_json
from ..utils.errors import ConfigError
from ..utils.image import to_uint8
from ..utils.paths import ensure_output_dir
from .base import pack_item
from .default_images import SHORT_SIDE, TRAIN_FRACTION
from .image_sources import SPLITS, build_image_pool

ImageSpec = Union[str, dict, Sequence, None]


def seeded_rngs(*keys: int) -> Tuple[np.random.Generator, torch.Generator]:
    """A NumPy and a torch generator that depend only on ``keys`` (e.g. seed, split, index)."""
    seq = np.random.SeedSequence([int(k) for k in keys])
    state = int(seq.generate_state(1, dtype=np.uint64)[0])
    return np.random.default_rng(seq), torch.Generator().manual_seed(state)


def make_scene_simulator(num_frames: int, size: Tuple[int, int], motion, objects, light, noise,
                         view, nominal_gain: float, reference: str = 'rate') -> SceneSimulator:
    """:class:`SceneSimulator` with its option errors turned into :class:`ConfigError` s."""
    try:
        return SceneSimulator(num_frames, size, motion=motion, objects=objects, light=light,
                              noise=noise, view=view, nominal_gain=nominal_gain,
                              reference=reference)
    except (TypeError, ValueError) as e:
        raise ConfigError(f'simulation settings: {e}') from e


@DATASETS.register_module()
class SimulatedSpikeDataset(Dataset):
    """Spike windows of moving scenes simulated on the fly from still images.

    Item ``i`` uses image ``i % num_images`` (so classes are balanced) and random numbers seeded
    with ``(seed, split, i)``: the same index gives the same sample in every worker, and
    different seeds give different samples. With :class:`~spikeclip.datasets.EpochIndexSampler`
    (index ``epoch * num_samples + i``) every epoch draws new windows, seeded with
    ``(seed, split, i, epoch)``; a plain sampler repeats the same ``num_samples`` windows.

    Per sample the view, camera path, objects, light level and sensor noise are drawn by
    :class:`~spikeclip.simulation.SceneSimulator` (see :mod:`spikeclip.simulation.scene` for
    every option and its default); crops of classed images come from the split's part of each
    image (train: the first 70 % of the longer side, test: the rest), so train and test crops
    never overlap; ``'packaged'`` photographs and dead-leaves images are split by image (see
    :mod:`spikeclip.datasets.image_sources`).

    Args:
        images: Image source spec: None / ``'default'`` (the embedded 12-class set), a folder (one
            sub-folder per class, or none), ``'packaged'`` (photographs shipped inside the
            installed packages), ``'dead_leaves'`` / ``dict(type='dead_leaves', num_images=32,
            size=384)``, or a list of these. Defaults to None.
        split (str): ``'train'``, ``'val'`` or ``'test'``: disjoint regions of classed images,
            disjoint images otherwise. Defaults to ``'train'``.
        num_samples (int): Length of the dataset. Defaults to 1000.
        crop_size (int): Side of the square view H = W. Defaults to 64.
        num_frames (int): Frames T of a window. Defaults to 41.
        motion (dict, optional): Camera paths (:class:`~spikeclip.simulation.CameraMotionConfig`:
            ``static_prob``, ``min_speed``, ``max_speed`` (pixels per frame), ``accel_prob``,
            ``max_accel``, ``max_spin`` (degrees per frame), ``max_zoom``, ``shake_prob``,
            ``max_shake``, ``shake_periods``); None keeps every view still. Defaults to ``{}``
            (the defaults: 15 % still, speeds log-uniform in 0.02-1 px/frame).
        objects (dict, optional): Moving foreground objects
            (:class:`~spikeclip.simulation.ObjectsConfig`: ``prob``, ``max_count``,
            ``size_range``, ``min_speed``, ``max_speed``, ``max_spin``, ``contrast_range``); None
            for none. Defaults to ``{}`` (40 % of windows, up to 3 objects).
        light (dict, optional): ``mean_rate=(low, high)`` (mean spike rate per frame of the
            reference, log-uniform) or ``gain=(low, high)`` (light gain, uniform). Defaults to
            ``{}``, i.e. ``mean_rate=(0.05, 0.6)``.
        noise (dict, optional): Sensor noise ranges (``dark_current``, ``threshold_mismatch``,
            ``photons_per_frame``, ``reset_zero_prob``); None for a noise-free sensor.
            Defaults to ``{}`` (dark current 0-0.01, mismatch 0-6 %, shot noise on).
        view (dict, optional): ``scale_range``, ``flip``, ``gamma_range`` of the background;
            None shows the image as it is. Defaults to ``{}`` (scale 0.7-1.5, flips, gamma
            0.7-1.4).
        nominal_gain (float): Light gain whose reference equals the scene. Defaults to 1.0.
        reference (str): ``'rate'`` (``clip(scene * gain / nominal_gain)``, the module doc) or
            ``'scene'`` (the scene itself, whatever the light). Defaults to ``'rate'``.
        seed (int): Seed of the samples. Defaults to 0.
        on_bad_image (str): ``'skip'`` (warn) or ``'error'`` for unreadable images.
            Defaults to ``'skip'``.
        short_side (int): Default-set and folder images are resized to this short side.
            Defaults to 256.
        train_fraction (float): Share of a classed image's longer side used for training.
            Defaults to 0.7.
    """

    def __init__(self,
                 images: ImageSpec = None,
                 split: str = 'train',
                 num_samples: int = 1000,
                 crop_size: int = 64,
                 num_frames: int = 41,
                 motion: Optional[dict] = {},
                 objects: Optional[dict] = {},
                 light: Optional[dict] = {},
                 noise: Optional[dict] = {},
                 view: Optional[dict] = {},
                 nominal_gain: float = 1.0,
                 reference: str = 'rate',
                 seed: int = 0,
                 on_bad_image: str = 'skip',
                 short_side: int = SHORT_SIDE,
                 train_fraction: float = TRAIN_FRACTION):
        if split not in SPLITS:
            raise ConfigError(f'SimulatedSpikeDataset split must be "train", "val" or "test", '
                              f'got {split!r}')
        if num_samples <= 0 or crop_size <= 0 or num_frames <= 0:
            raise ConfigError(f'num_samples, crop_size and num_frames must be positive, got '
                              f'{num_samples}, {crop_size}, {num_frames}')
        if not 0 < train_fraction < 1:
            raise ConfigError(f'train_fraction must be in (0, 1), got {train_fraction}')
        if on_bad_image not in ('skip', 'error'):
            raise ConfigError(f'on_bad_image must be "skip" or "error", got {on_bad_image!r}')
        self.split = split
        self.num_samples = num_samples
        self.crop_size = crop_size
        self.num_frames = num_frames
        self.seed = seed
        self.simulator = make_scene_simulator(num_frames, (crop_size, crop_size), motion,
                                              objects, light, noise, view, nominal_gain,
                                              reference)
        self.nominal_gain = self.simulator.nominal_gain
        pool = build_image_pool(images, split, short_side, train_fraction, on_bad_image)
        self.images, self.regions, self.classes = pool
        need = self.simulator.min_image_side()
        for src, region in zip(self.images, self.regions):
            if min(region.shape) < need:
                raise ConfigError(
                    f'{src.path}: its {split} part is {region.shape[0]}x{region.shape[1]} pixels '
                    f'(image {src.image.shape[0]}x{src.image.shape[1]}, train_fraction='
                    f'{train_fraction}), too small for crop_size={crop_size} (needs {need} '
                    'pixels at the smallest view scale); lower crop_size or raise short_side')
        self.metainfo = dict(classes=self.classes, dataset_type='simulated',
                             simulation=self.simulator.config())

    takes_epoch_indices = True

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, idx: int) -> dict:
        if idx < 0:
            raise IndexError(f'index {idx} out of range for {self.num_samples} samples')
        epoch, idx = divmod(idx, self.num_samples)
        k = idx % len(self.images)
        src = self.images[k]
        keys = (self.seed, SPLITS.index(self.split), idx) + ((epoch, ) if epoch else ())
        rng, generator = seeded_rngs(*keys)
        sample = self.simulator.sample(self.regions[k], rng, generator, textures=self.regions)
        label_name = self.classes[src.label] if src.label is not None else None
        return pack_item(sample.spikes, idx, gt_img=sample.gt, label=src.label,
                         label_name=label_name, img_path=src.path, **sample.info)


def _cover(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (keeping the aspect ratio) and centre-crop ``image`` to exactly ``height x width``."""
    h, w = image.shape
    scale = max(height / h, width / w)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    if size != (w, h):
        resized = Image.fromarray(image.astype(np.float32), mode='F').resize(
            size, Image.Resampling.LANCZOS)
        image = np.clip(np.asarray(resized), 0, 1)
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[top:top + height, left:left + width], dtype=np.float32)


def simulate_folder(images: ImageSpec,
                    out_dir: str,
                    num_frames: int = 41,
                    height: int = 250,
                    width: int = 400,
                    per_image: int = 1,
                    split: Optional[str] = None,
                    motion: Optional[dict] = {},
                    objects: Optional[dict] = {},
                    light: Optional[dict] = {},
                    noise: Optional[dict] = {},
                    nominal_gain: float = 1.0,
                    reference: str = 'rate',
                    margin: float = 0.25,
                    seed: int = 0,
                    on_bad_image: str = 'skip',
                    progress: bool = True) -> List[str]:
    """Write a paired spike set ``out_dir/spike/<name>.dat`` + ``out_dir/gt/<name>.png``.

    Each image is resized to cover the frame plus a ``margin`` on every side (room for the camera
    to move) and centre-cropped; then ``per_image`` windows are simulated with the same scene
    options as :class:`SimulatedSpikeDataset` (camera path, objects, light, noise; the view itself
    is not rescaled, flipped or re-contrasted). The PNG is the 8-bit grey reference at the centre
    frame, ``clip(scene * gain / nominal_gain, 0, 1)``. Also written: ``out_dir/scenes.json``
    (what was drawn per sample: light gain, mean rate, speed, objects, noise, reset) and, where the
    images have classes, ``out_dir/classes.txt`` and ``out_dir/labels.json`` (name -> class
    name), which :class:`~spikeclip.datasets.PairedSpikeDataset` reads. Every file is written
    atomically.

    Args:
        images: Image source spec (see :class:`SimulatedSpikeDataset`).
        out_dir (str): Output folder.
        num_frames (int): Frames T. Defaults to 41.
        height (int): Frame height H. Defaults to 250.
        width (int): Frame width W. Defaults to 400.
        per_image (int): Windows per image. Defaults to 1.
        split (str, optional): ``'train'``, ``'val'`` or ``'test'`` part of the sources
            (classed images are then cut to that part); None uses whole images
            (``'packaged'`` then means every photograph). Defaults to None.
        motion, objects, light, noise: As for :class:`SimulatedSpikeDataset`; ``motion=None``
            records still scenes.
        nominal_gain (float): Light gain whose reference equals the scene. Defaults to 1.0.
        reference (str): ``'rate'`` or ``'scene'`` (see :class:`SimulatedSpikeDataset`).
            Defaults to ``'rate'``.
        margin (float): Extra border around the frame, as a share of its size. Defaults to 0.25.
        seed (int): Seed. Defaults to 0.
        on_bad_image (str): ``'skip'`` or ``'error'``. Defaults to ``'skip'``.
        progress (bool): Show a tqdm progress bar. Defaults to True.

    Returns:
        list[str]: The sample names written.
    """
    if min(num_frames, height, width, per_image) <= 0 or margin < 0:
        raise ConfigError('num_frames, height, width and per_image must be positive and '
                          f'margin >= 0, got {num_frames}, {height}, {width}, {per_image}, '
                          f'{margin}')
    ensure_output_dir(out_dir, 'output folder')
    simulator = make_scene_simulator(num_frames, (height, width), motion, objects, light, noise,
                                     None, nominal_gain, reference)
    pool = build_image_pool(images, split or 'all', None, TRAIN_FRACTION, on_bad_image)
    sources, classes = pool.images, pool.classes
    pad_h, pad_w = math.ceil(height * (1 + 2 * margin)), math.ceil(width * (1 + 2 * margin))
    canvases = [_cover(img, pad_h, pad_w) for img in pool.regions]
    from tqdm import tqdm
    names, scenes, labels = [], {}, {}
    jobs = [(i, k) for i in range(len(sources)) for k in range(per_image)]
    for i, k in tqdm(jobs, desc='simulating', unit='window', disable=not progress):
        src = sources[i]
        name = src.name if per_image == 1 else f'{src.name}_{k}'
        rng, generator = seeded_rngs(seed, i, k)
        sample = simulator.sample(canvases[i], rng, generator, textures=canvases)
        write_dat(os.path.join(out_dir, 'spike', f'{name}.dat'), sample.spikes.numpy())
        atomic_save_image(os.path.join(out_dir, 'gt', f'{name}.png'),
                          to_uint8(sample.gt))
        scenes[name] = dict(source=src.path, **sample.info)
        if src.label is not None:
            labels[name] = classes[src.label]
        names.append(name)
    atomic_write_json(os.path.join(out_dir, 'scenes.json'),
                      dict(settings=simulator.config(), samples=scenes))
    if classes:
        with atomic_open(os.path.join(out_dir, 'classes.txt'), 'w') as f:
            f.write(''.join(f'{c}\n' for c in classes))
        atomic_write_json(os.path.join(out_dir, 'labels.json'), labels)
    return names
