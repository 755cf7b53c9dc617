from .accuracy import Accuracy
from .image_quality import GMSD, MAE, MSE, PSNR, SSIM, ImageMetric, gmsd, psnr
from .prompt_separation import PromptSeparation

__all__ = ['Accuracy', 'GMSD', 'ImageMetric', 'MAE', 'MSE', 'PSNR', 'PromptSeparation', 'SSIM',
           'gmsd', 'psnr']
