"""Top-k classification accuracy of ``pred_score`` against ``gt_label``."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.evaluator import BaseMetric

from ...registry import METRICS

NONFINITE_RANK = 2**62  # the rank given to non-finite scores: beyond every k


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent.

    Samples without ``gt_label`` or ``pred_score`` are skipped. A ``k`` larger than the number of
    classes counts every sample as correct, as top-k over all classes would. Scores with a NaN or
    Inf count as wrong for every ``k`` (a NaN compares false with everything, so counting the
    classes above the label would rank it first).

    Args:
        topk (int | tuple[int]): The k values. Defaults to ``(1, 5)``.
        score_key (str): Data-sample field of the class probabilities: ``'pred_score'`` or
            ``'pred_score_zeroshot'`` (hand-written prompts, stage 2). Defaults to ``'pred_score'``.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix.
    """
    default_prefix = ''  # metric names without a prefix unless one is configured

    def __init__(self, topk: Union[int, Tuple[int, ...]] = (1, 5), score_key: str = 'pred_score',
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.score_key = score_key
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f'topk must be positive integers, got {topk}')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            score, label = sample.get(self.score_key), sample.get('gt_label')
            if score is None or label is None:
                continue
            score = score.float()
            if not torch.isfinite(score).all():
                self.results.append(NONFINITE_RANK)
                continue
            self.results.append(int((score > score[int(label)]).sum()))

    def compute_metrics(self, results: list) -> dict:
        if not results:
            return {}
        ranks = torch.tensor(results)
        return {f'top{k}': float((ranks < k).float().mean() * 100) for k in self.topk}
