"""The quality comparison gives the baselines their best window and gain."""
import pytest

from spikeclip.apis.quality import compare_with_baselines, format_report
from spikeclip.datasets import SimulatedSpikeDataset
from spikeclip.models.stages import CoarseModel


@pytest.mark.parametrize('window', [16, 64])
def test_a_tfp_model_cannot_beat_tfp_at_its_best(window):
    data = SimulatedSpikeDataset(split='test', num_samples=6, crop_size=24, num_frames=64, seed=3)
    model = CoarseModel(encoder=dict(type='TFP', window=window, gain=2.0)).eval()
    report = compare_with_baselines(model, data, windows=(8, 16, 32, 64), batch_size=4)
    assert report['num_samples'] == 6
    assert set(report['tfp']['windows']) == {8, 16, 32, 64}
    best = report['tfp']
    assert best['psnr'] == max(w['psnr'] for w in best['windows'].values())
    # the same estimator with a fitted gain and the best window is at least as good
    assert report['margin_db'] <= 1e-6
    assert report['model']['psnr'] <= best['windows'][window]['psnr'] + 1e-6
    assert 'margin over the best baseline' in format_report({'tiny': report})
