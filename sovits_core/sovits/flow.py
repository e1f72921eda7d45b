"""Normalising flow ``flow``: mean-only affine coupling layers with WaveNet-style conditioning networks.

Upstream ``models.ResidualCouplingBlock`` / ``modules.ResidualCouplingLayer`` / ``modules.WN``. Inference runs the
flow in reverse (prior sample -> latent); the forward direction is kept so invertibility can be tested.
"""

from __future__ import annotations

import torch
from torch import nn

from sovits_core.sovits.layers import weight_norm_keys


class WaveNet(nn.Module):
    """Gated dilated convolutions with global conditioning (upstream ``modules.WN``; weight-normed convs)."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WaveNet kernel size must be odd, got {kernel_size}")
        self.hidden = hidden
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = weight_norm_keys(nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1))
        for i in range(n_layers):
            dilation = dilation_rate**i
            pad = (kernel_size * dilation - dilation) // 2
            conv = nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=dilation, padding=pad)
            self.in_layers.append(weight_norm_keys(conv))
            out = 2 * hidden if i < n_layers - 1 else hidden
            self.res_skip_layers.append(weight_norm_keys(nn.Conv1d(hidden, out, 1)))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        output = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None else None
        h = self.hidden
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            x_in = in_layer(x)
            if cond is not None:
                x_in = x_in + cond[:, i * 2 * h : (i + 1) * 2 * h, :]
            acts = torch.tanh(x_in[:, :h]) * torch.sigmoid(x_in[:, h:])
            res = res_skip(acts)
            if i < self.n_layers - 1:
                x = (x + res[:, :h]) * x_mask
                output = output + res[:, h:]
            else:
                output = output + res
        return output * x_mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a function of the first half."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, n_layers: int, gin_channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WaveNet(hidden, kernel_size, 1, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def _shift(self, x0: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        h = self.pre(x0) * x_mask
        return self.post(self.enc(h, x_mask, g)) * x_mask

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None, reverse: bool) -> torch.Tensor:
        x0, x1 = x[:, : self.half], x[:, self.half :]
        m = self._shift(x0, x_mask, g)
        x1 = (x1 - m) * x_mask if reverse else m + x1 * x_mask
        return torch.cat([x0, x1], 1)


class Flip(nn.Module):
    """Reverse the channel order (parameter-free; keeps upstream's module indices)."""

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return torch.flip(x, [1])


class ResidualCouplingBlock(nn.Module):
    """``n_flows`` x (coupling layer, flip), keys ``flows.{0,2,4,...}``."""

    def __init__(
        self, channels: int, hidden: int, kernel_size: int, n_layers: int, n_flows: int, gin_channels: int
    ) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(CouplingLayer(channels, hidden, kernel_size, n_layers, gin_channels))
            self.flows.append(Flip())

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None, reverse: bool = True
    ) -> torch.Tensor:
        flows = reversed(self.flows) if reverse else self.flows
        for flow in flows:
            x = flow(x, x_mask, g, reverse)
        return x
