"""Confidence intervals for figures measured on small test sets.

A test set simulated from a few photographs has few independent units: windows of one photograph
share its content, so a bootstrap over windows alone gives intervals that are too narrow. The
bootstrap here is two-level (a cluster bootstrap): each replicate draws the groups (photographs)
with replacement, then the windows within each drawn group with replacement.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..utils.errors import ConfigError


def bootstrap_ci(values: Sequence[float], groups: Optional[Sequence] = None,
                 num_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> Tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``, resampling groups then members.

    Args:
        values (Sequence[float]): One value per unit ``[N]`` (e.g. 1/0 for a right/wrong
            top-1, or a paired difference).
        groups (Sequence, optional): The group of each unit ``[N]`` (e.g. its source image);
            None treats every unit as its own group (a plain bootstrap).
        num_boot (int): Replicates. Defaults to 2000.
        level (float): Coverage of the interval. Defaults to 0.95.
        seed (int): Seed of the resampling, so that a report is reproducible. Defaults to 0.

    Returns:
        tuple: ``(low, high)`` bounds of the mean.

    Raises:
        ConfigError: No values, lengths that differ, or ``level`` outside (0, 1).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ConfigError('bootstrap_ci: no values')
    if not 0 < level < 1 or num_boot < 1:
        raise ConfigError(f'bootstrap_ci: level must lie in (0, 1) and num_boot >= 1, got '
                          f'{level}, {num_boot}')
    if groups is None:
        members = [np.arange(x.size)]
        per_unit = True
    else:
        g = np.asarray(list(groups), dtype=object)
        if g.size != x.size:
            raise ConfigError(f'bootstrap_ci: {x.size} values but {g.size} groups')
        keys = {k: i for i, k in enumerate(dict.fromkeys(g.tolist()))}
        ids = np.array([keys[k] for k in g.tolist()])
        members = [np.flatnonzero(ids == i) for i in range(len(keys))]
        per_unit = False
    rng = np.random.default_rng(seed)
    means = np.empty(num_boot)
    for b in range(num_boot):
        if per_unit:
            means[b] = x[rng.integers(0, x.size, x.size)].mean()
            continue
        picked = rng.integers(0, len(members), len(members))
        sample = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in
                                 (members[i] for i in picked)])
        means[b] = x[sample].mean()
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def mean_with_ci(values: Sequence[float], groups: Optional[Sequence] = None, scale: float = 1.0,
                 **kwargs) -> Dict[str, float]:
    """``{'mean', 'low', 'high'}`` of ``values`` times ``scale`` (100 for percentages), with
    :func:`bootstrap_ci`'s interval."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    low, high = bootstrap_ci(x, groups, **kwargs)
    return dict(mean=float(x.mean()) * scale, low=low * scale, high=high * scale)
