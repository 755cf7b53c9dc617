from .accuracy import Accuracy
from .image_quality import MAE, MSE, PSNR, SSIM, ImageMetric, psnr

__all__ = ['Accuracy', 'ImageMetric', 'MAE', 'MSE', 'PSNR', 'SSIM', 'psnr']
