from .base import load_class_names, load_prompt_names, pack_item
from .default_images import DEFAULT_CLASSES, load_default_images, split_region
from .paired import PairedSpikeDataset
from .samplers import EpochIndexSampler
from .simulated import SimulatedSpikeDataset, render_window, simulate_folder
from .uhsr import UHSRDataset
from .unpaired import UnpairedImageDataset, list_images

__all__ = [
    'DEFAULT_CLASSES', 'EpochIndexSampler', 'PairedSpikeDataset', 'SimulatedSpikeDataset',
    'UHSRDataset', 'UnpairedImageDataset', 'list_images', 'load_class_names',
    'load_default_images', 'load_prompt_names', 'pack_item', 'render_window', 'simulate_folder',
    'split_region'
]
