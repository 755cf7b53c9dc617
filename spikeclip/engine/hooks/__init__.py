from .class_names_check_hook import ClassNamesCheckHook
from .combine_checkpoints_hook import CombineCheckpointsHook
from .device_metrics_hook import DeviceMetricsHook
from .iter_seed_hook import IterSeedHook
from .memory_format_hook import MemoryFormatHook
from .stage_checkpoint_hook import StageCheckpointHook
from .stage_info_hook import StageInfoHook
from .validate_before_train_hook import ValidateBeforeTrainHook
from .visualization_hook import SpikeVisualizationHook

__all__ = [
    'ClassNamesCheckHook', 'CombineCheckpointsHook', 'DeviceMetricsHook', 'IterSeedHook',
    'MemoryFormatHook', 'SpikeVisualizationHook', 'StageCheckpointHook', 'StageInfoHook',
    'ValidateBeforeTrainHook'
]
