"""SynthesizerTrnV2: the GPT-SoVITS v2 SoVITS network for inference (upstream ``models.SynthesizerTrn``, v2).

Pieces (state-dict prefixes as upstream): ``ssl_proj`` + ``quantizer`` (SSL features -> 25 Hz semantic codes),
``ref_enc`` (spectrogram -> speaker embedding ``ge``), ``enc_p`` (codes + phones + ge -> prior), ``flow`` (prior ->
latent, reversed), ``dec`` (latent -> 32 kHz waveform). ``enc_q.*`` (posterior encoder, training only) is accepted in
a state dict and dropped. Weight-normed convolutions are plain convolutions here; upstream's ``weight_g``/``weight_v``
pairs are folded when a state dict is loaded (see :mod:`sovits_core.sovits.layers`).

Timing: HuBERT gives 50 Hz frames; ``ssl_proj`` (kernel 2, stride 2) makes them 25 Hz codes; decoding repeats each
code twice (50 Hz frames) and the generator upsamples each frame by ``hop_length`` (640) -> 1280 samples per code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.flow import ResidualCouplingBlock
from sovits_core.sovits.generator import Generator
from sovits_core.sovits.layers import upstream_state_dict
from sovits_core.sovits.quantizer import ResidualVectorQuantizer
from sovits_core.sovits.ref_encoder import MelStyleEncoder
from sovits_core.sovits.text_encoder import TextEncoder


TRAINING_ONLY_PREFIXES = ("enc_q.",)


def average_embeddings(ges: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean of several speaker embeddings (upstream's handling of auxiliary reference clips)."""
    if not ges:
        raise ValueError("average_embeddings needs at least one embedding")
    return torch.stack(list(ges), 0).mean(0)


def _drop_training_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    for key in [k for k in state_dict if k.startswith(tuple(prefix + p for p in TRAINING_ONLY_PREFIXES))]:
        del state_dict[key]


class SynthesizerTrnV2(nn.Module):
    """Inference-only SoVITS v2. Build with :class:`SoVITSConfig`, then ``load_state_dict`` an upstream ``weight``."""

    def __init__(self, cfg: SoVITSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.enc_p = TextEncoder(cfg)
        self.dec = Generator(cfg)
        self.flow = ResidualCouplingBlock(
            cfg.inter_channels,
            cfg.hidden_channels,
            cfg.flow_kernel_size,
            cfg.flow_layers,
            cfg.n_flows,
            cfg.gin_channels,
        )
        self.ref_enc = MelStyleEncoder(
            cfg.ref_bins, cfg.style_hidden, cfg.gin_channels, cfg.style_kernel_size, cfg.style_heads
        )
        self.ssl_proj = nn.Conv1d(cfg.ssl_dim, cfg.ssl_dim, 2, stride=2)
        self.quantizer = ResidualVectorQuantizer(cfg.ssl_dim, cfg.codebook_size, cfg.n_codebooks)
        self.register_load_state_dict_pre_hook(_drop_training_keys)

    @property
    def samples_per_code(self) -> int:
        return self.cfg.samples_per_code

    def load_weights(self, state_dict: dict[str, torch.Tensor]) -> SynthesizerTrnV2:
        """Strict load of an upstream-layout state dict (``enc_q.*`` dropped, weight-norm pairs folded); eval mode."""
        self.load_state_dict(state_dict, strict=True)
        return self.eval()

    def upstream_state_dict(self) -> dict[str, torch.Tensor]:
        """This model's weights in upstream's layout (``weight_g``/``weight_v`` pairs, upstream key order)."""
        return upstream_state_dict(self)

    @torch.inference_mode()
    def extract_latent(self, ssl: torch.Tensor) -> torch.Tensor:
        """SSL features [B, ssl_dim, T] (50 Hz) -> semantic codes LongTensor [B, T // 2] (first codebook)."""
        x = self.ssl_proj(ssl.to(self.ssl_proj.weight.dtype))
        return self.quantizer.encode(x)[0]

    @torch.inference_mode()
    def reference_embedding(self, spec: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Linear spectrogram [B, spec_channels, T] -> ``ge`` [B, gin, 1] (v2: first ``ref_bins`` bins).

        Rows of different lengths (``lengths``) are encoded one by one: the style encoder's convolutions are not
        masked upstream, so this is what makes each row equal to the row encoded alone.
        """
        spec = spec[:, : self.cfg.ref_bins].to(self.ssl_proj.weight.dtype)
        if lengths is None or bool((lengths == spec.shape[2]).all()):
            return self.ref_enc(spec)
        rows = [self.ref_enc(spec[i : i + 1, :, : int(n)]) for i, n in enumerate(lengths.tolist())]
        return torch.cat(rows, 0)

    @torch.inference_mode()
    def decode(
        self,
        codes: torch.Tensor,
        code_lengths: torch.Tensor,
        phones: torch.Tensor,
        phone_lengths: torch.Tensor,
        ge: torch.Tensor,
        speed: float | Sequence[float] = 1.0,
        noise_scale: float = 0.5,
        seeds: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Semantic codes + phones + speaker embedding -> waveform.

        Args:
            codes: [B, Tc] 25 Hz semantic codes (padded rows), or [B, 1, Tc] as upstream.
            code_lengths: [B] valid codes per row.
            phones: [B, Tp] phone ids (padded), phone_lengths: [B].
            ge: [B, gin, 1] speaker embeddings (average several with :func:`average_embeddings`).
            speed: one factor, or one per row; frames become ``int(2 * Tc / speed) + 1`` as upstream (1: 2 * Tc).
            noise_scale: prior noise; 0 gives the prior mean.
            seeds: one seed per row -> row i's noise comes from its own generator, so a row decodes identically
                alone or in any batch. ``None`` draws from the global RNG.
        Returns:
            ``(audio [B, N] float, lengths [B])``; samples past a row's length are zero. At speed 1 a row has
            ``code_length * samples_per_code`` (1280) samples.
        """
        if codes.dim() == 3:
            codes = codes[:, 0]
        batch = codes.shape[0]
        speeds = [float(speed)] * batch if isinstance(speed, (int, float)) else [float(s) for s in speed]
        _check_batch(batch, code_lengths, phone_lengths, ge, speeds, seeds)
        if any(s <= 0 for s in speeds):
            raise ValueError(f"speed must be positive, got {speeds}")
        _check_ids("semantic codes", codes, self.cfg.codebook_size)
        _check_ids("phone ids", phones, self.cfg.n_symbols)
        _check_lengths("code_lengths", code_lengths, codes.shape[1])
        _check_lengths("phone_lengths", phone_lengths, phones.shape[1])
        dtype = self.ssl_proj.weight.dtype
        features = self.quantizer.decode(codes.unsqueeze(0)).to(dtype)
        features = F.interpolate(features, size=features.shape[-1] * 2, mode="nearest")
        frame_lengths = code_lengths.to(features.device) * 2
        ge = ge.to(dtype)
        m, logs, y_mask, lengths = self.enc_p(features, frame_lengths, phones, phone_lengths, ge, speeds)
        noise = _prior_noise(m, lengths, seeds)
        z_p = (m + noise * torch.exp(logs) * noise_scale) * y_mask
        z = self.flow(z_p, y_mask, g=ge, reverse=True)
        full = bool((lengths == z.shape[2]).all())
        dec_dtype = self.dec.conv_pre.weight.dtype  # the vocoder may run in lower precision (set_vocoder_dtype)
        audio = self.dec((z * y_mask).to(dec_dtype), g=ge.to(dec_dtype), lengths=None if full else lengths)
        return audio[:, 0].to(dtype), lengths * self.cfg.hop_samples

    def set_vocoder_dtype(self, dtype: torch.dtype) -> SynthesizerTrnV2:
        """Run only the waveform generator ``dec`` in ``dtype`` (e.g. bfloat16 on CPUs with AVX512-BF16: ~2.5x
        faster, about 1% RMS error); everything else keeps the model's dtype."""
        self.dec.to(dtype)
        return self


def _check_batch(batch: int, code_lengths, phone_lengths, ge, speeds, seeds) -> None:
    sizes = {
        "code_lengths": len(code_lengths),
        "phone_lengths": len(phone_lengths),
        "ge": ge.shape[0],
        "speed": len(speeds),
    }
    if seeds is not None:
        sizes["seeds"] = len(seeds)
    wrong = {k: v for k, v in sizes.items() if v != batch}
    if wrong:
        raise ValueError(f"batch of {batch} codes rows but {wrong}")


def _check_ids(name: str, ids: torch.Tensor, size: int) -> None:
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise ValueError(f"{name} must be in [0, {size}), got values in [{int(ids.min())}, {int(ids.max())}]")


def _check_lengths(name: str, lengths: torch.Tensor, width: int) -> None:
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > width):
        raise ValueError(f"{name} must be in [1, {width}] (the padded width), got {lengths.tolist()}")


def _prior_noise(m: torch.Tensor, lengths: torch.Tensor, seeds: Sequence[int] | None) -> torch.Tensor:
    """Standard normal noise shaped like ``m``; with seeds, row i's first ``lengths[i]`` frames from seed i."""
    if seeds is None:
        return torch.randn_like(m)
    noise = torch.zeros_like(m)
    for i, seed in enumerate(seeds):
        gen = torch.Generator(device=m.device).manual_seed(int(seed))
        n = int(lengths[i])
        noise[i, :, :n] = torch.randn((m.shape[1], n), generator=gen, device=m.device, dtype=torch.float32)
    return noise
