import numpy as np
import pytest

from spikeclip.evaluation.intervals import bootstrap_ci, mean_with_ci
from spikeclip.utils.errors import ConfigError


def test_a_plain_bootstrap_covers_the_mean_with_the_binomial_width():
    rng = np.random.default_rng(0)
    hits = (rng.random(400) < 0.6).astype(float)
    low, high = bootstrap_ci(hits)
    assert low < hits.mean() < high
    # the normal approximation of a binomial proportion: +-1.96 * sqrt(p (1 - p) / n)
    half = 1.96 * np.sqrt(0.6 * 0.4 / 400)
    assert abs((high - low) / 2 - half) < 0.25 * half


def test_groups_widen_the_interval_when_their_members_agree():
    # 12 images, 40 windows each; every window of an image is right or wrong together.
    rng = np.random.default_rng(1)
    per_image = (rng.random(12) < 0.5).astype(float)
    hits = np.repeat(per_image, 40)
    groups = np.repeat(np.arange(12), 40)
    plain = bootstrap_ci(hits)
    clustered = bootstrap_ci(hits, groups)
    assert (clustered[1] - clustered[0]) > 3 * (plain[1] - plain[0])
    assert clustered[0] <= hits.mean() <= clustered[1]


def test_intervals_are_reproducible_and_scaled():
    x = [1, 0, 1, 1, 0, 1]
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    m = mean_with_ci(x, scale=100)
    assert m['low'] <= m['mean'] <= m['high'] and m['mean'] == pytest.approx(400 / 6)


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match='no values'):
        bootstrap_ci([])
    with pytest.raises(ConfigError, match='3 values but 2 groups'):
        bootstrap_ci([1, 0, 1], groups=['a', 'b'])
    with pytest.raises(ConfigError, match='level'):
        bootstrap_ci([1, 0], level=1.5)
