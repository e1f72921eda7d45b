"""Transformer encoder with windowed relative-position attention (upstream ``module/attentions.py``, inference only).

Key names follow upstream (``attn_layers.N.conv_q``, ``emb_rel_k`` ...). Padded positions are excluded through the
attention mask, and every convolution input is multiplied by the mask, so a row's output does not depend on how much
padding its batch added.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sovits_core.sovits.layers import ChannelLayerNorm


_MASKED_SCORE = -1e4  # upstream's fill value for masked scores


class MultiHeadAttention(nn.Module):
    """Multi-head attention over channel-first tensors; optional shared relative-position embeddings (window w)."""

    def __init__(self, channels: int, out_channels: int, n_heads: int, window_size: int | None = None) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels {channels} not divisible by heads {n_heads}")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        if window_size is not None:
            bound = math.sqrt(3.0 / self.k_channels)  # same spread as upstream's randn * k**-0.5
            self.emb_rel_k = nn.Parameter(torch.empty(1, 2 * window_size + 1, self.k_channels).uniform_(-bound, bound))
            self.emb_rel_v = nn.Parameter(torch.empty(1, 2 * window_size + 1, self.k_channels).uniform_(-bound, bound))
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: torch.Tensor, context: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, C, Tq] attends to ``context`` [B, C, Tk]; ``attn_mask`` [B, 1, Tq, Tk] (0 = blocked)."""
        b, _, t_q = x.shape
        t_k = context.shape[2]
        q = self.conv_q(x).view(b, self.n_heads, self.k_channels, t_q).transpose(2, 3)
        k = self.conv_k(context).view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        v = self.conv_v(context).view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        q = q / math.sqrt(self.k_channels)
        scores = torch.matmul(q, k.transpose(-2, -1))
        if self.window_size is not None:
            if t_q != t_k:
                raise ValueError("relative attention needs self-attention (equal lengths)")
            self._add_relative_logits(scores, torch.matmul(q, self.emb_rel_k.transpose(1, 2).unsqueeze(0)))
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, _MASKED_SCORE)
        p_attn = torch.softmax(scores, dim=-1)
        out = torch.matmul(p_attn, v)
        if self.window_size is not None:
            out = out + torch.matmul(self._relative_weights(p_attn), self.emb_rel_v.unsqueeze(0))
        out = out.transpose(2, 3).reshape(b, self.n_heads * self.k_channels, t_q)
        return self.conv_o(out)

    def _offsets(self, length: int) -> range:
        w = min(self.window_size or 0, length - 1)
        return range(-w, w + 1)

    def _add_relative_logits(self, scores: torch.Tensor, rel: torch.Tensor) -> None:
        """``scores[..., i, i+d] += rel[..., i, w+d]`` for |d| <= w (in place, one diagonal per offset)."""
        length = scores.shape[-1]
        w = self.window_size
        for d in self._offsets(length):
            diag = torch.diagonal(scores, offset=d, dim1=-2, dim2=-1)
            rows = slice(0, length - d) if d >= 0 else slice(-d, length)
            diag.add_(rel[..., rows, w + d])

    def _relative_weights(self, p_attn: torch.Tensor) -> torch.Tensor:
        """Gather ``p_attn[..., i, i+d]`` into ``[..., i, w+d]`` (zero where i+d is outside the sequence)."""
        length = p_attn.shape[-1]
        w = self.window_size
        rel = p_attn.new_zeros(*p_attn.shape[:-1], 2 * w + 1)
        for d in self._offsets(length):
            rows = slice(0, length - d) if d >= 0 else slice(-d, length)
            rel[..., rows, w + d] = torch.diagonal(p_attn, offset=d, dim1=-2, dim2=-1)
        return rel


class FeedForward(nn.Module):
    """Two 'same'-padded convolutions with ReLU (upstream ``attentions.FFN``)."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == 1:
            return x
        return F.pad(x, ((self.kernel_size - 1) // 2, self.kernel_size // 2))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(self._pad(x * x_mask)))
        return self.conv_2(self._pad(x * x_mask)) * x_mask


class RelativeTransformerEncoder(nn.Module):
    """Post-norm transformer stack (upstream ``attentions.Encoder``, window 4)."""

    def __init__(
        self, channels: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int, window_size: int = 4
    ) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(channels, channels, n_heads, window_size=window_size) for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FeedForward(channels, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, T], ``x_mask`` [B, 1, T] float."""
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for attn, norm1, ffn, norm2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm1(x + attn(x, x, attn_mask))
            x = norm2(x + ffn(x, x_mask))
        return x * x_mask
