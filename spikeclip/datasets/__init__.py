from .base import load_class_names, load_prompt_names, pack_item
from .default_images import DEFAULT_CLASSES, load_default_images, split_region
from .image_sources import (
    HELD_OUT_PHOTOS,
    PACKAGED_PHOTOS,
    build_image_pool,
    load_dead_leaves,
    load_packaged_images,
)
from .paired import PairedSpikeDataset
from .recording import RecordingDataset, list_recordings
from .samplers import EpochIndexSampler
from .simulated import SimulatedSpikeDataset, simulate_folder
from .uhsr import UHSRDataset
from .unpaired import UnpairedImageDataset, list_images

__all__ = [
    'DEFAULT_CLASSES', 'EpochIndexSampler', 'HELD_OUT_PHOTOS', 'PACKAGED_PHOTOS',
    'PairedSpikeDataset', 'RecordingDataset', 'SimulatedSpikeDataset', 'UHSRDataset',
    'UnpairedImageDataset', 'build_image_pool', 'list_images', 'list_recordings',
    'load_class_names', 'load_dead_leaves', 'load_default_images', 'load_packaged_images',
    'load_prompt_names', 'pack_item', 'simulate_folder', 'split_region'
]
