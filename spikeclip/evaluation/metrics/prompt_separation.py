"""How well the learned high/low-quality prompts tell clean images from stage-1 output."""
from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric

from ...registry import METRICS


@METRICS.register_module()
class PromptSeparation(BaseMetric):
    """HQ/LQ separation accuracy in percent.

    Reads ``gt_quality`` (probability of "high quality" for the clean image) and ``pred_quality``
    (the same for the stage-1 image) written by ``PromptModel``: a clean image counts as right
    above 0.5, a stage-1 image below 0.5. Also reports the mean probabilities.
    """
    default_prefix = ''  # metric names without a prefix unless one is configured

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key, is_hq in (('gt_quality', True), ('pred_quality', False)):
                prob = sample.get(key)
                if prob is not None:
                    self.results.append((is_hq, float(prob)))

    def compute_metrics(self, results: list) -> dict:
        if not results:
            return {}
        right = [(p > 0.5) == is_hq for is_hq, p in results]
        out = {'hq_lq_acc': 100.0 * sum(right) / len(right)}
        for name, flag in (('hq_prob_clean', True), ('hq_prob_coarse', False)):
            probs = [p for is_hq, p in results if is_hq == flag]
            if probs:
                out[name] = sum(probs) / len(probs)
        return out
