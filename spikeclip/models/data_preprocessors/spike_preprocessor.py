"""Batches spike windows and moves them to the model's device."""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from ...fileio import window_bounds
from ...registry import MODELS
from ...utils.errors import SpikeFormatError


@MODELS.register_module()
class SpikeDataPreprocessor(BaseDataPreprocessor):
    """Stacks ``[T, H, W]`` uint8 spike windows into ``[N, T', H, W]`` float 0/1 on the device.

    The model input window is the ``window`` frames centred on ``center`` (the middle frame by
    default). Temporal binning (e.g. 200 frames summed into 50 bins) is the encoder's business,
    so every encoder and loss sees the same raw layout.

    Args:
        window (int, optional): Frames of the model input; all frames if None. Defaults to None.
        center (int, optional): Centre frame of the window; the middle frame if None.
        min_window (int, optional): Shortest input accepted when it holds fewer than ``window``
            frames (passed whole); only for encoders that declare such a ``min_window`` (e.g.
            :class:`~spikeclip.models.encoders.AdaptiveWindow`). None: exactly ``window``.
            Defaults to None.
        non_blocking (bool): Asynchronous host-to-device copies. Defaults to True.
    """

    def __init__(self, window: Optional[int] = None, center: Optional[int] = None,
                 min_window: Optional[int] = None, non_blocking: bool = True):
        super().__init__(non_blocking=non_blocking)
        if window is not None and window <= 0:
            raise ValueError(f'window must be positive, got {window}')
        if min_window is not None and (window is None or not 0 < min_window <= window):
            raise ValueError(f'min_window must lie in [1, window={window}], got {min_window}')
        self.window = window
        self.center = center
        self.min_window = min_window

    @property
    def shortest(self) -> Optional[int]:
        """The fewest frames an input may hold (``min_window``, else ``window``)."""
        return self.window if self.min_window is None else self.min_window

    def select_window(self, spikes: torch.Tensor) -> torch.Tensor:
        """``[N, T, H, W]`` -> ``[N, window, H, W]`` around the centre frame."""
        t = spikes.shape[1]
        if self.window is not None and t < self.shortest:
            need = f'a window of {self.window} frames' if self.min_window is None else \
                f'at least {self.min_window} frames (up to {self.window})'
            raise SpikeFormatError(f'the model needs {need} but the input has only {t} frames')
        start, stop = window_bounds(t, self.window, self.center)
        return spikes[:, start:stop]

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs: Union[torch.Tensor, Sequence[torch.Tensor]] = data['inputs']
        if not isinstance(inputs, torch.Tensor):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) > 1:
                raise SpikeFormatError(f'cannot batch spike windows of different shapes {shapes}; '
                                       'use crop_size in the dataset or batch_size=1')
            inputs = torch.stack(list(inputs))
        if inputs.ndim == 3:
            inputs = inputs[None]
        if inputs.ndim != 4:
            raise SpikeFormatError(f'spike batch must be [N, T, H, W], got {tuple(inputs.shape)}')
        inputs = self.select_window(inputs)
        data = self.cast_data({'inputs': inputs, 'data_samples': data.get('data_samples')})
        data['inputs'] = data['inputs'].float()
        return data
