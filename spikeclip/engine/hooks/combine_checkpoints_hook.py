"""Combines the stage checkpoints into one model file when stage 3 finishes training."""
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...registry import HOOKS
from ...utils.errors import CheckpointError
from .utils import unwrapped_model


@HOOKS.register_module()
class CombineCheckpointsHook(Hook):
    """At the end of a stage-3 run, write the combined model (as ``tools/combine_checkpoints.py``).

    By default the stage-2 and stage-1 checkpoints are the ones the refine model was built from
    (recorded as its ``sources``), the stage-3 checkpoint is this run's ``refine_best.pth``, and
    the combined file goes next to the stage work dirs: ``<work_dir>/../combined_model.pth``.

    Args:
        out (str, optional): Combined model file.
        coarse (str, optional): Stage-1 checkpoint.
        prompt (str, optional): Stage-2 checkpoint.
        refine (str, optional): Stage-3 checkpoint.
    """
    priority = 'LOWEST'

    def __init__(self, out: Optional[str] = None, coarse: Optional[str] = None,
                 prompt: Optional[str] = None, refine: Optional[str] = None):
        self.out, self.coarse, self.prompt, self.refine = out, coarse, prompt, refine

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        from ...apis.combine import combine_checkpoints
        model = unwrapped_model(runner)
        sources = getattr(model, 'sources', {}) or {}
        coarse = self.coarse or sources.get('coarse')
        prompt = self.prompt or sources.get('prompt')
        if not coarse or not prompt:
            raise CheckpointError('CombineCheckpointsHook: the model does not record its stage-1 '
                                  'and stage-2 checkpoints; set coarse= and prompt=')
        refine = self.refine or osp.join(runner.work_dir, 'refine_best.pth')
        out = self.out or osp.join(osp.dirname(osp.abspath(runner.work_dir)), 'combined_model.pth')
        combine_checkpoints(coarse, prompt, refine, out)
        runner.logger.info(f'combined model written to {out}')
