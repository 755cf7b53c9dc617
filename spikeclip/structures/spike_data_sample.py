"""The one data-sample class of the toolkit."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement


class SpikeDataSample(BaseDataElement):
    """Annotations and predictions of one spike window.

    Data fields (all optional, tensors):
        gt_img: reference image ``[1, H, W]`` float in [0, 1] (grey, as the camera sees).
        gt_label: class index, long scalar tensor.
        pred_img: final reconstruction ``[1, H, W]`` in [0, 1] (refined where stage 3 ran).
        pred_coarse: stage-1 reconstruction ``[1, H, W]`` in [0, 1].
        pred_score: class probabilities ``[K]``.
        pred_label: predicted class index, long scalar tensor.

    Meta fields (set by datasets): ``spike_path`` or ``img_path``, ``label_name``, ``ori_shape``
    ``(H, W)``, ``sample_idx``.
    """

    def set_gt_img(self, img: torch.Tensor) -> 'SpikeDataSample':
        self.gt_img = img
        return self

    def set_gt_label(self, label: Optional[int]) -> 'SpikeDataSample':
        if label is not None:
            self.gt_label = torch.as_tensor(int(label), dtype=torch.long)
        return self
