"""Full-reference image metrics against ``gt_img``: PSNR, SSIM, GMSD (detail kept), MAE (L1),
MSE (L2)."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric

from ...registry import METRICS


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB of ``[N, C, H, W]`` images, one value per image ``[N]``."""
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def _ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    from ...models.losses.pixel_losses import ssim
    return ssim(pred.double(), target.double(), data_range=1.0)


def gmsd(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude similarity deviation (Xue et al., IEEE TIP 2014) of ``[N, 1, H, W]``
    images in [0, 1], one value per image ``[N]``: 0 where every edge and texture of the
    reference is kept at its strength, larger where detail is smoothed away or invented.

    As the paper's reference code: both images at 0-255, averaged over 2x2 blocks, Prewitt
    gradients (divided by 3), the similarity ``(2 g_r g_d + c) / (g_r^2 + g_d^2 + c)`` with
    ``c = 170``, and its standard deviation over the image.
    """
    x, y = (F.avg_pool2d(t.double() * 255, 2) for t in (pred, target))
    kx = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=torch.float64) / 3
    kernels = torch.stack([kx, kx.t()])[:, None]  # [2, 1, 3, 3]

    def magnitude(img):
        g = F.conv2d(img, kernels.to(img.device))
        return g.pow(2).sum(1).sqrt()

    gx, gy = magnitude(x), magnitude(y)
    c = 170.0
    gms = (2 * gx * gy + c) / (gx.pow(2) + gy.pow(2) + c)
    return gms.flatten(1).std(1, unbiased=False)


_FUNCS = {
    'psnr': psnr,
    'ssim': _ssim,
    'gmsd': gmsd,
    'mae': lambda p, t: (p.double() - t.double()).abs().flatten(1).mean(1),
    'mse': lambda p, t: (p.double() - t.double()).pow(2).flatten(1).mean(1),
}


class ImageMetric(BaseMetric):
    """Mean of a per-image full-reference measure over the evaluated set.

    Images are clamped to [0, 1] before scoring. Samples without ``gt_img`` are skipped (a
    dataset without references reports no image metrics, rather than failing).

    Args:
        pred_key (str): Data-sample field scored: ``'pred_img'`` (final output) or
            ``'pred_coarse'`` (stage 1). Defaults to ``'pred_img'``.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix, e.g. ``'coarse'``.
    """
    default_prefix = ''  # metric names without a prefix unless one is configured
    measure: str = ''

    def __init__(self, pred_key: str = 'pred_img', collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.pred_key = pred_key

    def process(self, data_batch, data_samples: Sequence) -> None:
        # MMEngine's Evaluator hands data samples over as dicts (BaseDataElement.to_dict()).
        for sample in data_samples:
            gt, pred = sample.get('gt_img'), sample.get(self.pred_key)
            if gt is None or pred is None:
                continue
            pred = pred.detach().float().clamp(0, 1).cpu()[None]
            gt = gt.detach().float().clamp(0, 1).cpu()[None]
            self.results.append(float(_FUNCS[self.measure](pred, gt)[0]))

    def compute_metrics(self, results: list) -> dict:
        if not results:
            return {}
        return {self.measure.upper(): sum(results) / len(results)}


@METRICS.register_module()
class PSNR(ImageMetric):
    """Peak signal-to-noise ratio (dB, data range 1)."""
    measure = 'psnr'


@METRICS.register_module()
class SSIM(ImageMetric):
    """Structural similarity (Gaussian window 11, sigma 1.5; matches scikit-image)."""
    measure = 'ssim'


@METRICS.register_module()
class GMSD(ImageMetric):
    """Mean gradient magnitude similarity deviation (lower is better: texture and edges kept)."""
    measure = 'gmsd'


@METRICS.register_module()
class MAE(ImageMetric):
    """Mean absolute error (L1)."""
    measure = 'mae'


@METRICS.register_module()
class MSE(ImageMetric):
    """Mean squared error (L2)."""
    measure = 'mse'
