"""A tiny stage-like model, data and metric, and a real MMEngine Runner around them, for the
hook tests."""
import uuid
from typing import Optional, Sequence

import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


class Images(Dataset):
    """Eight ``[1, 4, 4]`` random images whose target is twice the image."""

    def __init__(self, classes: Optional[Sequence[str]] = None):
        self.metainfo = dict(classes=tuple(classes)) if classes is not None else {}

    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(i))
        return dict(inputs=x, data_samples=2 * x)


class ToyStage(BaseModel):
    """A two-convolution "stage": ``stage``, ``class_names``, ``sources`` and ``export_cfg`` as
    the stage models have them."""

    def __init__(self, stage: Optional[str] = 'coarse', class_names: Sequence[str] = (),
                 sources: Optional[dict] = None):
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(4, 1, 3, padding=1))
        self.stage, self.class_names, self.sources = stage, list(class_names), sources or {}

    def export_cfg(self) -> dict:
        return dict(type='ToyStage', class_names=self.class_names)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        pred = self.conv(inputs)
        if mode == 'loss':
            return dict(loss=F.mse_loss(pred, data_samples))
        if mode == 'predict':
            return [dict(pred=p, gt=t) for p, t in zip(pred, data_samples)]
        return pred


class ScriptedScore(BaseMetric):
    """``score``: the next value of ``values`` at each evaluation (so the best epoch is known)."""
    default_prefix = None

    def __init__(self, values: Sequence[float]):
        super().__init__()
        self.values, self.calls = list(values), 0

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        self.calls += 1
        return dict(score=self.values[min(self.calls, len(self.values)) - 1])


def _loader(classes=None):
    return dict(dataset=Images(classes), batch_size=4, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='default_collate'))


@pytest.fixture
def make_runner(tmp_path):
    """``make_runner(model=None, epochs=1, scores=(1.0,), classes=None, custom_hooks=(),
    default_hooks=None, work_dir=None, stage='coarse', class_names=(), sources=None,
    **runner_kwargs)``: a CPU Runner that trains ``model`` (by default a :class:`ToyStage` of
    ``stage``, ``class_names`` and ``sources``) on :class:`Images` (of ``classes``) with
    validation every epoch (``score`` from ``scores``) and a test loop."""

    def make(model=None, epochs: int = 1, scores=(1.0, ), classes=None, custom_hooks=(),
             default_hooks=None, work_dir=None, stage='coarse', class_names=(), sources=None,
             **kwargs) -> Runner:
        args = dict(
            model=model if model is not None else ToyStage(stage, class_names, sources),
            work_dir=str(work_dir or tmp_path), experiment_name=f'hook_{uuid.uuid4().hex}',
            train_dataloader=_loader(classes), val_dataloader=_loader(classes),
            test_dataloader=_loader(classes),
            train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=1), val_cfg=dict(),
            test_cfg=dict(), val_evaluator=Evaluator(ScriptedScore(scores)),
            test_evaluator=Evaluator(ScriptedScore(scores)),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            default_hooks=dict(dict(logger=dict(type='LoggerHook', interval=1),
                                    checkpoint=dict(type='CheckpointHook', interval=1)),
                               **(default_hooks or {})),
            custom_hooks=list(custom_hooks), default_scope='spikeclip')
        args.update(kwargs)
        return Runner(**args)

    return make
