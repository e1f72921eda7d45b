"""Synthetic speech-like segments for the audiobook tests: voiced syllables, noise bursts, gaps."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from pipelines.storage import Storage


SEGMENT_RATE = 32000


def speechlike(seconds: float, rate: int = SEGMENT_RATE, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Float32 ``[N]``: 4 Hz syllables of a harmonic tone (random pitch), fricative noise bursts and short gaps.

    The signal starts and ends at full amplitude (worst case for clicks at a join); ``level`` scales it.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = 110 + 60 * rng.random()
    voiced = sum(np.sin(2 * np.pi * f0 * k * t + rng.random() * 6.28) / k for k in range(1, 9))
    envelope = 0.55 + 0.45 * np.cos(2 * np.pi * 4.0 * t)
    noise = rng.standard_normal(n) * 0.3
    burst = np.zeros(n)
    gap = np.ones(n)
    for _ in range(max(1, int(seconds))):
        start = rng.integers(0, max(1, n - rate // 5))
        burst[start : start + rate // 12] = 1.0
        g = rng.integers(rate // 2, max(rate // 2 + 1, n - rate // 2)) if n > rate else 0
        if g:
            gap[g : g + rate // 10] = 0.0
    x = (voiced * envelope * (1 - burst) + noise * burst) * gap
    x /= np.abs(x).max()
    return (x * level).astype(np.float32)


def write_segment(
    storage: Storage, key: str, audio: np.ndarray, rate: int = SEGMENT_RATE, fmt: str = "FLAC", subtype: str = "PCM_16"
) -> str:
    """Encode ``audio`` with soundfile and store it at ``key``; returns ``key``."""
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    storage.write_bytes(key, buf.getvalue())
    return key


class ListSink:
    """A sink that keeps every block (small tests only)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(np.array(block, dtype=np.float32))

    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0, dtype=np.float32)


class NullSink:
    """A sink that drops everything (memory tests)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.n_samples = 0

    def write(self, block: np.ndarray) -> None:
        self.n_samples += len(block)
