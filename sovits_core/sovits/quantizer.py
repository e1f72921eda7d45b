"""Residual vector quantizer of the SSL features (inference only: nearest-codeword encode, table-lookup decode).

State-dict layout as upstream (``quantizer.vq.layers.N._codebook.{inited,cluster_size,embed,embed_avg}``); only
``embed`` is used at inference, the EMA statistics are kept so files round-trip unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Codebook(nn.Module):
    """One codebook: ``embed`` [codebook_size, dim] plus upstream's training statistics."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [N, dim] -> nearest codeword index [N] (squared Euclidean distance, upstream's formula).

        Computed in float32 whatever the model dtype: in fp16 the squared norms of 768-wide features can overflow.
        """
        x = x.float()
        embed = self.embed.t().float()
        neg_dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
        return neg_dist.max(dim=-1).indices

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)


class _CodebookLayer(nn.Module):
    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self._codebook = Codebook(dim, codebook_size)


class _ResidualStack(nn.Module):
    def __init__(self, dim: int, codebook_size: int, n_q: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_CodebookLayer(dim, codebook_size) for _ in range(n_q))


class ResidualVectorQuantizer(nn.Module):
    """Channel-first interface: ``encode([B, D, T]) -> [n_q, B, T]``, ``decode([n_q, B, T]) -> [B, D, T]``."""

    def __init__(self, dim: int, codebook_size: int, n_q: int = 1) -> None:
        super().__init__()
        self.vq = _ResidualStack(dim, codebook_size, n_q)

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        b, d, t = x.shape
        residual = x.transpose(1, 2).reshape(b * t, d)
        codes = []
        for layer in list(self.vq.layers)[: n_q or len(self.vq.layers)]:
            idx = layer._codebook.encode(residual)
            residual = residual - layer._codebook.decode(idx).to(residual.dtype)
            codes.append(idx.view(b, t))
        return torch.stack(codes)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        out = None
        for layer, idx in zip(self.vq.layers, codes, strict=False):
            part = layer._codebook.decode(idx)
            out = part if out is None else out + part
        if out is None:
            raise ValueError("no codes to decode")
        return out.transpose(1, 2)
