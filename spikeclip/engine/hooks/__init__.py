from .combine_checkpoints_hook import CombineCheckpointsHook
from .device_metrics_hook import DeviceMetricsHook
from .stage_checkpoint_hook import StageCheckpointHook
from .stage_info_hook import StageInfoHook
from .visualization_hook import SpikeVisualizationHook

__all__ = [
    'CombineCheckpointsHook', 'DeviceMetricsHook', 'SpikeVisualizationHook', 'StageCheckpointHook',
    'StageInfoHook'
]
