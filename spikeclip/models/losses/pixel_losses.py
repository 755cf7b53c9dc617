"""Full-reference pixel losses (pred vs. target) and the SSIM function shared with the metrics.

All losses take ``pred`` and ``target`` images ``[N, C, H, W]`` (``C = 1`` for our grey images)
of the same shape and return ``loss_weight * reduce(loss)``.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

from spikeclip.registry import LOSSES

from .base import BaseLoss, reduce_loss

# skimage.metrics.structural_similarity(gaussian_weights=True) defaults (Wang et al. 2004).
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(pred: torch.Tensor, target: torch.Tensor, owner: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f'{owner}: pred {tuple(pred.shape)} and target {tuple(target.shape)} '
                         f'must have the same shape')
    if pred.ndim != 4:
        raise ValueError(f'{owner} expects images [N, C, H, W], got {tuple(pred.shape)}')


def _gaussian_kernel(sigma: float, truncate: float, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """1-D Gaussian of radius ``int(truncate * sigma + 0.5)``, as scipy's ``gaussian_filter``."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def _filter_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable filter per channel, no padding: ``[N, C, H, W] -> [N, C, H-k+1, W-k+1]``."""
    c = x.shape[1]
    kh = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    return F.conv2d(F.conv2d(x, kh, groups=c), kw, groups=c)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Local SSIM (Gaussian window 11, sigma 1.5) on the pixels whose window fits the image.

    Equals the interior of ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, full=True)``: skimage averages only those pixels
    (it crops a border of 5), so the padding mode never matters and no padding is done here.

    Args:
        pred (torch.Tensor): ``[N, C, H, W]`` with ``H, W >= 11``.
        target (torch.Tensor): Same shape as ``pred``.
        data_range (float): Value range of the images. Defaults to 1.0.

    Returns:
        torch.Tensor: ``[N, C, H - 10, W - 10]`` in the dtype of ``pred`` (differentiable).
    """
    _check_pair(pred, target, 'ssim')
    kernel = _gaussian_kernel(SSIM_SIGMA, SSIM_TRUNCATE, pred.dtype, pred.device)
    size = kernel.numel()
    if min(pred.shape[-2:]) < size:
        raise ValueError(f'ssim needs images of at least {size}x{size} pixels, got '
                         f'{tuple(pred.shape[-2:])}')
    target = target.to(pred.dtype)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    n = pred.shape[0]
    # One filtering pass over the five maps stacked along the batch axis.
    stats = _filter_valid(torch.cat([pred, target, pred * pred, target * target, pred * target]),
                          kernel)
    mu_x, mu_y, xx, yy, xy = stats.split(n)
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return num / den


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image, matching skimage (see :func:`ssim_map`), averaged over channels.

    Args:
        pred (torch.Tensor): ``[N, C, H, W]`` with ``H, W >= 11``.
        target (torch.Tensor): Same shape as ``pred``.
        data_range (float): Value range of the images. Defaults to 1.0.

    Returns:
        torch.Tensor: ``[N]`` SSIM values (differentiable).
    """
    return ssim_map(pred, target, data_range).flatten(1).mean(1)


def sobel_gradients(x: torch.Tensor) -> torch.Tensor:
    """Sobel derivatives, normalised by 1/8 so a ramp of slope 1 px^-1 gives 1.

    Args:
        x (torch.Tensor): ``[N, C, H, W]`` (replicate padding keeps the size).

    Returns:
        torch.Tensor: ``[N, 2 * C, H, W]``: d/dx of every channel, then d/dy.
    """
    c = x.shape[1]
    gx = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]],
                      dtype=x.dtype, device=x.device) / 8
    kernel = torch.stack([gx, gx.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # [2C, 1, 3, 3]
    out = F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), kernel, groups=c)
    # conv output is interleaved per channel (x0, y0, x1, y1, ...): regroup as (x..., y...).
    return torch.cat([out[:, 0::2], out[:, 1::2]], dim=1)


@LOSSES.register_module()
class L1Loss(BaseLoss):
    """Mean absolute error. ``reduction='none'`` gives ``[N, C, H, W]``.

    Args:
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_l1'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'target')

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, self.name)
        pred, target = self.scale_pair(pred, target)
        return self.loss_weight * reduce_loss((pred - target).abs(), self.reduction)


@LOSSES.register_module()
class MSELoss(BaseLoss):
    """Mean squared error. ``reduction='none'`` gives ``[N, C, H, W]``.

    Args:
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_mse'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'target')

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, self.name)
        pred, target = self.scale_pair(pred, target)
        return self.loss_weight * reduce_loss((pred - target).pow(2), self.reduction)


@LOSSES.register_module()
class CharbonnierLoss(BaseLoss):
    """Charbonnier (smooth L1) loss ``sqrt((pred - target)^2 + eps^2)``.

    ``reduction='none'`` gives ``[N, C, H, W]``.

    Args:
        eps (float): Smoothing; the loss is ``eps`` at zero error. Defaults to 1e-3.
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_charbonnier'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'target')

    def __init__(self, eps: float = 1e-3, loss_weight: float = 1.0, reduction: str = 'mean',
                 name: str = None, **kwargs):
        super().__init__(loss_weight, reduction, name, **kwargs)
        if not eps > 0:
            raise ValueError(f'CharbonnierLoss eps must be positive, got {eps!r}')
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, self.name)
        pred, target = self.scale_pair(pred, target)
        loss = torch.sqrt((pred - target).pow(2) + self.eps ** 2)
        return self.loss_weight * reduce_loss(loss, self.reduction)


@LOSSES.register_module()
class SSIMLoss(BaseLoss):
    """``1 - SSIM`` per image (see :func:`ssim`); needs H, W >= 11.

    ``reduction='none'`` gives ``[N]``.

    Args:
        data_range (float): Value range of the images. Defaults to 1.0.
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_ssim'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'target')

    def __init__(self, data_range: float = 1.0, loss_weight: float = 1.0,
                 reduction: str = 'mean', name: str = None, **kwargs):
        super().__init__(loss_weight, reduction, name, **kwargs)
        if not data_range > 0:
            raise ValueError(f'SSIMLoss data_range must be positive, got {data_range!r}')
        self.data_range = float(data_range)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, self.name)
        pred, target = self.scale_pair(pred, target)
        loss = 1 - ssim(pred, target, self.data_range)
        return self.loss_weight * reduce_loss(loss, self.reduction)


@LOSSES.register_module()
class GradientLoss(BaseLoss):
    """L1 distance between the Sobel gradients of pred and target (see :func:`sobel_gradients`).

    ``reduction='none'`` gives ``[N, 2 * C, H, W]``.

    Args:
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_gradient'``.
    """
    inputs: Tuple[str, ...] = ('pred', 'target')

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, self.name)
        pred, target = self.scale_pair(pred, target)
        loss = (sobel_gradients(pred) - sobel_gradients(target.to(pred.dtype))).abs()
        return self.loss_weight * reduce_loss(loss, self.reduction)


__all__ = ['CharbonnierLoss', 'GradientLoss', 'L1Loss', 'MSELoss', 'SSIMLoss', 'sobel_gradients',
           'ssim', 'ssim_map']
