"""A residual UNet that refines the coarse stage-1 image (stage 3 of SpikeCLIP).

    coarse [N, 1, H, W] -> reflect-pad to a multiple of 2**num_levels
      head conv -> (ConvBlock -> 2x2 stride-2 conv down) x num_levels -> ConvBlock (bottleneck)
      -> (2x2 stride-2 transposed conv up -> concat skip -> ConvBlock) x num_levels
      -> tail conv (zero-initialised) -> + coarse (residual) -> clamp to [0, 1] -> crop back

The tail starts at zero, so with ``residual=True`` the untrained refiner returns the coarse image
unchanged: refinement starts from the stage-1 result and cannot lose fidelity at step 0. No
normalisation layers: batches are small and the statistics of spike reconstructions vary.

Size (default arguments): 2.49 M parameters, 34.7 GFLOPs for one 250x400 image (padded to
256x400; 1 multiply-add = 2 FLOPs). See ``UNetRefiner`` for how to recount.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeclip.registry import REFINERS


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions with LeakyReLU(0.2): ``[N, C_in, H, W] -> [N, C_out, H, W]``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            conv3x3(in_channels, out_channels), nn.LeakyReLU(0.2, inplace=True),
            conv3x3(out_channels, out_channels), nn.LeakyReLU(0.2, inplace=True))


@REFINERS.register_module()
class UNetRefiner(nn.Module):
    """Residual UNet refiner: coarse image ``[N, C, H, W]`` -> refined image ``[N, 1, H, W]``.

    Channels double at each level (``base_channels * 2**i``, ``i = 0..num_levels``). Any
    ``H, W`` work: the input is reflect-padded to a multiple of ``2**num_levels`` and the output
    cropped back.

    Args:
        in_channels (int): Input channels; with ``residual=True`` the first one is the coarse
            image the output is added to. Defaults to 1.
        base_channels (int): Channels of the full-resolution level. Defaults to 32.
        num_levels (int): Number of 2x downsamplings. Defaults to 3.
        residual (bool): Output ``clamp(x[:, :1] + f(x), 0, 1)`` (identity at init); otherwise
            ``sigmoid(f(x))`` (0.5 at init). Defaults to True.

    Example (parameters and FLOPs):
        >>> from torch.utils.flop_counter import FlopCounterMode
        >>> net = UNetRefiner()
        >>> sum(p.numel() for p in net.parameters())  # 2_494_081
        >>> with FlopCounterMode(display=False) as fc:
        ...     net(torch.rand(1, 1, 250, 400))
        >>> fc.get_total_flops()  # ~34.7e9
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, num_levels: int = 3,
                 residual: bool = True):
        super().__init__()
        if num_levels < 0:
            raise ValueError(f'num_levels must be >= 0, got {num_levels}')
        self.num_levels = num_levels
        self.residual = residual
        chs = [base_channels * 2**i for i in range(num_levels + 1)]

        self.head = nn.Sequential(conv3x3(in_channels, chs[0]), nn.LeakyReLU(0.2, inplace=True))
        self.encoders = nn.ModuleList(ConvBlock(chs[i], chs[i]) for i in range(num_levels))
        self.downs = nn.ModuleList(
            nn.Conv2d(chs[i], chs[i + 1], 2, stride=2) for i in range(num_levels))
        self.bottleneck = ConvBlock(chs[-1], chs[-1])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2) for i in range(num_levels))
        self.decoders = nn.ModuleList(ConvBlock(2 * chs[i], chs[i]) for i in range(num_levels))
        self.tail = conv3x3(chs[0], 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Refine.

        Args:
            x (Tensor): ``[N, C, H, W]`` coarse image(s) in [0, 1].

        Returns:
            Tensor: ``[N, 1, H, W]`` refined image in [0, 1].
        """
        h, w = x.shape[-2:]
        m = 2**self.num_levels
        pad_h, pad_w = -h % m, -w % m
        # 'reflect' needs the pad to be smaller than the side; tiny inputs fall back to replicate.
        mode = 'reflect' if pad_h < h and pad_w < w else 'replicate'
        y = F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x

        y = self.head(y)
        skips = []
        for encode, down in zip(self.encoders, self.downs):
            y = encode(y)
            skips.append(y)
            y = down(y)
        y = self.bottleneck(y)
        for up, decode, skip in zip(reversed(self.ups), reversed(self.decoders), reversed(skips)):
            y = decode(torch.cat([up(y), skip], dim=1))
        y = self.tail(y)[..., :h, :w]

        if self.residual:
            return (x[:, :1] + y.to(x.dtype)).clamp(0, 1)
        return torch.sigmoid(y).to(x.dtype)
