"""Prior encoder ``enc_p``: semantic features + phones + speaker embedding -> (mean, log-std) per frame.

Upstream ``models.TextEncoder`` with ``mrte_model.MRTE`` (multi-reference timbre encoder: SSL frames attend to the
phone encodings, then the speaker embedding ``ge`` is added). Speed change (``F.interpolate``, linear) is applied per
row on the row's own frames, so batched rows match rows decoded alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sovits_core.sovits.attention import MultiHeadAttention, RelativeTransformerEncoder
from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.layers import frame_mask


class MRTE(nn.Module):
    """Cross-attention from SSL frames to phones, plus the global speaker embedding."""

    def __init__(self, content_channels: int, hidden: int, n_heads: int) -> None:
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden, hidden, n_heads)
        self.c_pre = nn.Conv1d(content_channels, hidden, 1)
        self.text_pre = nn.Conv1d(content_channels, hidden, 1)
        self.c_post = nn.Conv1d(hidden, content_channels, 1)

    def forward(
        self, ssl: torch.Tensor, ssl_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, ge: torch.Tensor
    ) -> torch.Tensor:
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)
        ssl = self.c_pre(ssl * ssl_mask)
        text = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl * ssl_mask, text * text_mask, attn_mask) + ssl + ge
        return self.c_post(x * ssl_mask)


class TextEncoder(nn.Module):
    """``enc_p``: ssl_proj -> encoder_ssl; text_embedding -> encoder_text; MRTE; encoder2; proj."""

    def __init__(self, cfg: SoVITSConfig) -> None:
        super().__init__()
        hidden, filt, heads = cfg.hidden_channels, cfg.filter_channels, cfg.n_heads
        self.out_channels = cfg.inter_channels
        self.ssl_proj = nn.Conv1d(cfg.ssl_dim, hidden, 1)
        half = cfg.n_layers // 2
        self.encoder_ssl = RelativeTransformerEncoder(hidden, filt, heads, half, cfg.kernel_size, cfg.attn_window)
        self.encoder_text = RelativeTransformerEncoder(
            hidden, filt, heads, cfg.n_layers, cfg.kernel_size, cfg.attn_window
        )
        table = torch.empty(cfg.n_symbols, hidden).uniform_(-(3**0.5), 3**0.5)  # unit variance like nn.Embedding
        self.text_embedding = nn.Embedding(cfg.n_symbols, hidden, _weight=table)
        self.mrte = MRTE(hidden, cfg.mrte_channels, cfg.mrte_heads)
        self.encoder2 = RelativeTransformerEncoder(hidden, filt, heads, half, cfg.kernel_size, cfg.attn_window)
        self.proj = nn.Conv1d(hidden, cfg.inter_channels * 2, 1)

    def forward(
        self,
        features: torch.Tensor,
        feature_lengths: torch.Tensor,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        ge: torch.Tensor,
        speeds: Sequence[float],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(m, logs, mask, lengths)`` over the (speed-adjusted) frames.

        ``features`` [B, ssl_dim, T] (dequantized codes, already at 50 Hz), ``phones`` [B, Tp] ids, ``ge`` [B, gin, 1].
        """
        dtype = features.dtype
        y_mask = frame_mask(feature_lengths, features.shape[2], dtype)
        y = self.ssl_proj(features * y_mask) * y_mask
        y = self.encoder_ssl(y * y_mask, y_mask)
        text_mask = frame_mask(phone_lengths, phones.shape[1], dtype)
        text = self.text_embedding(phones).transpose(1, 2)
        text = self.encoder_text(text * text_mask, text_mask)
        y = self.mrte(y, y_mask, text, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        lengths = feature_lengths
        if any(s != 1 for s in speeds):
            y, lengths = _change_speed(y, feature_lengths, speeds)
            y_mask = frame_mask(lengths, y.shape[2], dtype)
        stats = self.proj(y) * y_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return m, logs, y_mask, lengths


def _change_speed(
    y: torch.Tensor, lengths: torch.Tensor, speeds: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample each row's frames to ``int(n / speed) + 1`` (linear), as upstream does for a single row."""
    rows = []
    for i, speed in enumerate(speeds):
        n = int(lengths[i])
        row = y[i : i + 1, :, :n]
        if speed != 1:
            row = F.interpolate(row, size=int(n / speed) + 1, mode="linear")
        rows.append(row)
    new_lengths = torch.tensor([r.shape[2] for r in rows], device=lengths.device, dtype=lengths.dtype)
    width = int(new_lengths.max())
    out = y.new_zeros(y.shape[0], y.shape[1], width)
    for i, row in enumerate(rows):
        out[i, :, : row.shape[2]] = row[0]
    return out, new_lengths
