from .accuracy import Accuracy
from .image_quality import MAE, MSE, PSNR, SSIM, ImageMetric, psnr
from .prompt_separation import PromptSeparation

__all__ = ['Accuracy', 'ImageMetric', 'MAE', 'MSE', 'PSNR', 'PromptSeparation', 'SSIM', 'psnr']
