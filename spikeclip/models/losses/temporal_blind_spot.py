"""Temporal blind spot: a reconstruction loss supervised by the spike stream itself.

A still pixel's spikes in separate stretches of time are independent noisy views of one rate, so
a network asked to predict the spike rate of frames it never sees, from the frames around them,
can only do well by predicting the rate: the noise of the hidden frames is unpredictable (the
Noise2Noise argument, Lehtinen et al. 2018). Per training clip ``[N, L, H, W]``
(:func:`~spikeclip.fileio.blind_spot_indices`)::

    input  = the window's frames before and after a gap       (window frames, time order kept)
    gap    = guard | held-out | guard                         (held_out + 2 * guard frames)
    target = mean spike rate of the held-out frames           ([N, 1, H, W], no gradient)
    loss   = criterion(reconstruct(input), gain * target)

The held-out frames never enter the input, so the network cannot copy their noise; its
optimum is ``E[target | input]``, the pixel's rate where the input says nothing about the
hidden noise.

Integrate-and-fire correction. Spikes are not independent samples: a spike resets the pixel's
accumulator (by the threshold), so where a pixel's last input spike fell tells where its next
spikes fall, and a held-out stretch next to the input would be predictable from its phase
(a pixel that just fired rarely fires again at once). ``guard`` frames on each side of the
held-out ones are used for nothing: over them the accumulator's phase is blurred by the
light's shot noise and the pixel's own irregularity. ``tests/test_models/test_blind_spot.py``
shows the minimiser of this loss is the true rate on a still simulated scene, not a noisy copy.

How it relates to the published self-supervised spike methods. SSML (Chen et al., IJCAI 2022,
"Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking Camera") trains a
*spatial* blind-spot network (its receptive field excludes its own pixel) on pseudo-labels made
from the spikes, then distils it into and from an ordinary network (mutual learning), because
the blind-spot architecture limits what the network can be. SpikeReveal (Chen et al., NeurIPS
2024) is self-supervised spike-guided deblurring of a blurry conventional frame, a cascade with
knowledge distillation and a re-blurring loss; it needs the frame, which a spike camera alone
does not give. Here the blind spot is in *time*: the held-out frames are removed from the
input, not the pixel from the receptive field, so the ordinary network itself (the shipped
``MotionUNet`` unchanged) trains on it directly, with no blind-spot architecture and no
distillation step, and it still sees its neighbouring pixels in the input frames (the spatial
context that denoising needs). What SSML's mutual learning buys (keeping an unconstrained
network) comes for free; what it costs: motion between the input and the held-out frames blurs
the target (a short gap keeps this small), and the integrate-and-fire phase correction above,
which a spatial blind spot does not need (neighbouring pixels have independent accumulators).
"""
from typing import Callable, Optional, Tuple

import torch

from spikeclip.fileio import blind_spot_indices
from spikeclip.registry import LOSSES
from spikeclip.utils.errors import ConfigError, SpikeFormatError

from .base import BaseLoss
from .pixel_losses import CharbonnierLoss, L1Loss, MSELoss

_CRITERIA = {'l1': L1Loss, 'mse': MSELoss, 'charbonnier': CharbonnierLoss}


def blind_spot_split(spikes: torch.Tensor, window: int, held_out: int,
                     guard: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Split spike clips into the blind-spot input and the held-out spike rate.

    Args:
        spikes (torch.Tensor): ``[N, L, H, W]`` 0/1 spikes, ``L >= window + held_out + 2 * guard``.
        window (int): Frames of the input.
        held_out (int): Frames whose mean rate is the target.
        guard (int): Frames left out on each side of the held-out ones.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: Input ``[N, window, H, W]`` (same dtype as ``spikes``)
        and target rate ``[N, 1, H, W]`` float32 (spikes per frame, without gradient).

    Raises:
        SpikeFormatError: Not ``[N, L, H, W]`` or too few frames.
    """
    if spikes.ndim != 4:
        raise SpikeFormatError(f'blind spot expects spikes [N, L, H, W], got {tuple(spikes.shape)}')
    try:
        inputs, held = blind_spot_indices(spikes.shape[1], window, held_out, guard)
    except ValueError as e:
        raise SpikeFormatError(str(e)) from e
    inputs = torch.from_numpy(inputs).to(spikes.device)
    held = torch.from_numpy(held).to(spikes.device)
    with torch.no_grad():  # the target is data: nothing is learned through it
        target = spikes.index_select(1, held).to(torch.float32).mean(1, keepdim=True)
    return spikes.index_select(1, inputs), target


@LOSSES.register_module()
class TemporalBlindSpotLoss(BaseLoss):
    """Self-supervised loss: predict the rate of held-out frames from the frames around them.

    See the module doc for the design. The loss runs the stage's image path (the ``reconstruct``
    context entry: the encoder in stage 1, encoder and refiner in stage 3) once more, on the
    blind-spot input, so the stage's own ``pred`` is not used. Its spikes are the
    ``context_spikes`` entry: a clip longer than the model's window where the data provides one
    (:class:`~spikeclip.datasets.RecordingDataset` with ``context``), else the input window
    itself (then ``window`` must leave room for the gap).

    Args:
        window (int, optional): Frames of the blind-spot input (the model's window, e.g. 41 for
            ``MotionUNet``); None uses all the frames the gap leaves. Defaults to None.
        held_out (int): Frames of the target. Defaults to 8.
        guard (int): Frames left out on each side of the held-out ones. Defaults to 8.
        gain (float): Multiplier of the target rate (the model's output scale per spike per
            frame: 1.0 for models whose references are spike rates, as ``pretrained:real``).
            Defaults to 1.0.
        criterion (str): ``'mse'`` (the Noise2Noise choice: its minimiser is the conditional
            mean, the rate), ``'charbonnier'`` or ``'l1'`` (minimisers nearer the median: biased
            for the few-spike targets of dark pixels). Defaults to ``'mse'``.
        relative (bool): Divide prediction and target by the light level of each clip (the
            ``relative_quantile`` quantile of the *input's* spike rate, at least
            ``relative_floor``), so that dim and bright recordings weigh alike. Taken from the
            input, not the target as the pixel losses do, so that the scale carries none of the
            held-out noise and the minimiser stays the conditional mean. Defaults to True.
        loss_weight (float): Defaults to 1.0.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'`` (``[N, 1, H, W]``).
            Defaults to ``'mean'``.
        name (str, optional): Loss-dict key. Defaults to ``'loss_blind_spot'``.
    """
    inputs: Tuple[str, ...] = ('context_spikes', 'reconstruct')
    default_name = 'loss_blind_spot'

    def __init__(self,
                 window: Optional[int] = None,
                 held_out: int = 8,
                 guard: int = 8,
                 gain: float = 1.0,
                 criterion: str = 'mse',
                 relative: bool = True,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 name: str = None):
        super().__init__(loss_weight, reduction, name, relative=relative)
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ConfigError(f'TemporalBlindSpotLoss window must be a positive int or None, '
                              f'got {window!r}')
        if not isinstance(held_out, int) or held_out < 1:
            raise ConfigError(f'TemporalBlindSpotLoss held_out must be a positive int, got '
                              f'{held_out!r}')
        if not isinstance(guard, int) or guard < 0:
            raise ConfigError(f'TemporalBlindSpotLoss guard must be an int >= 0, got {guard!r}')
        if not gain > 0:
            raise ConfigError(f'TemporalBlindSpotLoss gain must be positive, got {gain!r}')
        if criterion not in _CRITERIA:
            raise ConfigError(f'TemporalBlindSpotLoss criterion must be one of '
                              f'{sorted(_CRITERIA)}, got {criterion!r}')
        self.window, self.held_out, self.guard = window, held_out, guard
        self.gain = float(gain)
        self.criterion = _CRITERIA[criterion](reduction=reduction)

    @property
    def gap(self) -> int:
        """Frames a clip needs beyond the input window: ``held_out + 2 * guard``."""
        return self.held_out + 2 * self.guard

    def split(self, spikes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(input [N, window, H, W], target [N, 1, H, W])`` of clips ``[N, L, H, W]``."""
        window = self.window if self.window is not None else spikes.shape[1] - self.gap
        if window < 1 or spikes.shape[1] < window + self.gap:
            raise SpikeFormatError(
                f'TemporalBlindSpotLoss ({self.name}) needs clips of {max(window, 1) + self.gap} '
                f'frames (window {window} + {self.held_out} held out + 2 x {self.guard} guard) '
                f'but got {spikes.shape[1]}; give the dataset context frames, e.g. '
                f'RecordingDataset(context={self.gap})')
        inputs, target = blind_spot_split(spikes, window, self.held_out, self.guard)
        return inputs, target * self.gain

    def forward(self, context_spikes: torch.Tensor,
                reconstruct: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Loss of ``reconstruct`` on clips ``context_spikes [N, L, H, W]``."""
        inputs, target = self.split(context_spikes)
        inputs = inputs.float()
        pred = reconstruct(inputs).float()
        if self.relative:
            rate = inputs.mean(1).flatten(1) * self.gain
            s = torch.quantile(rate, self.relative_quantile, dim=1).clamp_min(self.relative_floor)
            s = s.view(-1, 1, 1, 1)
            pred, target = pred / s, target / s
        return self.loss_weight * self.criterion(pred, target)

    def extra_repr(self) -> str:
        return f'window={self.window}, held_out={self.held_out}, guard={self.guard}'
