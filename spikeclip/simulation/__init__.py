from .dead_leaves import dead_leaves
from .motion import (
                     CameraMotionConfig,
                     CameraPath,
                     fit_path,
                     random_camera_path,
                     render_view,
                     sliding_crops,
                     view_grid,
)
from .objects import MovingObject, ObjectsConfig, composite, random_objects
from .scene import LightConfig, SceneSample, SceneSimulator, SensorNoiseConfig, ViewConfig
from .simulator import SpikeCameraModel, simulate_spikes

__all__ = [
    'CameraMotionConfig', 'CameraPath', 'LightConfig', 'MovingObject', 'ObjectsConfig',
    'SceneSample', 'SceneSimulator', 'SensorNoiseConfig', 'SpikeCameraModel', 'ViewConfig',
    'composite', 'dead_leaves', 'fit_path', 'random_camera_path', 'random_objects', 'render_view',
    'simulate_spikes', 'sliding_crops', 'view_grid'
]
