from .stage_info_hook import StageInfoHook
from .visualization_hook import SpikeVisualizationHook

__all__ = ['SpikeVisualizationHook', 'StageInfoHook']
