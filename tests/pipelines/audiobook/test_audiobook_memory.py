"""Bounded memory: stitching an hour costs the same peak memory as ten minutes (tracemalloc, numpy included)."""

from __future__ import annotations

import logging
import tracemalloc

from audiobook_signals import NullSink, speechlike, write_segment

from pipelines.audiobook.stitch import Piece, StitchSettings, stitch
from pipelines.storage import Storage


logger = logging.getLogger(__name__)

RATE = 8000  # segments and output at one low rate: the test measures memory, not speed


def _peak_bytes(storage: Storage, pieces: list[Piece], settings: StitchSettings) -> tuple[int, float]:
    sink = NullSink(settings.sample_rate)
    tracemalloc.start()
    try:
        result = stitch(storage, pieces, settings, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.n_samples == result.n_samples
    return peak, result.duration_s


def test_peak_memory_does_not_grow_with_the_chapter(storage: Storage) -> None:
    keys = [write_segment(storage, f"seg/{i:02d}.flac", speechlike(5.0, RATE, seed=i), rate=RATE) for i in range(12)]
    settings = StitchSettings(sample_rate=RATE, block_s=2.0)  # two passes, limiter, all meters

    def chapter(n: int) -> list[Piece]:
        return [Piece.audio(keys[i % len(keys)], "paragraph" if i % 7 == 6 else "sentence") for i in range(n)]

    _peak_bytes(storage, chapter(12), settings)  # warm-up: one-time allocations (imports, caches) are not per chapter
    short_peak, short_s = _peak_bytes(storage, chapter(120), settings)  # 10 min of speech (+ pauses)
    long_peak, long_s = _peak_bytes(storage, chapter(720), settings)  # 60 min of speech (+ pauses)
    per_hour = long_peak / (long_s / 3600)
    line = (
        f"stitch peak memory: {short_peak / 1e6:.2f} MB for {short_s / 60:.0f} min, "
        f"{long_peak / 1e6:.2f} MB for {long_s / 60:.0f} min = {per_hour / 1e6:.2f} MB per audio hour"
    )
    logger.info(line)
    print(line)
    assert long_s > 5.5 * short_s
    # the only thing that grows is the per-piece timeline (~0.2 kB a piece); the audio buffers do not
    assert long_peak - short_peak <= 600 * 400  # vs ~23 MB if the 50 extra minutes were held as float64
    assert long_peak < 16e6  # a few one-second blocks of float64 plus meter state
