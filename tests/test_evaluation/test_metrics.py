"""Metrics against scikit-image, and accuracy."""
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from spikeclip.evaluation import MAE, MSE, PSNR, SSIM, Accuracy


def _run(metric, samples):
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_image_metrics_match_scikit_image():
    rng = np.random.default_rng(0)
    gt = rng.random((3, 1, 33, 47)).astype(np.float32)
    pred = np.clip(gt + rng.normal(0, 0.05, gt.shape), 0, 1).astype(np.float32)
    samples = [dict(gt_img=torch.from_numpy(g), pred_img=torch.from_numpy(p))
               for g, p in zip(gt, pred)]
    want = {
        'PSNR': np.mean([peak_signal_noise_ratio(g[0], p[0], data_range=1)
                         for g, p in zip(gt, pred)]),
        'SSIM': np.mean([structural_similarity(g[0], p[0], data_range=1, gaussian_weights=True,
                                               sigma=1.5, use_sample_covariance=False)
                         for g, p in zip(gt, pred)]),
        'MAE': np.abs(gt - pred).mean(),
        'MSE': ((gt - pred)**2).mean(),
    }
    for cls in (PSNR, SSIM, MAE, MSE):
        got = _run(cls(), samples)[cls.__name__]
        assert got == pytest.approx(want[cls.__name__], rel=1e-3, abs=1e-4), cls.__name__


def test_image_metrics_skip_samples_without_reference_and_score_the_chosen_field():
    img = torch.full((1, 8, 8), 0.5)
    samples = [dict(pred_img=img), dict(gt_img=img, pred_img=img * 0, pred_coarse=img)]
    assert _run(MAE(), samples) == {'MAE': pytest.approx(0.5)}
    assert _run(MAE(pred_key='pred_coarse'), samples) == {'MAE': 0.0}
    assert _run(PSNR(), [dict(pred_img=img)]) == {}


def test_accuracy_top1_top5():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    samples = [dict(pred_score=s, gt_label=torch.tensor(lbl)) for s, lbl in
               zip(scores, [1, 2, 0])]
    out = _run(Accuracy(topk=(1, 2)), samples)
    assert out == {'top1': pytest.approx(100 / 3), 'top2': pytest.approx(100 / 3)}
    zs = [dict(pred_score_zeroshot=s, gt_label=torch.tensor(1)) for s in scores]
    # label 1 is first in row 0 only; second in rows 1 and 2
    zeroshot = _run(Accuracy(topk=(1, 2), score_key='pred_score_zeroshot'), zs)
    assert zeroshot == {'top1': pytest.approx(100 / 3), 'top2': pytest.approx(100.0)}
    with pytest.raises(ValueError):
        Accuracy(topk=0)


def test_accuracy_counts_non_finite_scores_as_wrong():
    nan = torch.tensor([float('nan'), 0.5, 0.2])
    inf = torch.tensor([0.1, float('inf'), 0.2])
    good = torch.tensor([0.1, 0.7, 0.2])
    samples = [dict(pred_score=s, gt_label=torch.tensor(1)) for s in (nan, inf, good)]
    out = _run(Accuracy(topk=(1, 5)), samples)  # k=5 > 3 classes: finite scores all count
    assert out == {'top1': pytest.approx(100 / 3), 'top5': pytest.approx(100 / 3)}


def test_gmsd_is_zero_for_the_reference_and_grows_as_detail_is_smoothed_away():
    import torch.nn.functional as F

    from spikeclip.evaluation.metrics import gmsd
    from spikeclip.simulation.dead_leaves import dead_leaves
    ref = torch.from_numpy(dead_leaves(96, np.random.default_rng(0)))[None, None].float()
    assert float(gmsd(ref, ref)[0]) == pytest.approx(0.0, abs=1e-9)
    blurred = [ref]
    for _ in range(3):
        blurred.append(F.avg_pool2d(F.pad(blurred[-1], (1, 1, 1, 1), mode='replicate'), 3,
                                    stride=1))
    scores = [float(gmsd(b, ref)[0]) for b in blurred]
    assert scores[0] < scores[1] < scores[2] < scores[3]
    # a brightness gain keeps the edges where they are but changes their strength
    assert float(gmsd(ref * 0.5, ref)[0]) > 0.01
    assert gmsd(torch.cat([ref, blurred[2]]), torch.cat([ref, ref])).shape == (2, )
