"""A sampler whose indices tell the dataset the epoch (for per-epoch draws in worker processes)."""
from typing import Iterator, Sized

from mmengine.dataset import DefaultSampler

from ..registry import DATA_SAMPLERS
from ..utils.errors import ConfigError


@DATA_SAMPLERS.register_module()
class EpochIndexSampler(DefaultSampler):
    """``DefaultSampler`` (same shuffling, seed and distributed split) that yields
    ``epoch * len(dataset) + i`` instead of ``i``.

    A dataset that draws something anew every epoch (:class:`UnpairedImageDataset`: which clean
    image goes with each spike sample) decodes the epoch from the index. The epoch has to travel
    with the index: DataLoader workers hold their own copy of the dataset, so setting an
    attribute on it from the main process reaches no worker once they run (persistent workers).
    ``DistSamplerSeedHook`` sets the epoch, also after resuming, so draws depend only on the
    seed and the epoch.

    The sampler's seed (the runner's ``randomness.seed``) becomes the dataset's ``seed`` where
    the dataset was given none.

    Args:
        dataset (Sized): A dataset with ``takes_epoch_indices = True``.
        **kwargs: ``DefaultSampler``'s ``shuffle``, ``seed``, ``round_up``.

    Raises:
        ConfigError: The dataset does not decode epoch indices.
    """

    def __init__(self, dataset: Sized, **kwargs):
        if not getattr(dataset, 'takes_epoch_indices', False):
            raise ConfigError(f'EpochIndexSampler needs a dataset that decodes epoch indices '
                              f'(e.g. UnpairedImageDataset), not {type(dataset).__name__}; use '
                              "DefaultSampler")
        super().__init__(dataset, **kwargs)
        if getattr(dataset, 'seed', 0) is None:
            dataset.seed = self.seed

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * len(self.dataset)
        return (offset + i for i in super().__iter__())
