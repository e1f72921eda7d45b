"""Audio bytes <-> numpy arrays through soundfile (libsndfile): WAV, FLAC, OGG/Vorbis, MP3 and every other format the
installed libsndfile reads.

No resampling or channel mixing here: decoded audio keeps its rate and channels; the model core decides what to do
with them (`sovits_core.voice.build_voice_features` mixes to mono and resamples with soxr).
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


__all__ = ["AudioDecodeError", "AudioEncodeError", "ENCODE_FORMATS", "decode_audio", "encode_audio", "rate_problem"]

# container -> (soundfile format, default subtype)
ENCODE_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
_MP3_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})


def rate_problem(fmt: str, sample_rate: int) -> str | None:
    """Why ``fmt`` cannot hold ``sample_rate`` Hz, or None when it can (checked before a job starts)."""
    if not 8000 <= sample_rate <= 192000:
        return "outside [8000, 192000] Hz"
    if fmt == "mp3" and sample_rate not in _MP3_RATES:
        return f"mp3 cannot hold {sample_rate} Hz; use one of {sorted(_MP3_RATES)}"
    return None


class AudioDecodeError(ValueError):
    """The bytes are empty, not audio, or in a format libsndfile cannot read."""


class AudioEncodeError(ValueError):
    """The array cannot be encoded in the requested format (bad shape, NaN, unsupported rate...)."""


def decode_audio(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Decode an audio file held in memory.

    Args:
        data: the file's bytes.
        name: shown in error messages (e.g. the source URI).

    Returns:
        (samples, sample_rate): float32 in [-1, 1], shape [N] for mono or [N, C] for C channels.

    Raises:
        AudioDecodeError: empty input, unknown/corrupt format, or no samples.
    """
    if not data:
        raise AudioDecodeError(f"{name}: empty file (0 bytes)")
    try:
        wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioDecodeError(f"{name}: not readable as audio ({len(data)} bytes): {exc}") from exc
    if wav.shape[0] == 0:
        raise AudioDecodeError(f"{name}: audio file holds no samples")
    return (wav[:, 0].copy() if wav.shape[1] == 1 else wav), int(sr)


def encode_audio(wav: np.ndarray, sample_rate: int, fmt: str = "flac", subtype: str | None = None) -> bytes:
    """Encode float audio into file bytes.

    Args:
        wav: float samples in [-1, 1], shape [N] or [N, C]; values outside are clipped.
        sample_rate: Hz.
        fmt: "wav", "flac", "ogg" or "mp3".
        subtype: soundfile subtype (default PCM_16 for wav/flac, VORBIS for ogg, MPEG_LAYER_III for mp3).

    Raises:
        AudioEncodeError: unknown format, bad shape, non-finite samples or a rate the format cannot hold.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in ENCODE_FORMATS:
        raise AudioEncodeError(f"unknown audio format {fmt!r}; choose one of {sorted(ENCODE_FORMATS)}")
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim not in (1, 2) or wav.shape[0] == 0:
        raise AudioEncodeError(f"audio must be a non-empty [N] or [N, C] array, got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise AudioEncodeError("audio contains NaN or infinite samples")
    if (problem := rate_problem(fmt, sample_rate)) is not None:
        raise AudioEncodeError(f"cannot encode {sample_rate} Hz as {fmt}: {problem}")
    container, default_subtype = ENCODE_FORMATS[fmt]
    buf = io.BytesIO()
    try:
        sf.write(buf, np.clip(wav, -1.0, 1.0), int(sample_rate), format=container, subtype=subtype or default_subtype)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioEncodeError(f"cannot encode {wav.shape} @ {sample_rate} Hz as {fmt}: {exc}") from exc
    return buf.getvalue()
