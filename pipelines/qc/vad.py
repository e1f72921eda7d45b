"""Voice activity detection with Silero VAD (the ``silero-vad`` pip package, which ships its models; offline).

Model choice, measured on the 2-core CPU of the development machine (torch 2.13 CPU, onnxruntime 1.32, silero-vad
6.2.3) over the four example voices plus one 11 s clip (35 s of 16 kHz audio, 5-11 s per clip, best of 3):

============================================  ============================
model                                         VAD seconds per audio second
============================================  ============================
``silero_vad.jit``, 1 torch thread            0.0114
``silero_vad.jit``, 2 torch threads           0.0103
``silero_vad.onnx``, frame by frame           0.0055
``silero_vad_16k_sequence.onnx``, in blocks   0.0019
============================================  ============================

We use the ONNX *sequence* model: the same network exported to take a whole block of 32 ms frames (up to 512
frames, ~16 s) in one onnxruntime call instead of one Python-level call per frame; its per-frame probabilities
match the JIT model's to 2e-6. It is 16 kHz only, which is what we feed it anyway (every input is resampled to
16 kHz with soxr). It runs on one onnxruntime thread and never touches torch's thread settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch

from sovits_core.audio import resample, to_mono


if TYPE_CHECKING:
    from silero_vad.sequence_vad import SileroVADSequence

logger = logging.getLogger(__name__)

__all__ = ["VAD", "VAD_SAMPLE_RATE", "Spans", "prepare_audio"]

Spans = list[tuple[float, float]]
VAD_SAMPLE_RATE = 16000  # Silero's sequence model runs at 16 kHz only


def prepare_audio(wav: np.ndarray, sample_rate: int, target_rate: int = VAD_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 audio at ``target_rate``, with every non-finite sample (NaN, +-inf) replaced by 0.

    Args:
        wav: audio ``[N]``, ``[N, C]`` (soundfile layout) or ``[C, N]``, float in [-1, 1] (integer PCM is scaled
            by its type's maximum).
        sample_rate: rate of ``wav`` in Hz.
        target_rate: rate of the result in Hz (resampled with soxr, high quality, when different).

    Returns:
        float32 ``[M]`` at ``target_rate``.
    """
    wav = np.asarray(wav)
    if np.issubdtype(wav.dtype, np.integer):
        wav = wav / np.iinfo(wav.dtype).max
    mono = to_mono(wav.astype(np.float32, copy=False))
    mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    return resample(mono, sample_rate, target_rate)


def _load_sequence_model() -> SileroVADSequence:
    """The Silero ONNX sequence model, loaded without leaving torch's thread count changed.

    ``import silero_vad`` calls ``torch.set_num_threads(1)`` at import time (``silero_vad/model.py``); we put the
    caller's setting back so that loading the VAD does not slow down every other torch model in the worker.
    """
    n_threads = torch.get_num_threads()
    try:
        from silero_vad import load_silero_vad

        return load_silero_vad(sequence=True, sampling_rate=VAD_SAMPLE_RATE)
    finally:
        torch.set_num_threads(n_threads)


class VAD:
    """Speech intervals of a clip, with the Silero model loaded once (build one per worker and reuse it).

    Args:
        threshold: speech probability at or above which a 32 ms frame is speech (a span ends when the
            probability falls below ``threshold - 0.15``).
        min_speech_s: spans shorter than this are dropped.
        min_silence_s: a pause must last this long to split two spans.
        speech_pad_s: padding added on each side of a span (halved between two spans closer than twice this).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_speech_s: float = 0.25,
        min_silence_s: float = 0.1,
        speech_pad_s: float = 0.03,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if min(min_speech_s, min_silence_s, speech_pad_s) < 0:
            raise ValueError("min_speech_s, min_silence_s and speech_pad_s must be >= 0")
        self.threshold = threshold
        self.min_speech_s = min_speech_s
        self.min_silence_s = min_silence_s
        self.speech_pad_s = speech_pad_s
        self._model = _load_sequence_model()

    def speech_probs(self, wav16k: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame (512 samples) of 16 kHz mono audio.

        Args:
            wav16k: float32 ``[N]`` at 16 kHz (see :func:`prepare_audio`).

        Returns:
            float32 ``[ceil(N / 512)]``.
        """
        return self._model.audio_forward(np.clip(wav16k, -1.0, 1.0), sampling_rate=VAD_SAMPLE_RATE)

    def speech_spans(self, wav: np.ndarray, sample_rate: int) -> Spans:
        """Speech intervals ``[(start_s, end_s), ...]`` in seconds from the start of ``wav``, in order.

        The audio is mixed to mono, resampled to 16 kHz with soxr when needed and clipped to [-1, 1]; non-finite
        samples (NaN, +-inf) are treated as 0 (silence), so a broken clip gives spans for what is left, never an
        exception. Empty or silent audio gives ``[]``.

        Args:
            wav: audio ``[N]``, ``[N, C]`` or ``[C, N]``, float in [-1, 1].
            sample_rate: rate of ``wav`` in Hz.
        """
        wav16k = prepare_audio(wav, sample_rate)
        if wav16k.size == 0:
            return []
        return self._spans_from_probs(self.speech_probs(wav16k), wav16k.size)

    def speech_spans_many(self, wavs: list[np.ndarray], sample_rate: int) -> list[Spans]:
        """:meth:`speech_spans` of each clip (Silero runs one clip at a time; this is a convenience loop)."""
        return [self.speech_spans(wav, sample_rate) for wav in wavs]

    def _spans_from_probs(self, probs: np.ndarray, n_samples: int) -> Spans:
        """Silero's own span rules (hysteresis, minimum speech/silence, padding) in 16 kHz samples -> seconds."""
        from silero_vad.utils_vad import get_speech_timestamps_from_probs  # silero is already imported by now

        spans = get_speech_timestamps_from_probs(
            probs.tolist(),
            sampling_rate=VAD_SAMPLE_RATE,
            threshold=self.threshold,
            min_speech_duration_ms=self.min_speech_s * 1000,
            min_silence_duration_ms=self.min_silence_s * 1000,
            speech_pad_ms=self.speech_pad_s * 1000,
            audio_length_samples=n_samples,
        )
        return [(span["start"] / VAD_SAMPLE_RATE, span["end"] / VAD_SAMPLE_RATE) for span in spans]
