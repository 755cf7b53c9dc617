"""The visualizer of spike samples: titled image grids to the back-ends and to files."""
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.visualization import Visualizer

from ..registry import VISUALIZERS
from ..utils.atomic import atomic_save_image
from .grid import grid_caption, make_grid, sample_panels


@VISUALIZERS.register_module()
class SpikeVisualizer(Visualizer):
    """Shows a spike sample as titled panels side by side (as mmagic's
    ``ConcatImageVisualizer``): spike count, TFP, coarse, refined and reference images, the
    rates at one display gain, each with its PSNR against the reference after a least-squares
    gain (as ``tools/benchmark_quality.py``) where the sample has one; a caption line below the
    panels says so (:mod:`spikeclip.visualization.grid`).

    Args:
        name (str): Instance name. Defaults to ``'visualizer'``.
        vis_backends (list[dict], optional): Back-ends (TensorBoard, local files).
        save_dir (str, optional): Folder of the back-ends' files.
        tfp_window (int): Frames of the TFP panel, centred. Defaults to 32.
        min_size (int): Panels are enlarged (by a whole factor) until their shorter side is at
            least this many pixels, so that detail shows. Defaults to 256.
        **kwargs: Further arguments of MMEngine's ``Visualizer``.
    """

    def __init__(self, name: str = 'visualizer', vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None, tfp_window: int = 32, min_size: int = 256,
                 **kwargs) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.tfp_window = tfp_window
        self.min_size = min_size

    def draw_sample(self, spikes: torch.Tensor, data_sample=None,
                    class_names: Optional[Sequence[str]] = None):
        """The grid of one sample and its caption.

        Args:
            spikes (torch.Tensor): Spike window ``[T, H, W]`` (0/1).
            data_sample (SpikeDataSample, optional): With any of ``pred_coarse``,
                ``pred_img``, ``gt_img``, ``label_name``, ``pred_label``.
            class_names (Sequence[str], optional): Names of the model's classes.

        Returns:
            tuple[np.ndarray, str]: ``[h, w, 3]`` uint8 RGB grid, and one line naming the
            panels, the true and predicted classes, the display gain and the PSNR rule.
        """
        panels, titles, note = sample_panels(spikes, data_sample, self.tfp_window)
        grid = make_grid(panels, titles, min_size=self.min_size, note=note)
        return grid, grid_caption(panels, data_sample, class_names, note)

    def add_datasample(self, name: str, spikes: torch.Tensor, data_sample=None,
                       step: int = 0, class_names: Optional[Sequence[str]] = None,
                       to_backends: bool = True, out_file: Optional[str] = None):
        """Draw one sample (:meth:`draw_sample`), send it to the back-ends as image ``name``
        and/or save it as a PNG ``out_file`` (atomically).

        Returns:
            tuple[np.ndarray, str]: The grid and its caption.
        """
        grid, caption = self.draw_sample(spikes, data_sample, class_names)
        if to_backends:
            self.add_image(name, grid, step=step)
        if out_file:
            atomic_save_image(out_file, np.ascontiguousarray(grid))
        return grid, caption
