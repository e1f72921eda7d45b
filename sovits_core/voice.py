"""Voice features: what synthesis needs from a speaker's reference clips, computed once and stored.

``VoiceFeatures`` holds the prompt semantic codes, the prompt phones and their BERT features (the GPT's prompt)
and the global speaker embedding ``ge`` (SoVITS timbre). Several clips average ``ge`` (weighted), as upstream does
for auxiliary references; the first clip with a transcript supplies the GPT prompt. Without a transcript the voice
is reference-free: the GPT gets no prompt and the timbre comes from ``ge`` alone.

Serialisation is safetensors (tensors + string metadata), never pickle, with a format version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from sovits_core.audio import (
    SAMPLE_RATE,
    SSL_PAD_SAMPLES,
    SSL_SAMPLE_RATE,
    ClipError,
    PreparedClip,
    prepare_reference,
    resample,
)


if TYPE_CHECKING:
    from sovits_core.bundle import TTSBundle


logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
PROMPT_SPLITS = frozenset("，。？！,.?!~:：—…")

__all__ = ["ClipError", "ReferenceClip", "VoiceFeatures", "VoiceFormatError", "build_voice_features"]


class VoiceFormatError(ValueError):
    """Serialized voice features are corrupt or of an unknown format version."""


@dataclass(frozen=True)
class ReferenceClip:
    """One reference recording: ``[N]`` or ``[N, C]`` samples at ``sample_rate``; ``weight`` scales its ``ge``."""

    wav: np.ndarray
    sample_rate: int
    weight: float = 1.0


@dataclass(frozen=True)
class VoiceFeatures:
    """Precomputed speaker features (see module docstring). Tensors live on the CPU in float32 / int64."""

    ge: torch.Tensor  # [gin_channels, 1]
    prompt_codes: torch.Tensor | None  # [P] int64, None for reference-free voices
    prompt_phone_ids: torch.Tensor | None  # [Tp] int64
    prompt_bert: torch.Tensor | None  # [1024, Tp] float32
    ref_lang: str
    ref_text: str | None
    model_fingerprint: str
    n_clips: int = 1
    ref_seconds: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    format_version: int = FORMAT_VERSION

    @property
    def reference_free(self) -> bool:
        return self.prompt_codes is None

    def to_bytes(self) -> bytes:
        tensors = {"ge": self.ge.float().contiguous()}
        if not self.reference_free:
            tensors["prompt_codes"] = self.prompt_codes.long().contiguous()
            tensors["prompt_phone_ids"] = self.prompt_phone_ids.long().contiguous()
            tensors["prompt_bert"] = self.prompt_bert.float().contiguous()
        meta = {
            "format_version": str(self.format_version),
            "ref_lang": self.ref_lang,
            "ref_text": json.dumps(self.ref_text),
            "model_fingerprint": self.model_fingerprint,
            "n_clips": str(self.n_clips),
            "ref_seconds": repr(float(self.ref_seconds)),
            "warnings": json.dumps(list(self.warnings)),
        }
        return st_save(tensors, metadata=meta)

    @classmethod
    def from_bytes(cls, data: bytes) -> VoiceFeatures:
        meta = _read_metadata(data)
        try:
            version = int(meta["format_version"])
        except (KeyError, ValueError) as exc:
            raise VoiceFormatError("voice features have no valid format_version") from exc
        if version not in SUPPORTED_VERSIONS:
            raise VoiceFormatError(f"voice features format version {version} is not supported {SUPPORTED_VERSIONS}")
        try:
            tensors = st_load(data)
            return cls(
                ge=tensors["ge"],
                prompt_codes=tensors.get("prompt_codes"),
                prompt_phone_ids=tensors.get("prompt_phone_ids"),
                prompt_bert=tensors.get("prompt_bert"),
                ref_lang=meta["ref_lang"],
                ref_text=json.loads(meta["ref_text"]),
                model_fingerprint=meta["model_fingerprint"],
                n_clips=int(meta["n_clips"]),
                ref_seconds=float(meta["ref_seconds"]),
                warnings=tuple(json.loads(meta["warnings"])),
                format_version=version,
            )
        except (KeyError, ValueError, SafetensorError) as exc:
            raise VoiceFormatError(f"voice features are corrupt: {exc}") from exc


def _read_metadata(data: bytes) -> dict[str, str]:
    """Read the safetensors header without touching tensor data."""
    if len(data) < 8:
        raise VoiceFormatError("voice features are truncated")
    size = int.from_bytes(data[:8], "little")
    if size <= 0 or 8 + size > len(data):
        raise VoiceFormatError("voice features header is corrupt")
    try:
        header = json.loads(data[8 : 8 + size])
    except ValueError as exc:
        raise VoiceFormatError("voice features header is not valid JSON") from exc
    return header.get("__metadata__", {}) or {}


def prompt_text_for(text: str, lang: str) -> str:
    """Upstream adds a full stop to a prompt transcript that does not end in punctuation."""
    text = text.strip("\n").strip()
    if text and text[-1] not in PROMPT_SPLITS:
        text += "." if lang == "en" else "。"
    return text


@torch.inference_mode()
def speaker_embedding(bundle: TTSBundle, clip: PreparedClip) -> torch.Tensor:
    """``ge`` [gin, 1] of one clip: linear spectrogram at 32 kHz -> SoVITS reference encoder."""
    from sovits_core.audio_features import linear_spectrogram

    wav32 = resample(clip.wav, clip.sample_rate, SAMPLE_RATE)
    audio = torch.from_numpy(wav32).to(bundle.device).unsqueeze(0)
    peak = audio.abs().max()
    if peak > 1:
        audio = audio / min(2.0, float(peak))
    spec = linear_spectrogram(audio).to(bundle.dtype)
    return bundle.sovits.reference_embedding(spec)[0].float().cpu()


@torch.inference_mode()
def prompt_codes(bundle: TTSBundle, clip: PreparedClip) -> torch.Tensor:
    """Semantic codes [P] of a clip: 16 kHz audio + upstream's zero padding -> CNHuBERT -> SoVITS extract_latent."""
    wav16 = resample(clip.wav, clip.sample_rate, SSL_SAMPLE_RATE)
    wav16 = np.concatenate([wav16, np.zeros(SSL_PAD_SAMPLES, dtype=np.float32)])
    audio = torch.from_numpy(wav16).to(bundle.device, bundle.dtype).unsqueeze(0)
    ssl = bundle.ssl.features(audio)
    return bundle.sovits.extract_latent(ssl.to(bundle.dtype))[0].long().cpu()


def average_ge(ges: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted mean of speaker embeddings (equal weights = upstream's mean over auxiliary references)."""
    w = torch.tensor(weights, dtype=torch.float32)
    if (w < 0).any() or float(w.sum()) <= 0:
        raise ValueError(f"clip weights must be non-negative and not all zero, got {weights}")
    stacked = torch.stack([g.float() for g in ges], 0)
    return (stacked * (w / w.sum()).view(-1, *([1] * (stacked.dim() - 1)))).sum(0)


def build_voice_features(
    bundle: TTSBundle, clips: list[ReferenceClip], ref_text: str | None, ref_lang: str
) -> VoiceFeatures:
    """Compute a voice's features from one or several reference clips (see module docstring).

    Raises:
        ClipError: a clip is unusable (index and reason).
        ValueError: no clips, or the transcript gives no phonemes.
    """
    from sovits_core.text import text_to_phones

    if not clips:
        raise ValueError("a voice needs at least one reference clip")
    prepared = [prepare_reference(c.wav, c.sample_rate, i) for i, c in enumerate(clips)]
    ge = average_ge([speaker_embedding(bundle, p) for p in prepared], [c.weight for c in clips])
    codes = phone_ids = bert = None
    text = None
    if ref_text is not None and ref_text.strip():
        text = prompt_text_for(ref_text, ref_lang)
        phonemes = text_to_phones(text, ref_lang)
        if not phonemes.phone_ids:
            raise ValueError(f"reference transcript {ref_text!r} gives no phonemes")
        phone_ids = torch.tensor(phonemes.phone_ids, dtype=torch.long)
        bert = bundle.bert.phone_features(phonemes).float().cpu()
        codes = prompt_codes(bundle, prepared[0])
    warnings = tuple(w for p in prepared for w in p.warnings)
    if text is not None and prepared[0].cut:
        warnings += ("clip 0 was cut: its transcript may not match the audio used as prompt",)
    return VoiceFeatures(
        ge=ge,
        prompt_codes=codes,
        prompt_phone_ids=phone_ids,
        prompt_bert=bert,
        ref_lang=ref_lang,
        ref_text=text,
        model_fingerprint=bundle.fingerprint,
        n_clips=len(clips),
        ref_seconds=round(sum(p.seconds for p in prepared), 3),
        warnings=warnings,
    )
