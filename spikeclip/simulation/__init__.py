from .motion import motion_extent, sliding_crops
from .simulator import SpikeCameraModel, simulate_spikes

__all__ = ['SpikeCameraModel', 'motion_extent', 'simulate_spikes', 'sliding_crops']
