from .grid import PANELS, grid_caption, make_grid, spike_panels

__all__ = ['PANELS', 'grid_caption', 'make_grid', 'spike_panels']
