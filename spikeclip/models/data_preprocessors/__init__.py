from .spike_preprocessor import SpikeDataPreprocessor

__all__ = ['SpikeDataPreprocessor']
