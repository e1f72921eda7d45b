"""Deterministic random SoVITS weights and inputs for tests, benchmarks, tiny checkpoints and upstream parity.

Everything is drawn from seeded generators key by key (by shape), so the same weights can be rebuilt anywhere,
including inside upstream GPT-SoVITS (after :meth:`SynthesizerTrnV2.upstream_state_dict`), to compare outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sovits_core.sovits.config import SoVITSConfig


# The small vocoder both test configs share: two resblock kinds, upsampling 10 * 8 * 8 = 640 (the hop).
_SMALL_VOCODER: dict = {
    "resblock_kernel_sizes": (3, 5),
    "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5)),
    "upsample_rates": (10, 8, 8),
    "upsample_initial_channel": 32,
    "upsample_kernel_sizes": (20, 16, 16),
}

#: Small SoVITS for unit tests and the tiny model folder (not loadable by upstream: several sizes are non-default).
TINY_CONFIG = SoVITSConfig(  # one keyword per size: lines alike in shape only, not a duplicate
    inter_channels=8,
    hidden_channels=16,
    filter_channels=32,
    n_heads=2,
    n_layers=2,
    **_SMALL_VOCODER,
    gin_channels=16,
    ssl_dim=32,
    mrte_channels=16,
    mrte_heads=2,
    style_hidden=16,
    style_heads=2,
    flow_layers=2,
    n_flows=2,
)

#: The smallest config upstream's SynthesizerTrn can build (it hard-codes 192/512/768-wide parts); used for parity.
PARITY_CONFIG = SoVITSConfig(inter_channels=8, filter_channels=64, n_layers=2, **_SMALL_VOCODER)


def seeded_weights(cfg: SoVITSConfig, seed: int) -> dict[str, torch.Tensor]:
    """Random float32 weights for every tensor of ``SynthesizerTrnV2(cfg)`` (model layout), key by key.

    Matrices ``N(0, 1/fan_in)``, biases ``N(0, 0.02^2)``, norm gains ``1 + N(0, 0.1^2)``, codebook ``N(0, 1)``
    (``embed_avg`` = ``embed``), ``cluster_size`` and ``inited`` ones.
    """
    from sovits_core.checkpoint import build_on_meta
    from sovits_core.sovits.model import SynthesizerTrnV2

    gen = torch.Generator().manual_seed(seed)
    shapes = {k: v.shape for k, v in build_on_meta(lambda: SynthesizerTrnV2(cfg)).state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        if key.endswith(("._codebook.inited", "._codebook.cluster_size")):
            out[key] = torch.ones(shape)
        elif key.endswith("._codebook.embed_avg"):
            out[key] = out[key[: -len("_avg")]].clone()
        elif key.endswith("._codebook.embed"):
            out[key] = torch.randn(shape, generator=gen)
        elif key.endswith(".gamma"):
            out[key] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:
            out[key] = 0.02 * torch.randn(shape, generator=gen)
        else:
            out[key] = torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))
    return out


def seeded_model(cfg: SoVITSConfig = TINY_CONFIG, seed: int = 0):
    """``SynthesizerTrnV2`` in eval mode holding :func:`seeded_weights`."""
    from sovits_core.sovits.model import SynthesizerTrnV2

    model = SynthesizerTrnV2(cfg)
    model.load_state_dict(seeded_weights(cfg, seed), strict=True)
    return model.eval()


@dataclass(frozen=True)
class DecodeInputs:
    """One decode batch: padded codes/phones with their lengths and speaker embeddings."""

    codes: torch.Tensor
    code_lengths: torch.Tensor
    phones: torch.Tensor
    phone_lengths: torch.Tensor
    ge: torch.Tensor

    def as_args(self) -> tuple[torch.Tensor, ...]:
        return self.codes, self.code_lengths, self.phones, self.phone_lengths, self.ge


def seeded_inputs(cfg: SoVITSConfig, code_lengths: list[int], phone_lengths: list[int], seed: int) -> DecodeInputs:
    """Random codes / phones (zero-padded) and ``ge`` rows from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    batch = len(code_lengths)
    codes = torch.zeros(batch, max(code_lengths), dtype=torch.long)
    phones = torch.zeros(batch, max(phone_lengths), dtype=torch.long)
    for i, (n, p) in enumerate(zip(code_lengths, phone_lengths, strict=True)):
        codes[i, :n] = torch.randint(0, cfg.codebook_size, (n,), generator=gen)
        phones[i, :p] = torch.randint(0, cfg.n_symbols, (p,), generator=gen)
    ge = torch.randn(batch, cfg.gin_channels, 1, generator=gen)
    return DecodeInputs(codes, torch.tensor(code_lengths), phones, torch.tensor(phone_lengths), ge)


def seeded_ssl(cfg: SoVITSConfig, frames: int, seed: int) -> torch.Tensor:
    """Random SSL features ``[1, ssl_dim, frames]``."""
    return torch.randn(1, cfg.ssl_dim, frames, generator=torch.Generator().manual_seed(seed))


def seeded_spectrogram(cfg: SoVITSConfig, frames: int, seed: int) -> torch.Tensor:
    """Random non-negative spectrogram ``[1, spec_channels, frames]``."""
    return torch.rand(1, cfg.spec_channels, frames, generator=torch.Generator().manual_seed(seed))
