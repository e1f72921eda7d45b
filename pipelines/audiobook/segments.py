"""The streams `stitch` is made of: segments read block by block (resampled, faded), room tone, zeros, re-blocking.

A segment is read from its `Storage` file object with soundfile (``SoundFile.blocks``), so even a long segment is
never held whole; soxr resamples it as a stream (``round(n * out_rate / in_rate)`` samples in all) and `Fader`
holds back only the last ``fade`` samples to fade them out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import soundfile as sf
import soxr

from pipelines.audiobook.levels import db_to_amplitude
from pipelines.storage import Storage


__all__ = ["Fader", "RoomTone", "rechunk", "segment_chunks", "zeros"]


class RoomTone:
    """Seeded Gaussian noise at a fixed RMS, clipped at 4 sigma; the same sequence on every pass."""

    def __init__(self, dbfs: float | None, seed: int) -> None:
        self.sigma = db_to_amplitude(dbfs) if dbfs is not None else 0.0
        self.rng = np.random.default_rng(seed)

    def next(self, n: int) -> np.ndarray:
        if self.sigma == 0.0:
            return np.zeros(n, dtype=np.float64)
        return np.clip(self.rng.standard_normal(n), -4.0, 4.0) * self.sigma


def rechunk(chunks: Iterator[np.ndarray], block: int) -> Iterator[np.ndarray]:
    """Re-cut a stream of arbitrary chunks into float64 blocks of ``block`` samples (the last may be shorter)."""
    pending: list[np.ndarray] = []
    n_pending = 0
    for chunk in chunks:
        pending.append(chunk)
        n_pending += len(chunk)
        while n_pending >= block:
            data = np.concatenate(pending)
            yield data[:block]
            pending, n_pending = [data[block:]], n_pending - block
    if n_pending:
        yield np.concatenate(pending)


def zeros(n: int, block: int) -> Iterator[np.ndarray]:
    for start in range(0, n, block):
        yield np.zeros(min(block, n - start), dtype=np.float64)


def segment_chunks(storage: Storage, key: str, out_rate: int, fade: int, block: int) -> Iterator[np.ndarray]:
    """One segment's audio: mono (channels averaged), at ``out_rate``, faded over ``fade`` samples at both ends.

    Args:
        storage: where the file is; key: its key.
        out_rate: the rate to resample to (soxr HQ, streaming).
        fade: fade length in output samples.
        block: about how many output samples to read at a time.

    Yields:
        float64 chunks ``[n]`` (some may be empty).
    """
    with storage.open(key, "rb") as fh, sf.SoundFile(fh) as snd:
        rate = int(snd.samplerate)
        resampler = None
        if rate != out_rate:
            resampler = soxr.ResampleStream(rate, out_rate, 1, dtype="float64", quality="HQ")
        fader = Fader(fade)
        in_block = max(1, int(block * rate / out_rate))
        for frames in snd.blocks(blocksize=in_block, dtype="float64", always_2d=True):
            mono = np.ascontiguousarray(frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0])
            yield fader.push(resampler.resample_chunk(mono) if resampler else mono)
        if resampler is not None:
            yield fader.push(resampler.resample_chunk(np.zeros(0, dtype=np.float64), last=True))
        yield fader.finish()


class Fader:
    """Raised-cosine fade-in over the first ``n`` and fade-out over the last ``n`` samples of a streamed segment."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n) if n else np.zeros(0)
        self.pos = 0
        self.held = np.zeros(0, dtype=np.float64)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        data = np.concatenate([self.held, chunk])
        n_out = max(0, len(data) - self.n)
        out, self.held = data[:n_out], data[n_out:]
        return self._fade_in(out)

    def finish(self) -> np.ndarray:
        tail = self._fade_in(self.held)
        if len(tail):
            tail = tail * self.ramp[::-1][self.n - len(tail) :]
        self.held = np.zeros(0, dtype=np.float64)
        return tail

    def _fade_in(self, out: np.ndarray) -> np.ndarray:
        if self.pos < self.n and len(out):
            k = min(self.n - self.pos, len(out))
            out = out.copy()
            out[:k] *= self.ramp[self.pos : self.pos + k]
        self.pos += len(out)
        return out
