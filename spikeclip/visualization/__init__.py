from .grid import PANELS, grid_caption, make_grid, panel_titles, spike_panels
from .spike_visualizer import SpikeVisualizer

__all__ = ['PANELS', 'SpikeVisualizer', 'grid_caption', 'make_grid', 'panel_titles',
           'spike_panels']
