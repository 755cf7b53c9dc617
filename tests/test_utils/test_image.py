"""The one image reader (to_grey / read_grey) and the one float-to-8-bit rule (to_uint8)."""
import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.apis import to_uint8 as public_to_uint8
from spikeclip.utils.image import IMAGE_EXTENSIONS, read_grey, to_grey, to_uint8


def test_to_uint8_rounds_half_up_after_clamping():
    x = torch.tensor([[-0.5, 0.0, 0.5 / 255, 0.49 / 255, 0.5, 1.0, 7.0]])
    assert to_uint8(x).tolist() == [[0, 0, 1, 0, 128, 255, 255]]
    assert to_uint8(x[None, None]).shape == (1, 7)  # [1, 1, H, W] -> [H, W]
    assert public_to_uint8 is to_uint8  # README documents spikeclip.apis.to_uint8


def test_to_uint8_keeps_the_precision_and_shape_asked_for():
    # 0.5 / 255 + 1e-12 rounds up in float64 and is 0.5 / 255 again in float32 (still up).
    x64 = np.full((2, 3), 127.5 / 255 - 1e-12)
    assert (to_uint8(x64) == 127).all()  # float64 kept: just below the half
    assert (to_uint8(x64.astype(np.float32)) == 128).all()  # float32 rounds it onto the half
    rgb = np.zeros((4, 5, 3))
    rgb[..., 1] = 1
    assert to_uint8(rgb, keep_shape=True).shape == (4, 5, 3)
    with pytest.raises(ValueError):
        to_uint8(rgb)  # three channels are not a grey image


def test_to_grey_handles_colour_alpha_bool_and_float():
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[..., 1] = 255
    g = to_grey(rgb, short_side=5)
    assert g.shape == (5, 10) and np.allclose(g, 150 / 255, atol=2 / 255)  # 0.587 * 255
    assert to_grey(np.zeros((4, 4, 4), np.uint8), None).shape == (4, 4)
    assert to_grey(np.ones((4, 6), bool), None).min() == 1.0
    assert np.allclose(to_grey(np.full((4, 4), 0.5), None), 0.5, atol=1 / 255)


def test_read_grey_resizes_crops_and_keeps_16_bits(tmp_path):
    ramp = (np.arange(12 * 20).reshape(12, 20) % 256).astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / 'ramp.png')
    assert np.array_equal(read_grey(str(tmp_path / 'ramp.png')), ramp / np.float32(255))
    square = read_grey(str(tmp_path / 'ramp.png'), 6, Image.Resampling.BILINEAR, square=True)
    resized = np.asarray(Image.fromarray(ramp).resize((10, 6), Image.Resampling.BILINEAR))
    assert np.array_equal(square, resized[:, 2:8] / np.float32(255))
    deep = np.array([[0, 1, 257, 65535]], np.uint16)  # 1 and 257 are one 8-bit level apart
    Image.fromarray(deep).save(tmp_path / 'deep.png')
    assert np.allclose(read_grey(str(tmp_path / 'deep.png')), deep / 65535, atol=1e-7)
    assert '.png' in IMAGE_EXTENSIONS and '.pgm' in IMAGE_EXTENSIONS
