"""BRISQUE, the Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy and Bovik,
IEEE Transactions on Image Processing 21(12), 2012), as the ``brisque`` 0.2.0 package computes it,
with its SVR model.

The grey image in [0, 1] is scored at two scales (itself, and half size by OpenCV's bicubic
``resize``, reproduced here). At each scale its MSCN coefficients (7x7 Gaussian, sigma 7/6, zero
padding, C = 1/255) give 18 features: the AGGD fit (shape from the moment ratio by root finding,
as the package does) of the coefficients (shape, variance ``(sl^2 + sr^2) / 2``) and of their four
neighbour products (horizontal, vertical, main and secondary diagonal: shape, mean, ``sl^2``,
``sr^2``). The 36 features are scaled to [-1, 1] with the package's ranges
(``brisque/models/normalize.pickle``) and scored by its epsilon-SVR with an RBF kernel
(``brisque/models/svm.txt``, libsvm's format), evaluated here as libsvm does:
``sum_i coef_i exp(-gamma |x - sv_i|^2) - rho``. Lower is better (about 0-100).

The official SpikeCLIP evaluation used pyiqa's BRISQUE (a port of the MATLAB release, with its
own model), whose values differ: compare figures of one implementation only (docs/official.md).
"""
import pickle
from typing import Dict, Tuple

import numpy as np
import scipy.optimize
import scipy.signal
import scipy.special

from ...registry import METRICS
from ...utils.errors import ConfigError
from .no_reference import NoReferenceMetric, package_file

# OpenCV's bicubic weights (a = -0.75) at a source offset of 0.5: halving samples the source at
# 2 * x + 0.5, between pixels 2x and 2x + 1 (taps 2x - 1 .. 2x + 2, replicated borders).
_HALF_TAPS = np.array([-0.09375, 0.59375, 0.59375, -0.09375])


def gaussian_kernel(size: int = 7, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """The normalised ``size`` x ``size`` Gaussian the package uses."""
    y, x = np.indices((size, size)) - int(size / 2)
    kernel = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def mscn(image: np.ndarray, c: float = 1.0 / 255) -> np.ndarray:
    """MSCN coefficients of a ``[H, W]`` float64 image in [0, 1]."""
    kernel = gaussian_kernel()
    mu = scipy.signal.convolve2d(image, kernel, 'same')
    sigma = np.sqrt(np.abs(mu**2 - scipy.signal.convolve2d(image**2, kernel, 'same')))
    return (image - mu) / (sigma + c)


def aggd_fit(x: np.ndarray) -> Tuple[float, float, float, float]:
    """``(shape, mean, left scale, right scale)`` of an asymmetric generalised Gaussian."""
    def phi(a):
        return scipy.special.gamma(2 / a)**2 / (scipy.special.gamma(1 / a)
                                                 * scipy.special.gamma(3 / a))

    x = x.ravel()
    left, right = x[x < 0], x[x >= 0]
    sl, sr = np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))
    r_hat = np.mean(np.abs(x))**2 / np.mean(x**2)
    g = sl / sr
    big_r = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1)**2
    alpha = float(scipy.optimize.root(lambda z: phi(z) - big_r, [0.2]).x[0])
    const = np.sqrt(scipy.special.gamma(1 / alpha) / scipy.special.gamma(3 / alpha))
    mean = (sr - sl) * const * (scipy.special.gamma(2 / alpha) / scipy.special.gamma(1 / alpha))
    return alpha, float(mean), float(sl), float(sr)


def scale_features(image: np.ndarray) -> list:
    """The 18 features of one scale."""
    m = mscn(image)
    alpha, _, sl, sr = aggd_fit(m)
    feats = [alpha, (sl**2 + sr**2) / 2]
    for prod in (m[:, :-1] * m[:, 1:], m[:-1, :] * m[1:, :], m[:-1, :-1] * m[1:, 1:],
                 m[1:, :-1] * m[:-1, 1:]):
        alpha, mean, sl, sr = aggd_fit(prod)
        feats += [alpha, mean, sl**2, sr**2]
    return feats


def half_size(image: np.ndarray) -> np.ndarray:
    """``cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)`` of a float
    ``[H, W]`` image."""
    def along(x, axis):
        n = x.shape[axis]
        out = int(np.rint(n * 0.5))
        idx = 2 * np.arange(out)[:, None] + np.arange(-1, 3)[None]
        taken = np.take(x, np.clip(idx, 0, n - 1), axis=axis)  # [.., out, 4, ..]
        return np.tensordot(taken, _HALF_TAPS, axes=([axis + 1], [0]))

    return along(along(image, 1), 0)


def brisque_features(image: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of a grey ``[H, W]`` image in [0, 1]."""
    return np.array(scale_features(image) + scale_features(half_size(image)))


def read_svr(path: str) -> Dict[str, np.ndarray]:
    """An RBF epsilon-SVR in libsvm's text format: ``gamma``, ``rho``, ``coef`` [S] and dense
    support vectors ``sv`` [S, D].

    Raises:
        ConfigError: Another kind of model, or a file that does not parse.
    """
    header, rows = {}, []
    with open(path) as f:
        lines = iter(f)
        for line in lines:
            if line.strip() == 'SV':
                break
            key, _, value = line.strip().partition(' ')
            header[key] = value
        for line in lines:
            if line.strip():
                coef, *pairs = line.split()
                rows.append((float(coef), {int(k): float(v) for k, v in
                                           (p.split(':') for p in pairs)}))
    if header.get('svm_type') != 'epsilon_svr' or header.get('kernel_type') != 'rbf' or not rows:
        raise ConfigError(f'{path}: not an RBF epsilon-SVR model in libsvm\'s format')
    dim = max(max(r, default=0) for _, r in rows)
    sv = np.zeros((len(rows), dim))
    for i, (_, row) in enumerate(rows):
        for k, v in row.items():
            sv[i, k - 1] = v
    return dict(gamma=float(header['gamma']), rho=float(header['rho'].split()[0]),
                coef=np.array([c for c, _ in rows]), sv=sv)


class _PlainUnpickler(pickle.Unpickler):
    """Reads pickles of plain containers and numbers only (the feature ranges)."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f'{module}.{name} is not allowed in a plain pickle')


@METRICS.register_module()
class BRISQUE(NoReferenceMetric):
    """BRISQUE of ``pred_img`` (lower is better; the ``brisque`` package's implementation and
    model, see the module doc)."""
    measure = 'BRISQUE'
    min_size = 8

    def load_model(self) -> None:
        self.svr = read_svr(package_file('brisque', 'models', 'svm.txt'))
        path = package_file('brisque', 'models', 'normalize.pickle')
        try:
            with open(path, 'rb') as f:
                ranges = _PlainUnpickler(f).load()
            self.low = np.array(ranges['min_'], dtype=np.float64)
            self.high = np.array(ranges['max_'], dtype=np.float64)
        except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as e:
            raise ConfigError(f'{path}: not the brisque feature ranges ({e})') from e

    def score(self, img: np.ndarray) -> float:
        x = -1 + 2.0 / (self.high - self.low) * (brisque_features(img) - self.low)
        dist = ((self.svr['sv'] - x)**2).sum(1)
        return float(self.svr['coef'] @ np.exp(-self.svr['gamma'] * dist) - self.svr['rho'])
