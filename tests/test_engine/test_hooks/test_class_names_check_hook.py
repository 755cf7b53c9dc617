"""ClassNamesCheckHook in a real Runner: a class list of another length stops the run before a
step; one of the same length with other names is logged as a warning."""
import os.path as osp

import pytest

from spikeclip.engine.hooks.class_names_check_hook import check_class_names
from spikeclip.utils.errors import ConfigError

HOOK = [dict(type='ClassNamesCheckHook')]


def test_another_number_of_classes_stops_training_before_a_step(make_runner, tmp_path):
    runner = make_runner(class_names=['cat', 'dog', 'fox'], classes=['cat', 'dog'],
                         custom_hooks=HOOK)
    with pytest.raises(ConfigError, match=r"the model has 3 class names but the train data "
                       r"\(Images\) has 2 classes \(labels 0-1: \['cat', 'dog'\]\)"):
        runner.train()
    assert runner.iter == 0 and not list(tmp_path.glob('*.pth'))


def test_other_names_of_the_same_number_are_a_warning(make_runner, tmp_path):
    runner = make_runner(class_names=['cat', 'dog'], classes=['cat', 'wolf'],
                         custom_hooks=HOOK)
    runner.test()
    log = open(osp.join(str(tmp_path), runner.timestamp, f'{runner.timestamp}.log')).read()
    assert "the model's class names differ from the test data's (Images) at 1 of 2 labels, " \
           "e.g. label 1: 'dog' (model) vs 'wolf' (data)" in log


def test_models_and_data_without_classes_are_not_checked(make_runner):
    make_runner(class_names=[], classes=['a', 'b'], custom_hooks=HOOK).train()
    make_runner(class_names=['a', 'b', 'c'], custom_hooks=HOOK).val()


def test_class_lists_of_one_length_with_other_names_warn():
    assert check_class_names(['a', 'b'], ['a', 'b'], 'train', 'D') is None
    assert check_class_names([], ['a', 'b'], 'train', 'D') is None  # a model without classes
    warning = check_class_names(['cat', 'dog'], ['cat', 'wolf'], 'test', 'UHSRDataset')
    assert "label 1: 'dog' (model) vs 'wolf' (data)" in warning
