"""Speaker/style encoder ``ref_enc`` (upstream ``modules.MelStyleEncoder``): spectrogram -> global embedding ``ge``.

v2 feeds the first 704 bins of the 1025-bin linear spectrogram. Key names follow upstream (``spectral.0.fc``,
``temporal.0.conv1.conv``, ``slf_attn.w_qs``, ``fc.fc``); dropout slots are kept as ``nn.Identity`` so indices match.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Linear(nn.Module):
    """Upstream ``LinearNorm``: a Linear stored under ``.fc``."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class _Conv(nn.Module):
    """Upstream ``ConvNorm``: a 'same'-padded Conv1d stored under ``.conv``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


class _GatedConv(nn.Module):
    """Conv + GLU with a residual connection (upstream ``Conv1dGLU``)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = _Conv(channels, 2 * channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1(x).split(self.channels, dim=1)
        return x + a * torch.sigmoid(b)


class _SelfAttention(nn.Module):
    """Multi-head self-attention with a residual; scores scaled by sqrt(d_model) as upstream."""

    def __init__(self, n_heads: int, d_model: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.scale = math.sqrt(d_model)
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, T, D]; ``pad`` [B, T] True on padded frames."""
        b, t, _ = x.shape

        def heads(proj: nn.Linear) -> torch.Tensor:
            return proj(x).view(b, t, self.n_heads, self.d_head).transpose(1, 2)

        scores = heads(self.w_qs) @ heads(self.w_ks).transpose(-2, -1) / self.scale
        if pad is not None:
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        out = torch.softmax(scores, dim=-1) @ heads(self.w_vs)
        return self.fc(out.transpose(1, 2).reshape(b, t, -1)) + x


class MelStyleEncoder(nn.Module):
    """Spectrogram frames [B, bins, T] -> style vector [B, out_dim, 1] (masked temporal average)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, kernel_size: int, n_heads: int) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            _Linear(in_dim, hidden), _Mish(), nn.Identity(), _Linear(hidden, hidden), _Mish(), nn.Identity()
        )
        self.temporal = nn.Sequential(_GatedConv(hidden, kernel_size), _GatedConv(hidden, kernel_size))
        self.slf_attn = _SelfAttention(n_heads, hidden)
        self.fc = _Linear(hidden, out_dim)

    def forward(self, spec: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        b, _, t = spec.shape
        if lengths is None:
            lengths = torch.full((b,), t, device=spec.device, dtype=torch.long)
        pad = torch.arange(t, device=spec.device).unsqueeze(0) >= lengths.unsqueeze(1)  # [B, T]
        x = spec * (~pad).unsqueeze(1).to(spec.dtype)
        x = self.spectral(x.transpose(1, 2))
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        x = x.masked_fill(pad.unsqueeze(-1), 0)
        x = self.fc(self.slf_attn(x, pad))
        x = x.masked_fill(pad.unsqueeze(-1), 0)
        pooled = (x.float() / lengths.view(b, 1, 1).float()).sum(dim=1).to(x.dtype)
        return pooled.unsqueeze(-1)
