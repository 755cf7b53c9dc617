"""Titled grids of spike samples: panels, PSNR titles, enlargement, the registered visualizer."""
import uuid

import numpy as np
import pytest
import torch
from PIL import Image

from spikeclip.benchmarks.quality import fitted_score
from spikeclip.models.encoders import fit_gain
from spikeclip.registry import VISUALIZERS
from spikeclip.structures import SpikeDataSample
from spikeclip.utils.image import to_uint8
from spikeclip.visualization import (
    SpikeVisualizer,
    grid_caption,
    make_grid,
    panel_note,
    panel_titles,
    spike_panels,
)
from spikeclip.visualization.grid import NOTE_HEIGHT, TITLE_HEIGHT


def _sample(h=16, w=24):
    torch.manual_seed(0)
    spikes = (torch.rand(40, h, w) < 0.3).float()
    gt = torch.rand(1, h, w)
    sample = SpikeDataSample(metainfo=dict(label_name='cat'))
    sample.gt_img = gt
    sample.pred_coarse = (gt + 0.1).clamp(0, 1)
    sample.pred_img = (gt + 0.05).clamp(0, 1)
    sample.pred_label = torch.tensor(1)
    return spikes, sample


def test_panels_in_order_with_their_psnr():
    spikes, sample = _sample()
    panels = spike_panels(spikes, sample)
    assert [n for n, _ in panels] == ['spike count', 'TFP', 'coarse', 'refined', 'reference']
    assert all(p.dtype == np.uint8 and p.shape == (16, 24) for _, p in panels)
    titles = panel_titles(spikes, sample)
    assert titles[4] == 'reference'
    # Every title is the benchmark's fitted-gain PSNR of that very image (the spike count and
    # TFP as rates, not stretched to their maximum).
    gt = sample.gt_img[None]
    images = [spikes.mean(0), spikes[4:36].mean(0), sample.pred_coarse, sample.pred_img]
    for title, name, img in zip(titles, ('spike count', 'TFP', 'coarse', 'refined'), images):
        expected = fitted_score(img.reshape(1, 1, 16, 24), gt)['psnr']
        assert title == f'{name} {expected:.2f} dB'
    assert 'least-squares gain per panel (as tools/benchmark_quality.py)' in panel_note(spikes,
                                                                                        sample)
    # Without a reference there is nothing to score against; a coarse-only model has no refined.
    del sample.gt_img
    sample.pred_img = sample.pred_coarse
    assert panel_titles(spikes, sample) == ['spike count', 'TFP', 'coarse']


def test_grid_enlarges_small_panels_and_titles_each():
    spikes, sample = _sample()
    panels = spike_panels(spikes, sample)
    grid = make_grid(panels, panel_titles(spikes, sample), min_size=64, gap=8)
    scale = 4  # 16-pixel rows enlarged to 64
    assert grid.shape == (TITLE_HEIGHT + 16 * scale, 5 * 24 * scale + 4 * 8, 3)
    # Each panel is its image, every pixel a scale x scale square.
    ref = grid[TITLE_HEIGHT:, 4 * (24 * scale + 8):, 0]
    np.testing.assert_array_equal(ref[::scale, ::scale], panels[4][1])
    # A title was drawn above every panel.
    for i in range(5):
        strip = grid[:TITLE_HEIGHT, i * (24 * scale + 8):(i + 1) * 24 * scale + i * 8]
        assert strip.min() < 128
    assert make_grid(panels, min_size=0).shape == (TITLE_HEIGHT + 16, 5 * 24 + 4 * 8, 3)


def test_caption_names_panels_and_classes():
    spikes, sample = _sample()
    text = grid_caption(spike_panels(spikes, sample), sample, ['dog', 'cat'])
    assert text == ('spike count | TFP | coarse | refined | reference; class: cat; '
                    'predicted: cat')
    assert grid_caption(spike_panels(spikes, sample), sample, note='how') == (
        'spike count | TFP | coarse | refined | reference; class: cat; how')


def test_registered_visualizer_writes_png_and_backends(tmp_path):
    vis = VISUALIZERS.build(dict(type='SpikeVisualizer', name=f'v{uuid.uuid4().hex}',
                                 vis_backends=[dict(type='LocalVisBackend')],
                                 save_dir=str(tmp_path / 'vis'), min_size=32))
    assert isinstance(vis, SpikeVisualizer)
    spikes, sample = _sample()
    out = tmp_path / 'show' / 'a.png'
    grid, caption = vis.add_datasample('a', spikes, sample, step=3, out_file=str(out))
    np.testing.assert_array_equal(np.asarray(Image.open(out)), grid)
    assert grid.shape[0] == TITLE_HEIGHT + 32 + NOTE_HEIGHT and 'reference' in caption
    assert caption.endswith('fitted to the reference')
    sent = np.asarray(Image.open(tmp_path / 'vis' / 'vis_data' / 'vis_image' / 'a_3.png'))
    np.testing.assert_array_equal(sent, grid)


@pytest.mark.parametrize('tfp_window', [8, None])
def test_tfp_panel_is_the_centred_window(tfp_window):
    spikes = torch.zeros(40, 4, 4)
    spikes[16:24, 0, 0] = 1  # fires only in the centre 8 frames
    spikes[:, 1, 1] = 1  # fires always
    tfp = dict(spike_panels(spikes, tfp_window=tfp_window))['TFP']
    assert tfp[1, 1] == 255
    if tfp_window == 8:
        assert tfp[0, 0] == 255
    else:  # shown at the display gain, which keeps the ratio of rates
        assert tfp[0, 0] == pytest.approx(255 * 8 / 40, abs=0.5 + 0.1 * 255 * 8 / 40)
        assert 255 * 8 / 40 <= tfp[0, 0] < 255


def test_every_panel_is_drawn_at_one_display_gain():
    """The rates share one gain, the model's least-squares gain to the reference: a panel twice
    as bright as another stays twice as bright, and the model's image shows the reference's
    brightness."""
    torch.manual_seed(0)
    gt = torch.rand(1, 16, 24) * 0.8 + 0.1
    spikes = (torch.rand(40, 16, 24) < 0.3 * gt).float()  # rates = 0.3 * reference
    sample = SpikeDataSample()
    sample.gt_img, sample.pred_img = gt, 0.3 * gt
    panels = dict(spike_panels(spikes, sample, tfp_window=None))
    gain = fit_gain(sample.pred_img, gt)
    assert gain == pytest.approx(1 / 0.3)
    np.testing.assert_array_equal(panels['refined'], np.asarray(to_uint8(gain * 0.3 * gt)))
    np.testing.assert_array_equal(panels['TFP'], to_uint8(gain * spikes.mean(0)))
    np.testing.assert_array_equal(panels['spike count'], panels['TFP'])
    assert f'x{gain:.3g}' in panel_note(spikes, sample)
