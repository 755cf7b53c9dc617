"""Validates the untrained model once before training, so that it can be the best checkpoint."""
from mmengine.hooks import Hook

from ...registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Run the validation loop before the first training epoch (not when resuming).

    The stage-3 refiner starts as the identity (its last convolution is zero), so validating it
    first records the coarse image's score as "epoch 0" in the logs, and the best-checkpoint
    logic then keeps the untrained refiner unless training beats it: refinement never ends with
    less fidelity on the validation set than the coarse image had.
    """
    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) has set up its file backend

    def before_train(self, runner) -> None:
        if runner.val_loop is not None and not runner._has_loaded and runner.iter == 0:
            runner.val_loop.run()
