"""Display exposure: parsing, the automatic gain, the sample of a range."""
import numpy as np
import pytest
import torch

from spikeclip.utils.errors import ConfigError
from spikeclip.utils.exposure import (
    MAX_AUTO_GAIN,
    Exposure,
    auto_gain,
    sample_positions,
    to_display,
)
from spikeclip.utils.image import to_uint8


def test_parse_accepts_the_three_forms_and_refuses_the_rest():
    assert Exposure.parse('auto') == Exposure('auto') == Exposure.parse(None)
    assert Exposure.parse(' Linear ').gain() == 1.0
    assert Exposure.parse('2.5').gain() == 2.5 and str(Exposure.parse(2)) == '2.0'
    for bad in ('0', '-1', 'nan', 'inf', 'bright', True):
        with pytest.raises(ConfigError, match='--exposure .*auto, linear or a positive finite'):
            Exposure.parse(bad)


def test_auto_gain_maps_the_high_percentile_to_white():
    rates = np.linspace(0, 0.25, 1001, dtype=np.float32)  # 99.5th percentile: ~0.249
    gain = auto_gain([rates])
    assert gain == pytest.approx(1 / np.percentile(rates, 99.5))
    assert to_display(rates, gain).max() == 255 and (to_display(rates, gain) == 255).mean() < 0.01
    # pooled over images: one gain for all, from the brightest part
    assert auto_gain([rates[:500], torch.from_numpy(rates[500:])]) == pytest.approx(gain)
    assert auto_gain([np.zeros((4, 4))]) == 1.0  # black: nothing to expose
    assert auto_gain([np.full((4, 4), 1e-6)]) == MAX_AUTO_GAIN
    assert auto_gain([np.ones((4, 4))]) == 1.0  # never darker than the rate


def test_gain_one_is_the_rate_bit_for_bit():
    img = torch.rand(1, 7, 9)
    np.testing.assert_array_equal(to_display(img, 1.0), to_uint8(img))
    np.testing.assert_array_equal(to_display(img, 2.0), to_uint8(img * 2))


def test_sample_positions_spread_over_the_range():
    assert sample_positions(0) == [] and sample_positions(1) == [0]
    assert sample_positions(3) == [0, 1, 2]
    assert sample_positions(100, 8) == [0, 14, 28, 42, 57, 71, 85, 99]
