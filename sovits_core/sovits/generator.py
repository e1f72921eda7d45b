"""HiFi-GAN style waveform generator ``dec`` (upstream ``models.Generator`` + ``modules.ResBlock1/2``).

Batched rows of different lengths: with ``lengths`` given, activations are zeroed past each row's end before every
convolution, which reproduces exactly the zero padding a row decoded alone sees at its edge. With ``lengths=None``
(all rows full) no masking is done, as upstream.

On CPU a batch is run row by row (each row trimmed to its length): that is exactly the single-row computation,
wastes nothing on padding and keeps activations cache-sized (about 1.5x less CPU time than one padded batch).
Set ``split_rows_on_cpu = False`` to use the masked batched path everywhere (it is what runs on GPUs).

Speed: the parameters are ordinary ``Conv1d``/``ConvTranspose1d`` (upstream's shapes), but the forward pass runs
them as 2-D convolutions over ``[B, C, 1, T]`` activations in channels-last layout, which oneDNN executes 2-3x faster
on CPU than the 1-D path (no layout reorders around every call). The arithmetic is the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.layers import frame_mask, weight_norm_keys


LRELU_SLOPE = 0.1
_INIT_BOUND = 0.01 * 3**0.5  # uniform with upstream's init std 0.01 (uniform_ stays cheap on the meta device)


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def _conv(channels: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    conv = nn.Conv1d(channels, channels, kernel_size, 1, dilation=dilation, padding=_padding(kernel_size, dilation))
    nn.init.uniform_(conv.weight, -_INIT_BOUND, _INIT_BOUND)
    return weight_norm_keys(conv)


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


def conv_2d(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a ``Conv1d`` to ``[B, C, 1, T]`` activations as a 2-D convolution (keeps channels-last)."""
    return F.conv2d(
        x, conv.weight.unsqueeze(2), conv.bias, (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0])
    )


def conv_transpose_2d(up: nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a ``ConvTranspose1d`` to ``[B, C, 1, T]`` activations as a 2-D transposed convolution."""
    return F.conv_transpose2d(x, up.weight.unsqueeze(2), up.bias, (1, up.stride[0]), (0, up.padding[0]))


class ResBlock1(nn.Module):
    """Three (dilated conv, conv) residual pairs; works on ``[B, C, 1, T]`` activations."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1) for _ in dilations)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = conv_2d(c1, _masked(F.leaky_relu(x, LRELU_SLOPE), mask))
            xt = conv_2d(c2, _masked(F.leaky_relu(xt, LRELU_SLOPE), mask))
            x = xt + x
        return _masked(x, mask)


class ResBlock2(nn.Module):
    """Dilated convs with residuals (single conv per step); works on ``[B, C, 1, T]`` activations."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for conv in self.convs:
            x = conv_2d(conv, _masked(F.leaky_relu(x, LRELU_SLOPE), mask)) + x
        return _masked(x, mask)


class Generator(nn.Module):
    """Latent frames [B, inter, T] (+ speaker embedding) -> waveform [B, 1, T * hop]."""

    def __init__(self, cfg: SoVITSConfig) -> None:
        super().__init__()
        ch0 = cfg.upsample_initial_channel
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.upsample_rates = cfg.upsample_rates
        self.conv_pre = nn.Conv1d(cfg.inter_channels, ch0, 7, 1, padding=3)
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = ch0
        for i, (rate, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)):
            ch = ch0 // (2 ** (i + 1))
            up = nn.ConvTranspose1d(ch0 // (2**i), ch, k, rate, padding=(k - rate) // 2)
            nn.init.uniform_(up.weight, -_INIT_BOUND, _INIT_BOUND)
            self.ups.append(weight_norm_keys(up))
        for i in range(len(self.ups)):
            ch_i = ch0 // (2 ** (i + 1))
            for k, dilations in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch_i, k, dilations))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        self.cond = nn.Conv1d(cfg.gin_channels, ch0, 1) if cfg.gin_channels else None
        self.hop = cfg.hop_samples
        self.split_rows_on_cpu = True

    def forward(
        self, x: torch.Tensor, g: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` [B, inter, T] frames -> [B, 1, T * hop]; ``lengths`` [B]: valid frames per row (None: all full).

        Samples past a row's ``lengths[i] * hop`` are zero.
        """
        if self.split_rows_on_cpu and x.device.type == "cpu" and x.shape[0] > 1:
            return self._row_by_row(x, g, lengths)
        return self._batched(x, g, lengths)

    def _row_by_row(self, x: torch.Tensor, g: torch.Tensor | None, lengths: torch.Tensor | None) -> torch.Tensor:
        frames = lengths.tolist() if lengths is not None else [x.shape[2]] * x.shape[0]
        out = x.new_zeros(x.shape[0], 1, x.shape[2] * self.hop)
        for i, n in enumerate(frames):
            row = self._batched(x[i : i + 1, :, : int(n)], None if g is None else g[i : i + 1], None)
            out[i, :, : row.shape[2]] = row[0]
        return out

    def _batched(self, x: torch.Tensor, g: torch.Tensor | None, lengths: torch.Tensor | None) -> torch.Tensor:
        scale = 1
        mask = None if lengths is None else frame_mask(lengths, x.shape[2], x.dtype).unsqueeze(2)
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        x = conv_2d(self.conv_pre, x)
        if g is not None and self.cond is not None:
            x = x + self.cond(g).unsqueeze(2)
        x = _masked(x, mask)
        for i, (up, rate) in enumerate(zip(self.ups, self.upsample_rates, strict=True)):
            x = conv_transpose_2d(up, F.leaky_relu(x, LRELU_SLOPE))
            scale *= rate
            mask = None if lengths is None else frame_mask(lengths * scale, x.shape[3], x.dtype).unsqueeze(2)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x, mask)
            for block in blocks[1:]:
                xs = xs + block(x, mask)
            x = xs / self.num_kernels
        x = torch.tanh(conv_2d(self.conv_post, F.leaky_relu(x)))
        return _masked(x, mask).squeeze(2)
