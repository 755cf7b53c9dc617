"""Stage-2 prompt adapters around a frozen CLIP."""
from .class_prompt import ClassPromptLearner, zero_shot_class_features
from .hq_lq_prompt import HQLQPromptLearner, init_context, relative_drift

__all__ = [
    'ClassPromptLearner', 'HQLQPromptLearner', 'init_context', 'relative_drift',
    'zero_shot_class_features'
]
