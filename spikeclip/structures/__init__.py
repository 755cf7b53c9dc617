from .spike_data_sample import SpikeDataSample

__all__ = ['SpikeDataSample']
