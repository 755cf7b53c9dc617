from .accuracy import Accuracy
from .brisque import BRISQUE
from .image_quality import GMSD, MAE, MSE, PSNR, SSIM, ImageMetric, gmsd, psnr
from .niqe import NIQE
from .no_reference import NoReferenceMetric
from .prompt_separation import PromptSeparation

__all__ = ['Accuracy', 'BRISQUE', 'GMSD', 'ImageMetric', 'MAE', 'MSE', 'NIQE',
           'NoReferenceMetric', 'PSNR', 'PromptSeparation', 'SSIM', 'gmsd', 'psnr']
