"""Where simulated scenes come from: image folders, the embedded set, every photograph that ships
inside the installed packages, and procedural dead-leaves images.

An *image source* spec is one of

* ``None`` or ``'default'``: the embedded 12-class set (:mod:`.default_images`);
* a folder path: images with one sub-folder per class (or none);
* ``'packaged'``: every photograph bundled with the installed packages (scikit-image,
  scikit-learn, matplotlib), without classes; the photographs in :data:`HELD_OUT_PHOTOS` form
  its test split, those in :data:`VAL_PHOTOS` its validation split, and neither is used for
  training;
* ``'dead_leaves'`` or ``dict(type='dead_leaves', num_images=32, size=384)``: procedural images
  (:func:`spikeclip.simulation.dead_leaves`), with different seeds for train, val and test;
* a list of the above, pooled.

:func:`build_image_pool` resolves a spec for a split into :class:`SourceImage` s; classed sources
(the default set, class folders) are split by region (:func:`split_region`: train, val and test
crops never overlap), the others by image.
"""
import functools
import os
import warnings
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from ..utils.errors import ConfigError, SpikeCLIPError
from ..utils.image import IMAGE_EXTENSIONS, read_grey, to_grey
from .default_images import DEFAULT_IMAGES, SHORT_SIDE, TRAIN_FRACTION, split_region

# (name, package, resource): photographs and drawings that ship inside installed wheels, so they
# load offline. Tiny images (< 200 px) and those scikit-image downloads on first use are left out.
PACKAGED_PHOTOS = (
    ('astronaut', 'skimage', 'astronaut'),
    ('cameraman', 'skimage', 'camera'),
    ('cat', 'skimage', 'chelsea'),
    ('clock', 'skimage', 'clock'),
    ('coffee', 'skimage', 'coffee'),
    ('coins', 'skimage', 'coins'),
    ('rocket', 'skimage', 'rocket'),
    ('moon', 'skimage', 'moon'),
    ('brick', 'skimage', 'brick'),
    ('galaxy', 'skimage', 'hubble_deep_field'),
    ('grass', 'skimage', 'grass'),
    ('gravel', 'skimage', 'gravel'),
    ('immunohistochemistry', 'skimage', 'immunohistochemistry'),
    ('retina', 'skimage', 'retina'),
    ('cell', 'skimage', 'cell'),
    ('page', 'skimage', 'page'),
    ('text', 'skimage', 'text'),
    ('horse', 'skimage', 'horse'),
    ('logo', 'skimage', 'logo'),
    ('phantom', 'skimage', 'shepp_logan_phantom'),
    ('motorcycle_left', 'skimage', 'stereo_motorcycle:0'),
    ('motorcycle_right', 'skimage', 'stereo_motorcycle:1'),
    ('flower', 'sklearn', 'flower.jpg'),
    ('china', 'sklearn', 'china.jpg'),
    ('grace_hopper', 'matplotlib', 'grace_hopper.jpg'),
)
# Scenes kept out of every training set: the test split of the 'packaged' source and of the
# benchmarks (tools/benchmark_quality.py). Both motorcycle views are one scene.
HELD_OUT_PHOTOS = ('motorcycle_left', 'motorcycle_right', 'china', 'grace_hopper')
# The validation split of the 'packaged' source: checkpoints are selected on these, never on the
# test scenes above, and no training set draws from them.
VAL_PHOTOS = ('coffee', 'flower')
SPLITS = ('train', 'test', 'val')  # the order gives each split's dead-leaves seed offset
PACKAGED_SHORT_SIDE = 320
DEAD_LEAVES_DEFAULTS = dict(num_images=32, size=384)


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
            grey = read_grey(path, short_side)
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



def _read_packaged(package: str, resource: str) -> np.ndarray:
    """One packaged picture as an array (raises if the package or file is missing)."""
    if package == 'skimage':
        import skimage.data
        loader, _, index = resource.partition(':')
        raw = getattr(skimage.data, loader)()
        return raw[int(index)] if index else raw
    if package == 'sklearn':
        from sklearn.datasets import load_sample_image
        return load_sample_image(resource)
    if package == 'matplotlib':
        from matplotlib import cbook
        with cbook.get_sample_data(resource) as f, Image.open(f) as im:
            return np.asarray(im.convert('RGB'))
    raise ValueError(f'unknown package {package!r}')


@functools.lru_cache(maxsize=4)
def _load_packaged(short_side: Optional[int]) -> Tuple[SourceImage, ...]:
    images, missing = [], []
    for name, package, resource in PACKAGED_PHOTOS:
        try:
            raw = _read_packaged(package, resource)
        except Exception as e:  # a package that is missing, or needs a download for it
            missing.append(f'{name} ({package}: {type(e).__name__})')
            continue
        grey = to_grey(raw, short_side)
        grey.flags.writeable = False  # shared by every caller of the cache
        images.append(SourceImage(name, f'{package}:{resource}', None, grey))
    if missing:
        warnings.warn(f'packaged photographs unavailable and skipped: {", ".join(missing)}')
    if not images:
        raise ConfigError('none of the packaged photographs could be loaded; check the '
                          'scikit-image / scikit-learn / matplotlib installations')
    return tuple(images)


def load_packaged_images(split: Optional[str] = None,
                         short_side: Optional[int] = PACKAGED_SHORT_SIDE) -> List[SourceImage]:
    """The photographs bundled with the installed packages (:data:`PACKAGED_PHOTOS`).

    Args:
        split (str, optional): ``'train'`` (all but :data:`HELD_OUT_PHOTOS` and
            :data:`VAL_PHOTOS`), ``'val'`` (only :data:`VAL_PHOTOS`), ``'test'`` (only
            :data:`HELD_OUT_PHOTOS`) or None / ``'all'`` (all).
        short_side (int, optional): Short side after resizing; None keeps the size.
            Defaults to 320.

    Returns:
        list[SourceImage]: Grey images without classes (read-only arrays, cached per process).
    """
    images = _load_packaged(short_side)
    if split in (None, 'all'):
        return list(images)
    if split not in SPLITS:
        raise ConfigError(f'split must be "train", "val" or "test", got {split!r}')
    keep = [s for s in images if _photo_split(s.name) == split]
    if not keep:
        raise ConfigError(f'no packaged photographs for the {split} split')
    return keep


def _photo_split(name: str) -> str:
    return 'test' if name in HELD_OUT_PHOTOS else 'val' if name in VAL_PHOTOS else 'train'


@functools.lru_cache(maxsize=8)
def _dead_leaves_bank(num_images: int, size: int, seed: int) -> Tuple[SourceImage, ...]:
    from ..simulation import dead_leaves
    images = []
    for i in range(num_images):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        img = dead_leaves(size, rng)
        img.flags.writeable = False
        images.append(SourceImage(f'dead_leaves_{seed}_{i}', f'dead_leaves(seed={seed}, {i})',
                                  None, img))
    return tuple(images)


def load_dead_leaves(split: str, num_images: int = 32, size: int = 384,
                     seed: int = 0) -> List[SourceImage]:
    """A bank of dead-leaves images, generated once per process (about 0.25 s each at 384 px).

    Train, test and val banks come from different seeds (``seed``, ``seed + 1_000_003`` and
    ``seed + 2_000_006``), so they never share an image.
    """
    if split not in SPLITS:
        raise ConfigError(f'split must be "train", "val" or "test", got {split!r}')
    if num_images < 1 or size < 16:
        raise ConfigError(f'dead_leaves needs num_images >= 1 and size >= 16, got {num_images}, '
                          f'{size}')
    return list(_dead_leaves_bank(int(num_images), int(size),
                                  int(seed) + 1_000_003 * SPLITS.index(split)))


class ImagePool(NamedTuple):
    """The images of one split: sources, the regions crops are drawn from, and class names."""
    images: List[SourceImage]
    regions: List[np.ndarray]
    classes: Tuple[str, ...]


def build_image_pool(spec: Union[str, dict, Sequence, None], split: str,
                     short_side: Optional[int] = SHORT_SIDE,
                     train_fraction: float = TRAIN_FRACTION,
                     on_bad_image: str = 'skip') -> ImagePool:
    """Resolve an image source spec (see the module doc) for ``split``.

    Args:
        spec: None, ``'default'``, ``'packaged'``, ``'dead_leaves'``, a dead-leaves dict, a folder,
            or a list of these.
        split (str): ``'train'``, ``'val'``, ``'test'`` or ``'all'`` (whole classed images,
            every packaged photograph, the training dead-leaves bank).
        short_side (int, optional): Short side of the default set and folder images.
        train_fraction (float): Share of the longer side of classed images used for training.
        on_bad_image (str): ``'skip'`` or ``'error'`` for unreadable folder images.

    Raises:
        ConfigError: An unknown spec, two sources with classes, or the errors of the sources.
    """
    if split not in (*SPLITS, 'all'):
        raise ConfigError(f'split must be "train", "val", "test" or "all", got {split!r}')
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if not specs:
        raise ConfigError('images: the list of image sources is empty')
    images, regions, classes = [], [], ()
    for s in specs:
        if s == 'packaged':
            found = load_packaged_images(split)
            images += found
            regions += [x.image for x in found]
            continue
        if s == 'dead_leaves' or (isinstance(s, dict) and s.get('type') == 'dead_leaves'):
            opts = dict(DEAD_LEAVES_DEFAULTS, **({k: v for k, v in s.items() if k != 'type'}
                                                 if isinstance(s, dict) else {}))
            unknown = sorted(set(opts) - {'num_images', 'size', 'seed'})
            if unknown:
                raise ConfigError(f'dead_leaves: unknown options {unknown}; expected num_images, '
                                  'size, seed')
            found = load_dead_leaves('train' if split == 'all' else split, **opts)
            images += found
            regions += [x.image for x in found]
            continue
        if s is not None and not isinstance(s, str):
            raise ConfigError(f'images: unknown image source {s!r}; expected None, "default", '
                              '"packaged", "dead_leaves", a dict(type="dead_leaves", ...) or a '
                              'folder')
        found, found_classes = load_source_images(s, short_side, on_bad_image)
        if found_classes:
            if classes:
                raise ConfigError(f'images: two image sources have classes ({list(classes)[:3]}'
                                  f'... and {list(found_classes)[:3]}...); give classes to one')
            classes = found_classes
        images += found
        regions += [x.image if split == 'all' else split_region(x.image, split, train_fraction)
                    for x in found]
    return ImagePool(images, regions, classes)
