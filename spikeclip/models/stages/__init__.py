from .base import StageModel, load_stage_checkpoint
from .coarse import CoarseModel
from .prompt import PromptModel
from .refine import RefineModel, SpikeCLIP

__all__ = ['CoarseModel', 'PromptModel', 'RefineModel', 'SpikeCLIP', 'StageModel',
           'load_stage_checkpoint']
