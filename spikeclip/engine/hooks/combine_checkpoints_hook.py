"""Combines the stage checkpoints into one model file when stage 3 finishes training."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ...registry import HOOKS


@HOOKS.register_module()
class CombineCheckpointsHook(Hook):
    """At the end of a stage-3 run, write the combined model (``tools/combine_checkpoints.py``).

    Args:
        coarse (str): Stage-1 checkpoint.
        prompt (str): Stage-2 checkpoint.
        out (str): Combined model file.
        refine (str, optional): Stage-3 checkpoint; defaults to this run's ``refine_best.pth``.
    """
    priority = 'LOWEST'

    def __init__(self, coarse: str, prompt: str, out: str, refine: str = None):
        self.coarse, self.prompt, self.out, self.refine = coarse, prompt, out, refine

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        from ...apis.combine import combine_checkpoints
        refine = self.refine or osp.join(runner.work_dir, 'refine_best.pth')
        combine_checkpoints(self.coarse, self.prompt, refine, self.out)
        runner.logger.info(f'combined model written to {self.out}')
