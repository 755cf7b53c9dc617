from .grid import (
    PANELS,
    calibrated_panels,
    display_gain,
    grid_caption,
    make_grid,
    panel_note,
    panel_titles,
    sample_panels,
    spike_panels,
)
from .spike_visualizer import SpikeVisualizer

__all__ = ['PANELS', 'SpikeVisualizer', 'calibrated_panels', 'display_gain', 'grid_caption',
           'make_grid', 'panel_note', 'panel_titles', 'sample_panels', 'spike_panels']
