"""GPT-SoVITS v2 text-to-semantic transformer (stage s1), inference only.

Parameter names follow upstream's ``Text2SemanticDecoder`` exactly (``bert_proj.*``, ``ar_text_embedding.*``,
``h.layers.N.self_attn.in_proj_weight``, ...), so ``ckpt["weight"]`` minus its ``"model."`` prefix loads with
``strict=True``. The maths is upstream's: phone embedding + ``bert_proj(bert)`` + scaled sine positions for the
text, semantic embedding + scaled sine positions for the audio, post-norm transformer layers with ReLU
feed-forward, and a bias-free output projection. Text positions attend to all text; audio positions attend to all
text and to earlier audio (causal).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sovits_core.t2s.config import BERT_DIM, T2SConfig
from sovits_core.t2s.kv_cache import KVCache
from sovits_core.t2s.ops import linear, sine_table


_MIN_TABLE_POSITIONS = 4000  # upstream precomputes 4000 positions


# One-layer wrapper for upstream's key names, as in sovits/ref_encoder.py: same shape, other layers and keys.
class TokenEmbedding(nn.Module):
    """Token embedding; the extra level gives upstream's ``*.word_embeddings.weight`` key."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``[...]`` ids -> ``[..., dim]`` vectors."""
        return self.word_embeddings(ids)


class ScaledSinePosition(nn.Module):
    """Adds ``alpha * sine_table[position]`` (upstream ``SinePositionalEmbedding`` with ``scale=False``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self._table: torch.Tensor | None = None

    def table(self, n_positions: int) -> torch.Tensor:
        """Position table ``[>= n_positions, dim]`` on the parameters' device and dtype (cached)."""
        alpha = self.alpha
        cached = self._table
        stale = cached is None or cached.dtype != alpha.dtype or cached.device != alpha.device
        if stale or cached.shape[0] < n_positions:
            size = max(n_positions, _MIN_TABLE_POSITIONS, 0 if cached is None else cached.shape[0])
            self._table = sine_table(size, self.dim).to(device=alpha.device, dtype=alpha.dtype)
        return self._table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[S, dim]`` vectors at positions ``0..S-1`` -> same shape with positions added."""
        return x + self.alpha * self.table(x.shape[0])[: x.shape[0]]

    def at(self, x: torch.Tensor, positions: torch.Tensor, max_position: int) -> torch.Tensor:
        """``[B, dim]`` vectors, one per row at ``positions`` ``[B]`` (all ``<= max_position``) -> positions added."""
        return x + self.alpha * self.table(max_position + 1)[positions]


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused ``in_proj_weight`` (upstream / ``nn.MultiheadAttention`` names)."""

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None, layer: int) -> torch.Tensor:
        """Attend ``x`` ``[B, S, D]`` (new columns) to the cache plus itself.

        Args:
            x: hidden states of the new columns.
            mask: bool ``[B, 1, S, S_keys]`` (True = may attend) or ``None`` (attend everything).
            cache: keys/values of earlier columns, updated in place; ``None`` for a pass over the full sequence.
            layer: index of this layer in the cache.
        """
        batch, n_new, dim = x.shape
        qkv = linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(batch, n_new, 3, self.n_heads, dim // self.n_heads).permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, n_new, dim)
        return linear(out, self.out_proj.weight, self.out_proj.bias)


class T2SLayer(nn.Module):
    """Post-norm transformer layer: ``x = norm1(x + attn(x)); x = norm2(x + ffn(x))`` with a ReLU ffn."""

    def __init__(self, dim: int, n_heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, n_heads)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None, layer: int) -> torch.Tensor:
        """``[B, S, D]`` -> ``[B, S, D]``; see :meth:`SelfAttention.forward` for the arguments."""
        x = self.norm1(x + self.self_attn(x, mask, cache, layer))
        hidden = linear(x, self.linear1.weight, self.linear1.bias, relu=True)
        return self.norm2(x + linear(hidden, self.linear2.weight, self.linear2.bias))


class LayerStack(nn.Module):
    """Holds the layers under ``h.layers.N`` like upstream's ``TransformerEncoder``."""

    def __init__(self, cfg: T2SConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(T2SLayer(cfg.hidden_dim, cfg.n_heads, cfg.ffn_dim) for _ in range(cfg.n_layers))


class T2SModel(nn.Module):
    """Text-to-semantic decoder with upstream ``Text2SemanticDecoder`` state-dict keys.

    Decoding lives in :mod:`sovits_core.t2s.generate`; this module embeds inputs and runs the layers.

    Args:
        cfg: architecture.
    """

    def __init__(self, cfg: T2SConfig) -> None:
        super().__init__()
        self.config = cfg
        dim = cfg.hidden_dim
        self.bert_proj = nn.Linear(BERT_DIM, dim)
        self.ar_text_embedding = TokenEmbedding(cfg.phoneme_vocab_size, dim)
        self.ar_text_position = ScaledSinePosition(dim)
        self.ar_audio_embedding = TokenEmbedding(cfg.vocab_size, dim)
        self.ar_audio_position = ScaledSinePosition(dim)
        self.h = LayerStack(cfg)
        self.ar_predict_layer = nn.Linear(dim, cfg.vocab_size, bias=False)

    def embed_prefix(
        self, phone_ids: torch.Tensor, bert: torch.Tensor, prompt_codes: torch.Tensor | None
    ) -> torch.Tensor:
        """Input vectors of one row: its text, then its prompt codes (if any).

        Args:
            phone_ids: ``[T]`` phone ids (prompt phones + target phones).
            bert: ``[1024, T]`` BERT features per phone.
            prompt_codes: ``[P]`` semantic codes of the reference audio, or ``None`` / empty for none.

        Returns:
            ``[T + P, D]``; text at positions ``0..T-1`` and audio at positions ``0..P-1`` of their own tables.
        """
        bert_rows = bert.transpose(0, 1).to(self.bert_proj.weight.dtype)
        text = self.ar_text_embedding(phone_ids) + self.bert_proj(bert_rows)
        text = self.ar_text_position(text)
        if prompt_codes is None or prompt_codes.numel() == 0:
            return text
        audio = self.ar_audio_position(self.ar_audio_embedding(prompt_codes))
        return torch.cat([text, audio], dim=0)

    def embed_audio_step(self, codes: torch.Tensor, positions: torch.Tensor, max_position: int) -> torch.Tensor:
        """``[B]`` new semantic codes at audio ``positions`` ``[B]`` (``<= max_position``) -> inputs ``[B, 1, D]``."""
        return self.ar_audio_position.at(self.ar_audio_embedding(codes), positions, max_position).unsqueeze(1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """Run all layers over new columns ``x`` ``[B, S, D]``; returns hidden states ``[B, S, D]``.

        Args:
            x: input vectors of the new columns.
            mask: bool ``[B, 1, S, S_keys]``, True where a query may attend a key; ``None`` = no masking.
            cache: earlier columns' keys/values (appended to in place), or ``None`` when ``x`` is the whole
                sequence.
        """
        if cache is not None:
            cache.reserve(x.shape[1])
        for index, layer in enumerate(self.h.layers):
            x = layer(x, mask, cache, index)
        if cache is not None:
            cache.advance(x.shape[1])
        return x

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` hidden states -> ``[B, vocab_size]`` logits over semantic codes + EOS."""
        return linear(hidden, self.ar_predict_layer.weight, None)

    def new_cache(self, batch: int, capacity: int, max_length: int) -> KVCache:
        """An empty :class:`KVCache` on this model's device and dtype."""
        cfg = self.config
        weight = self.ar_predict_layer.weight
        return KVCache(
            cfg.n_layers, batch, cfg.n_heads, cfg.head_dim, capacity, max_length, weight.dtype, weight.device
        )
