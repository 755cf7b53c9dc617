"""Refuses data whose class list does not match the model's before a step is taken."""
import logging
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...registry import HOOKS
from ...utils.errors import ConfigError
from .utils import unwrapped_model


def check_class_names(model_names: Sequence[str], data_names: Sequence[str],
                      split: str, dataset: str) -> Optional[str]:
    """Compare the model's class names with a dataset's.

    Args:
        model_names (Sequence[str]): ``model.class_names`` (index = label).
        data_names (Sequence[str]): The dataset's ``metainfo['classes']`` (index = label).
        split (str): ``'train'``, ``'val'`` or ``'test'``, for the message.
        dataset (str): The dataset's type, for the message.

    Returns:
        str | None: A warning when both lists have the same length but other names.

    Raises:
        ConfigError: The lists have different lengths, so the labels of the data index another
            list than the model's prompts and scores.
    """
    model_names, data_names = list(model_names), list(data_names)
    if not model_names or not data_names or model_names == data_names:
        return None
    if len(model_names) != len(data_names):
        raise ConfigError(
            f'the model has {len(model_names)} class names but the {split} data ({dataset}) has '
            f'{len(data_names)} classes (labels 0-{len(data_names) - 1}: '
            f'{_preview(data_names)}); set model.class_names to the data\'s class list '
            f'(model: {_preview(model_names)})')
    diff = [i for i, (a, b) in enumerate(zip(model_names, data_names)) if a != b]
    return (f'the model\'s class names differ from the {split} data\'s ({dataset}) at '
            f'{len(diff)} of {len(data_names)} labels, e.g. label {diff[0]}: '
            f'{model_names[diff[0]]!r} (model) vs {data_names[diff[0]]!r} (data)')


def _preview(names: Sequence[str], n: int = 4) -> str:
    shown = ', '.join(repr(x) for x in names[:n])
    return f'[{shown}{", ..." if len(names) > n else ""}]'


@HOOKS.register_module()
class ClassNamesCheckHook(Hook):
    """Checks that every dataset's class list has the model's length before training or testing.

    A model trained with ``K`` class names scores ``K`` prompts; data labelled over another list
    would train and score the wrong classes (or fail deep inside a loss with an index error).
    Lists of equal length with other names are logged as a warning (prompts may be phrased
    differently from folder names). Models or datasets without classes are not checked.
    """
    priority = 'VERY_HIGH'

    def _check(self, runner, loader, split: str) -> None:
        model = unwrapped_model(runner)
        dataset = getattr(loader, 'dataset', None)
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes') or ()
        warning = check_class_names(getattr(model, 'class_names', None) or (), classes, split,
                                    type(dataset).__name__)
        if warning:
            print_log(warning, logger='current', level=logging.WARNING)

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')
