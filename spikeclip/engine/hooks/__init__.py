from .device_metrics_hook import DeviceMetricsHook
from .stage_info_hook import StageInfoHook
from .visualization_hook import SpikeVisualizationHook

__all__ = ['DeviceMetricsHook', 'SpikeVisualizationHook', 'StageInfoHook']
