"""Audio constants and array-level helpers (no file IO).

Everything here works on numpy arrays already in memory: channel down-mixing, resampling (soxr), and the
reference-clip checks that decide whether a clip can be used as a voice prompt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import soxr


logger = logging.getLogger(__name__)

SAMPLE_RATE = 32000  # SoVITS v2 output and spectrogram rate
SSL_SAMPLE_RATE = 16000  # CNHuBERT input rate
HOP_LENGTH = 640  # spectrogram hop at 32 kHz (50 frames/s)
SAMPLES_PER_CODE = 1280  # semantic codes run at 25 Hz: 32000 / 25
SSL_PAD_SAMPLES = 9600  # upstream appends int(32000 * 0.3) zeros to the 16 kHz reference before HuBERT

MIN_REF_SECONDS = 3.0
MAX_REF_SECONDS = 10.0
MIN_REF_SAMPLE_RATE = 8000  # clips below this rate are refused
LOW_REF_SAMPLE_RATE = 16000  # clips below this rate are used with a warning (no content above 4-8 kHz)
SILENCE_PEAK = 1e-3  # a clip whose peak is below this is silent; one varying less than this around its mean is DC
CLIP_LEVEL = 0.999
MAX_CLIPPED_FRACTION = 0.01
TRIM_TOP_DB = 40.0
TRIM_FRAME_SECONDS = 0.02
TRIM_MARGIN_SECONDS = 0.05


class ClipError(ValueError):
    """A reference clip cannot be used; ``clip_index`` says which one."""

    def __init__(self, clip_index: int, reason: str) -> None:
        super().__init__(f"reference clip {clip_index}: {reason}")
        self.clip_index = clip_index
        self.reason = reason


def to_mono(wav: np.ndarray) -> np.ndarray:
    """Down-mix ``[N]``, ``[N, C]`` (soundfile layout) or ``[C, N]`` (C <= 8) audio to float32 ``[N]``."""
    wav = np.asarray(wav)
    if wav.ndim == 1:
        return wav.astype(np.float32, copy=False)
    if wav.ndim != 2:
        raise ValueError(f"audio must have 1 or 2 dimensions, got shape {wav.shape}")
    channel_axis = 0 if wav.shape[0] <= 8 and wav.shape[1] > wav.shape[0] else 1
    return wav.mean(axis=channel_axis).astype(np.float32)


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling with soxr (float32 in, float32 out)."""
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"invalid sample rates {sr_in} -> {sr_out}")
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    if sr_in == sr_out or wav.size == 0:
        return wav
    return soxr.resample(wav, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def frame_rms_db(wav: np.ndarray, frame: int) -> np.ndarray:
    """RMS level per non-overlapping frame, in dB relative to full scale."""
    n = len(wav) // frame
    if n == 0:
        return np.full(1, 20 * np.log10(np.sqrt(np.mean(wav**2)) + 1e-10))
    frames = wav[: n * frame].reshape(n, frame)
    return 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-10)


def trim_silence(wav: np.ndarray, sr: int, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``top_db`` below the loudest frame (keeps a small margin)."""
    frame = max(1, int(sr * TRIM_FRAME_SECONDS))
    levels = frame_rms_db(wav, frame)
    voiced = np.flatnonzero(levels > levels.max() - top_db)
    if voiced.size == 0:
        return wav
    margin = int(sr * TRIM_MARGIN_SECONDS)
    start = max(0, voiced[0] * frame - margin)
    end = min(len(wav), (voiced[-1] + 1) * frame + margin)
    return wav[start:end]


def best_window(wav: np.ndarray, sr: int, seconds: float) -> tuple[int, int]:
    """Start and end sample of the ``seconds``-long window holding the most voiced frames (ties: earliest)."""
    frame = max(1, int(sr * TRIM_FRAME_SECONDS))
    levels = frame_rms_db(wav, frame)
    voiced = (levels > levels.max() - TRIM_TOP_DB).astype(np.int64)
    width = int(seconds * sr) // frame
    if width >= len(voiced):
        return 0, min(len(wav), int(seconds * sr))
    sums = np.convolve(voiced, np.ones(width, dtype=np.int64), mode="valid")
    start = int(np.argmax(sums)) * frame
    return start, start + int(seconds * sr)


@dataclass(frozen=True)
class PreparedClip:
    """A reference clip after checks: mono float32 at its original rate, plus what was done to it."""

    wav: np.ndarray
    sample_rate: int
    seconds: float
    warnings: tuple[str, ...]
    cut: bool = False  # longer than the maximum: only its best window is kept


def prepare_reference(
    wav: np.ndarray,
    sample_rate: int,
    clip_index: int = 0,
    min_seconds: float = MIN_REF_SECONDS,
    max_seconds: float = MAX_REF_SECONDS,
) -> PreparedClip:
    """Check and clean one reference clip; raise :class:`ClipError` with the reason when it is unusable.

    Steps: refuse rates below 8 kHz, down-mix to mono, refuse empty / non-finite / silent / DC-only / clipped audio,
    trim leading and trailing silence, refuse clips shorter than ``min_seconds`` and cut clips longer than
    ``max_seconds`` to their best window. Rates below 16 kHz are accepted with a warning (the voice may sound muffled).
    """
    if sample_rate < MIN_REF_SAMPLE_RATE:
        raise ClipError(clip_index, f"sample rate {sample_rate} Hz is below {MIN_REF_SAMPLE_RATE} Hz")
    mono = _checked_mono(wav, clip_index)
    trimmed = trim_silence(mono, sample_rate)
    seconds = len(trimmed) / sample_rate
    if seconds < min_seconds:
        raise ClipError(clip_index, f"too short after trimming silence ({seconds:.2f} s < {min_seconds:g} s)")
    warnings: list[str] = []
    if sample_rate < LOW_REF_SAMPLE_RATE:
        warnings.append(
            f"clip {clip_index} is {sample_rate} Hz: below {LOW_REF_SAMPLE_RATE // 1000} kHz the voice may sound muffled"
        )
    cut = seconds > max_seconds
    if cut:
        start, end = best_window(trimmed, sample_rate, max_seconds)
        warnings.append(
            f"clip {clip_index} cut from {seconds:.1f} s to {max_seconds:g} s "
            f"(best window {start / sample_rate:.1f}-{end / sample_rate:.1f} s)"
        )
        trimmed = trimmed[start:end]
        seconds = len(trimmed) / sample_rate
    return PreparedClip(np.ascontiguousarray(trimmed), sample_rate, seconds, tuple(warnings), cut)


def _checked_mono(wav: np.ndarray, clip_index: int) -> np.ndarray:
    """Mono float32 samples, or :class:`ClipError` for empty, non-finite, silent, DC-only or clipped audio."""
    try:
        mono = to_mono(wav)
    except ValueError as exc:
        raise ClipError(clip_index, str(exc)) from exc
    if mono.size == 0:
        raise ClipError(clip_index, "audio is empty")
    if not np.all(np.isfinite(mono)):
        raise ClipError(clip_index, "audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(mono)))
    if peak < SILENCE_PEAK:
        raise ClipError(clip_index, f"audio is silent (peak {peak:.2e})")
    offset = float(np.mean(mono, dtype=np.float64))
    variation = float(np.max(np.abs(mono.astype(np.float64) - offset)))
    if variation < SILENCE_PEAK:
        raise ClipError(
            clip_index,
            f"audio is only a DC offset (constant level {offset:+.3f}, varies by {variation:.2e}): no sound",
        )
    clipped = float(np.mean(np.abs(mono) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_FRACTION:
        raise ClipError(clip_index, f"audio is clipped ({clipped:.1%} of samples at full scale)")
    return mono
