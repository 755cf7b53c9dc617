"""Random state as a function of (seed, iteration): a resumed run repeats an unbroken one."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from ...registry import HOOKS


def iteration_seed(seed: int, iteration: int) -> int:
    """A 32-bit seed drawn from ``(seed, iteration)`` (independent streams per iteration)."""
    return int(np.random.SeedSequence([int(seed), int(iteration)]).generate_state(1)[0])


@HOOKS.register_module()
class IterSeedHook(Hook):
    """Reseeds Python's, NumPy's and torch's global generators before every training iteration.

    MMEngine seeds the generators once at start-up and stores neither their state nor a way to
    rebuild it in checkpoints; and between two training epochs the validation loop and every
    ``DataLoader`` iterator draw from torch's generator. A run resumed from the checkpoint of
    epoch ``k`` therefore starts epoch ``k + 1`` with another random state than the run that was
    interrupted, and any randomness in the training step (dropout, random masks, noise drawn in
    a loss) makes the two diverge. Seeding from ``(runner.seed, runner.iter)`` gives iteration
    ``i`` the same random numbers in both, whatever happened before it.

    ``runner.seed`` already includes the rank where ``randomness.diff_rank_seed`` is set.
    DataLoader worker processes have their own generators (MMEngine seeds them per worker);
    the toolkit's datasets draw from per-index generators and need none.
    """
    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed = iteration_seed(runner.seed, runner.iter)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # CUDA generators too
