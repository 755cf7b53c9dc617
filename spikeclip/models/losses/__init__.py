from .base import BaseLoss, reduce_loss

__all__ = ['BaseLoss', 'reduce_loss']
