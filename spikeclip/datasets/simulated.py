"""Spike windows simulated on the fly from still images, and paired ``.dat``/``.png`` sets on disk.

A sample is a ``crop_size`` square of a grey image watched by the integrate-and-fire simulator
(:mod:`spikeclip.simulation`) for ``num_frames`` frames at a random light level ``gain``; with
probability ``motion_prob`` the crop slides across the image at up to ``max_speed`` pixels per
frame (:func:`spikeclip.simulation.sliding_crops`).

Reference convention: the reference image is the scene at the centre frame ``T // 2`` scaled by
the light level relative to a nominal gain, ``gt = clip(scene * gain / nominal_gain, 0, 1)``.
A pixel's expected spike rate is ``gain * scene / threshold``, so ``gt = rate / nominal_gain``
(threshold 1): the brightness of the reference is a function of the spikes, and a calibrated TFP
(``gain = 1 / nominal_gain``, 2.0 by default) reproduces it in expectation. Dark current,
threshold mismatch and shot noise are sensor noise and are not part of the reference.
"""
import os
import warnings
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..fileio import write_dat
from ..registry import DATASETS
from ..simulation import SpikeCameraModel, simulate_spikes, sliding_crops
from ..utils.atomic import atomic_open, atomic_save_image, atomic_write_json
from ..utils.errors import ConfigError, SpikeCLIPError
from .base import pack_item
from .default_images import DEFAULT_IMAGES, SHORT_SIDE, TRAIN_FRACTION, split_region, to_grey

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
NOISE_KEYS = ('dark_current', 'threshold_mismatch', 'photons_per_frame')
DEFAULT_NOISE = dict(dark_current=0.005, threshold_mismatch=0.03, photons_per_frame=None)


class ImageReadError(SpikeCLIPError, ValueError):
    """An image file could not be decoded."""


class SourceImage(NamedTuple):
    """A grey source image and its class."""
    name: str  # unique sample name, e.g. 'cat' or 'dogs_0001'
    path: str  # file path, or 'skimage.data.<loader>' for the default set
    label: Optional[int]
    image: np.ndarray  # [H, W] float32 in [0, 1]


def scan_image_folder(image_dir: str) -> Tuple[List[Tuple[str, Optional[str]]], Tuple[str, ...]]:
    """Image files of a folder and their classes (sub-folder names).

    Either every image sits in a class sub-folder (``image_dir/<class>/<image>``), or all sit
    directly in ``image_dir`` (no classes).

    Returns:
        tuple: ``[(path, class name or None), ...]`` sorted, and the sorted class names.

    Raises:
        ConfigError: Missing folder, no images, or images both at the top and in sub-folders.
    """
    if not os.path.isdir(image_dir):
        raise ConfigError(f'{image_dir}: no such image folder')

    def images_in(folder):
        return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                      if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.')
                      and os.path.isfile(os.path.join(folder, f)))

    top = images_in(image_dir)
    subdirs = sorted(d for d in os.listdir(image_dir)
                     if os.path.isdir(os.path.join(image_dir, d)) and not d.startswith('.'))
    per_class = {d: images_in(os.path.join(image_dir, d)) for d in subdirs}
    classes = tuple(d for d in subdirs if per_class[d])
    if classes and top:
        raise ConfigError(f'{image_dir}: holds images both at its top level ({len(top)}, e.g. '
                          f'{os.path.basename(top[0])}) and in class sub-folders {list(classes)}; '
                          'put every image in a class sub-folder, or none')
    if not classes and not top:
        raise ConfigError(f'{image_dir}: no images found (looked for {", ".join(IMAGE_EXTENSIONS)} '
                          'files in the folder and in its sub-folders)')
    if not classes:
        return [(p, None) for p in top], ()
    return [(p, c) for c in classes for p in per_class[c]], classes


def load_source_images(image_dir: Optional[str],
                       short_side: Optional[int] = SHORT_SIDE,
                       on_bad_image: str = 'skip') -> Tuple[List[SourceImage], Tuple[str, ...]]:
    """Load and grey-convert the images of a folder, or the embedded default set.

    Args:
        image_dir (str, optional): Image folder (class = sub-folder); None or ``'default'`` for
            the embedded scikit-image set.
        short_side (int, optional): Resize so the short side has this many pixels; None keeps
            the size. Defaults to 256.
        on_bad_image (str): ``'skip'`` (warn, naming the file) or ``'error'`` for files that do
            not decode. Defaults to ``'skip'``.

    Returns:
        tuple: The images and the class names.

    Raises:
        ImageReadError: An unreadable file with ``on_bad_image='error'``.
        ConfigError: Bad folder layout, or no readable image at all.
    """
    if on_bad_image not in ('skip', 'error'):
        raise ConfigError(f'on_bad_image must be "skip" or "error", got {on_bad_image!r}')
    if image_dir is None or image_dir == 'default':
        from .default_images import load_default_images
        images = load_default_images(short_side)
        classes = tuple(name for name, _ in images)
        loaders = dict(DEFAULT_IMAGES)
        return [SourceImage(name, f'skimage.data.{loaders[name]}', i, img)
                for i, (name, img) in enumerate(images)], classes
    files, classes = scan_image_folder(image_dir)
    images, bad = [], []
    for path, cls in files:
        try:
            with Image.open(path) as im:
                grey = to_grey(im, short_side)
        except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
            msg = f'{path}: not a readable image ({type(e).__name__}: {e})'
            if on_bad_image == 'error':
                raise ImageReadError(msg) from e
            warnings.warn(msg + '; skipped')
            bad.append(path)
            continue
        stem = os.path.splitext(os.path.basename(path))[0]
        name = f'{cls}_{stem}' if cls is not None else stem
        label = classes.index(cls) if cls is not None else None
        images.append(SourceImage(name, path, label, grey))
    if not images:
        raise ConfigError(f'{image_dir}: none of its {len(files)} images could be read')
    names = [s.name for s in images]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f'{image_dir}: several images share the names {dup[:5]} (same stem with '
                          'different extensions); rename them')
    return images, classes


def render_window(image: np.ndarray,
                  size: Tuple[int, int],
                  num_frames: int,
                  start: Sequence[float],
                  velocity: Sequence[float],
                  model: SpikeCameraModel,
                  nominal_gain: float,
                  generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """Simulate the spikes of a (moving) crop and its reference image.

    Args:
        image (np.ndarray): Grey ``[H, W]`` in [0, 1].
        size (tuple[int, int]): Crop ``(h, w)``.
        num_frames (int): Frames T.
        start (Sequence[float]): ``(y, x)`` of the crop's top-left corner at frame 0; the whole
            path must stay inside ``image``.
        velocity (Sequence[float]): ``(vy, vx)`` in pixels per frame.
        model (SpikeCameraModel): Sensor (its ``gain`` is the light level).
        nominal_gain (float): Light level at which the reference equals the scene.
        generator (torch.Generator): Random generator of the simulator.

    Returns:
        tuple: Spikes ``[T, h, w]`` uint8 and the reference ``[h, w]`` float32,
        ``clip(scene[T // 2] * gain / nominal_gain, 0, 1)``.
    """
    h, w = size
    if velocity[0] == 0 and velocity[1] == 0 and float(start[0]).is_integer() \
            and float(start[1]).is_integer():
        y, x = int(start[0]), int(start[1])
        scene = torch.from_numpy(np.ascontiguousarray(image[y:y + h, x:x + w]))
        spikes = simulate_spikes(scene, num_frames, model=model, generator=generator)
        centre = scene
    else:
        # Only the strip the crop travels over is handed to the sampler.
        end = [s + v * (num_frames - 1) for s, v in zip(start, velocity)]
        y_lo, x_lo = int(np.floor(min(start[0], end[0]))), int(np.floor(min(start[1], end[1])))
        y_hi = min(int(np.ceil(max(start[0], end[0]))) + h, image.shape[0])
        x_hi = min(int(np.ceil(max(start[1], end[1]))) + w, image.shape[1])
        strip = torch.from_numpy(np.ascontiguousarray(image[y_lo:y_hi, x_lo:x_hi]))
        scenes = sliding_crops(strip, num_frames, size, (start[0] - y_lo, start[1] - x_lo),
                               velocity)
        spikes = simulate_spikes(scenes[None], model=model, generator=generator)[0]
        centre = scenes[num_frames // 2]
    gt = (centre * (model.gain / nominal_gain)).clamp_(0, 1).to(torch.float32)
    return spikes, gt


def _seeded_generator(*keys: int) -> torch.Generator:
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _make_model(gain: float, noise: Optional[dict]) -> SpikeCameraModel:
    return SpikeCameraModel(gain=gain, **(noise or {}))


def _check_noise(noise: Optional[dict]) -> dict:
    noise = dict(DEFAULT_NOISE if noise is None else noise)
    unknown = sorted(set(noise) - set(NOISE_KEYS))
    if unknown:
        raise ConfigError(f'unknown noise options {unknown}; expected some of {list(NOISE_KEYS)}')
    try:
        _make_model(0.5, noise)
    except ValueError as e:
        raise ConfigError(f'noise={noise}: {e}') from e
    return noise


@DATASETS.register_module()
class SimulatedSpikeDataset(Dataset):
    """Spike windows simulated on the fly from still images (the offline demo data).

    Item ``i`` uses image ``i % num_images`` (so classes are balanced) and random numbers from a
    ``torch.Generator`` seeded with ``(seed, split, i)``: the same index gives the same sample in
    every worker and epoch, and different seeds give different samples. Per sample:

    * light level ``gain ~ U(gain_range)``;
    * with probability ``motion_prob``, a velocity of ``U(0, max_speed)`` pixels per frame in a
      uniformly random direction, reduced per axis where the path would leave the image part of
      the split; otherwise a static crop;
    * a random crop position inside the split's part of the image (train: the first 70 % of the
      longer side, test: the last 30 %; see
      :func:`~spikeclip.datasets.default_images.split_region`), so train and test crops never
      overlap;
    * spikes from :func:`~spikeclip.simulation.simulate_spikes` with the ``noise`` options, and
      the reference ``clip(scene[T // 2] * gain / nominal_gain, 0, 1)`` (see the module doc).

    Images are held in memory as float32 (about 0.35 MB each at ``short_side=256``); the set is
    meant for small folders.

    Args:
        image_dir (str, optional): Image folder, one sub-folder per class (or images at its top
            level, no classes); None or ``'default'`` for the embedded scikit-image set.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        num_samples (int): Length of the dataset. Defaults to 1000.
        crop_size (int): Side of the square crop H = W. Defaults to 64.
        num_frames (int): Frames T. Defaults to 200.
        gain_range (tuple[float, float]): Range of the light level (threshold units per frame
            at intensity 1). Defaults to (0.3, 0.8).
        nominal_gain (float): Light level whose reference equals the scene. Defaults to 0.5.
        motion_prob (float): Probability that the crop moves. Defaults to 0.5.
        max_speed (float): Largest speed in pixels per frame. Defaults to 0.1.
        noise (dict, optional): Sensor noise: ``dark_current``, ``threshold_mismatch``,
            ``photons_per_frame`` (see :class:`~spikeclip.simulation.SpikeCameraModel`; shot
            noise is off by default as it costs about 4x the rest of the simulation). None gives
            ``dict(dark_current=0.005, threshold_mismatch=0.03)``.
        seed (int): Seed of the samples. Defaults to 0.
        on_bad_image (str): ``'skip'`` (warn) or ``'error'`` for unreadable images.
            Defaults to ``'skip'``.
        short_side (int): Images are resized to this short side. Defaults to 256.
        train_fraction (float): Share of each image's longer side used for training crops.
            Defaults to 0.7.
    """

    def __init__(self,
                 image_dir: Optional[str] = None,
                 split: str = 'train',
                 num_samples: int = 1000,
                 crop_size: int = 64,
                 num_frames: int = 200,
                 gain_range: Tuple[float, float] = (0.3, 0.8),
                 nominal_gain: float = 0.5,
                 motion_prob: float = 0.5,
                 max_speed: float = 0.1,
                 noise: Optional[dict] = None,
                 seed: int = 0,
                 on_bad_image: str = 'skip',
                 short_side: int = SHORT_SIDE,
                 train_fraction: float = TRAIN_FRACTION):
        if split not in ('train', 'test'):
            raise ConfigError(f'SimulatedSpikeDataset split must be "train" or "test", '
                              f'got {split!r}')
        if num_samples <= 0 or crop_size <= 0 or num_frames <= 0:
            raise ConfigError(f'num_samples, crop_size and num_frames must be positive, got '
                              f'{num_samples}, {crop_size}, {num_frames}')
        lo, hi = gain_range
        if not 0 < lo <= hi:
            raise ConfigError(f'gain_range must satisfy 0 < low <= high, got {gain_range}')
        if nominal_gain <= 0 or max_speed < 0 or not 0 <= motion_prob <= 1:
            raise ConfigError(f'need nominal_gain > 0, max_speed >= 0 and 0 <= motion_prob <= 1, '
                              f'got {nominal_gain}, {max_speed}, {motion_prob}')
        if not 0 < train_fraction < 1:
            raise ConfigError(f'train_fraction must be in (0, 1), got {train_fraction}')
        self.split = split
        self.num_samples = num_samples
        self.crop_size = crop_size
        self.num_frames = num_frames
        self.gain_range = (float(lo), float(hi))
        self.nominal_gain = float(nominal_gain)
        self.motion_prob = float(motion_prob)
        self.max_speed = float(max_speed)
        self.noise = _check_noise(noise)
        self.seed = seed
        self.images, self.classes = load_source_images(image_dir, short_side, on_bad_image)
        self.regions = [split_region(s.image, split, train_fraction) for s in self.images]
        for src, region in zip(self.images, self.regions):
            if min(region.shape) < crop_size:
                raise ConfigError(
                    f'{src.path}: its {split} part is {region.shape[0]}x{region.shape[1]} pixels '
                    f'(image {src.image.shape[0]}x{src.image.shape[1]}, train_fraction='
                    f'{train_fraction}), too small for crop_size={crop_size}; lower crop_size '
                    'or raise short_side')
        self.metainfo = dict(classes=self.classes, dataset_type='simulated')

    def __len__(self) -> int:
        return self.num_samples

    def _draw(self, generator: torch.Generator, region_hw: Tuple[int, int]):
        """Light level, start and velocity of one sample (always six draws, in a fixed order)."""
        u = torch.rand(6, generator=generator, dtype=torch.float64).tolist()
        gain = self.gain_range[0] + (self.gain_range[1] - self.gain_range[0]) * u[0]
        room = [r - self.crop_size for r in region_hw]  # free travel per axis, pixels
        steps = max(self.num_frames - 1, 1)
        velocity = [0.0, 0.0]
        if u[1] < self.motion_prob and self.max_speed > 0 and self.num_frames > 1:
            speed, angle = self.max_speed * u[2], 2 * np.pi * u[3]
            for axis, comp in enumerate((np.sin(angle), np.cos(angle))):
                limit = room[axis] / steps
                velocity[axis] = float(np.clip(speed * comp, -limit, limit))
        start = []
        for axis, frac in zip((0, 1), u[4:]):
            if velocity[axis] == 0:
                start.append(float(min(int(frac * (room[axis] + 1)), room[axis])))
            else:
                travel = velocity[axis] * steps
                lo, hi = max(0.0, -travel), min(room[axis], room[axis] - travel)
                start.append(lo + frac * (hi - lo))
        return gain, start, velocity

    def __getitem__(self, idx: int) -> dict:
        if not 0 <= idx < self.num_samples:
            raise IndexError(f'index {idx} out of range for {self.num_samples} samples')
        src = self.images[idx % len(self.images)]
        region = self.regions[idx % len(self.images)]
        generator = _seeded_generator(self.seed, self.split == 'test', idx)
        gain, start, velocity = self._draw(generator, region.shape)
        spikes, gt = render_window(region, (self.crop_size, self.crop_size), self.num_frames,
                                   start, velocity, _make_model(gain, self.noise),
                                   self.nominal_gain, generator)
        label_name = self.classes[src.label] if src.label is not None else None
        return pack_item(spikes, idx, gt_img=gt, label=src.label, label_name=label_name,
                         img_path=src.path, gain=gain, velocity=tuple(velocity))


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


def simulate_folder(image_dir: Optional[str],
                    out_dir: str,
                    num_frames: int = 200,
                    height: int = 250,
                    width: int = 400,
                    gain: float = 0.5,
                    nominal_gain: float = 0.5,
                    speed: float = 0.0,
                    noise: Optional[dict] = None,
                    seed: int = 0,
                    on_bad_image: str = 'skip',
                    progress: bool = True) -> List[str]:
    """Write a paired spike set ``out_dir/spike/<name>.dat`` + ``out_dir/gt/<name>.png``.

    Each image is resized to cover the frame (plus the path of the motion) and centre-cropped;
    with ``speed > 0`` the view pans at ``speed`` pixels per frame in a direction drawn from
    ``(seed, image index)``. The PNG is the 8-bit grey reference at the centre frame,
    ``clip(scene * gain / nominal_gain, 0, 1)``. Where the images have classes,
    ``out_dir/classes.txt`` and ``out_dir/labels.json`` (name -> class name) are written too, which
    :class:`~spikeclip.datasets.PairedSpikeDataset` reads. Every file is written atomically.

    Args:
        image_dir (str, optional): Image folder (class = sub-folder), or None / ``'default'``
            for the embedded set.
        out_dir (str): Output folder.
        num_frames (int): Frames T. Defaults to 200.
        height (int): Frame height H. Defaults to 250.
        width (int): Frame width W. Defaults to 400.
        gain (float): Light level. Defaults to 0.5.
        nominal_gain (float): Light level whose reference equals the scene. Defaults to 0.5.
        speed (float): Pan speed in pixels per frame. Defaults to 0 (static).
        noise (dict, optional): ``dark_current``, ``threshold_mismatch``, ``photons_per_frame``;
            None means no noise.
        seed (int): Seed. Defaults to 0.
        on_bad_image (str): ``'skip'`` or ``'error'``. Defaults to ``'skip'``.
        progress (bool): Show a tqdm progress bar. Defaults to True.

    Returns:
        list[str]: The sample names written.
    """
    if min(num_frames, height, width) <= 0 or gain <= 0 or nominal_gain <= 0 or speed < 0:
        raise ConfigError('num_frames, height, width, gain and nominal_gain must be positive and '
                          f'speed >= 0, got {num_frames}, {height}, {width}, {gain}, '
                          f'{nominal_gain}, {speed}')
    noise = _check_noise(noise or {})
    model = _make_model(gain, noise)
    images, classes = load_source_images(image_dir, None, on_bad_image)
    from tqdm import tqdm
    names = []
    for i, src in enumerate(tqdm(images, desc='simulating', unit='image', disable=not progress)):
        generator = _seeded_generator(seed, i)
        angle = 2 * np.pi * torch.rand(1, generator=generator, dtype=torch.float64).item()
        velocity = (speed * np.sin(angle), speed * np.cos(angle))
        extent = [abs(v) * (num_frames - 1) for v in velocity]
        canvas = _cover(src.image, height + int(np.ceil(extent[0])),
                        width + int(np.ceil(extent[1])))
        start = [float(e) if v < 0 else 0.0 for e, v in zip(extent, velocity)]
        spikes, gt = render_window(canvas, (height, width), num_frames, start, velocity, model,
                                   nominal_gain, generator)
        write_dat(os.path.join(out_dir, 'spike', f'{src.name}.dat'), spikes.numpy())
        atomic_save_image(os.path.join(out_dir, 'gt', f'{src.name}.png'),
                          (gt.numpy() * 255 + 0.5).astype(np.uint8))
        names.append(src.name)
    if classes:
        with atomic_open(os.path.join(out_dir, 'classes.txt'), 'w') as f:
            f.write(''.join(f'{c}\n' for c in classes))
        atomic_write_json(os.path.join(out_dir, 'labels.json'),
                          {s.name: classes[s.label] for s in images})
    return names
