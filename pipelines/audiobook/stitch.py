"""Stitch a chapter's synthesized segments into one continuous, mastered stream, in bounded memory.

Input: ordered `Piece` s, each either a segment's audio file (a key in a `Storage`, any rate / channels that
libsndfile reads; mixed to mono) with the boundary that follows it, or an explicit pause from the text's markup.

Timeline (sample-exact at the output rate): head room tone, then every piece in order; after an audio piece comes
the pause of its boundary (`StitchSettings.pause_after`) unless the next piece is an explicit pause, which then
*replaces* it (markup such as ``<break time="2s"/>`` sets the gap, as in SSML); then tail room tone. Each segment is
resampled on its own (soxr, streaming, ``round(n * out_rate / in_rate)`` samples) and faded in and out with a short
raised-cosine ramp so that no join clicks.

Mastering, in passes over the same deterministic stream (each pass reads every segment again, one block at a time):

1. measure: integrated loudness (streaming BS.1770-4, `levels.LoudnessMeter`) or whole-stream RMS of the speech,
   and its true peak;
2. only if the gain would drive the true peak over the ceiling: up to two dry passes (gain, room tone, limiter,
   meter; nothing written) that measure how much loudness the limiter takes away, and raise the gain by the miss,
   so that the target holds *after* limiting (within 0.1 LU);
3. render: speech * gain (to reach ``target_lufs`` or ``target_rms_dbfs``) + room tone (seeded Gaussian noise at
   ``room_tone_dbfs``, the same under speech and pauses, never digital silence) -> true-peak limiter
   (`limiter.TruePeakLimiter`, 4x oversampled) -> the sink, while the output's loudness, true peak and ACX level
   statistics are measured.

Without a loudness target there is one pass. Memory: a few arrays of ``block_s`` seconds plus the fixed meter
state; nothing grows with the chapter's length except the per-piece timings (~200 bytes per piece). Throughput on
the 2-core development machine: ~150-190x real time per pass at 44.1 kHz (32 kHz segments resampled).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from pipelines.audiobook.levels import LevelMeter, LevelStats, LoudnessMeter, TruePeakMeter, db_to_amplitude, to_db
from pipelines.audiobook.limiter import TruePeakLimiter
from pipelines.audiobook.segments import RoomTone, rechunk, segment_chunks, zeros
from pipelines.storage import Storage


__all__ = ["AudioSink", "Boundary", "Piece", "PieceTiming", "StitchResult", "StitchSettings", "stitch"]

logger = logging.getLogger(__name__)

Boundary = Literal["clause", "sentence", "paragraph", "title", "end"]
BOUNDARIES: tuple[str, ...] = ("clause", "sentence", "paragraph", "title", "end")


class AudioSink(Protocol):
    """Where stitched audio goes (an encoder from `pipelines.audiobook.encode`, or anything with ``write``)."""

    def write(self, block: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Piece:
    """One element of a chapter: a segment's audio file or an explicit pause. Build with `audio` / `pause`.

    Attributes:
        kind: "audio" or "pause".
        key: the audio file's key in the storage (audio only).
        boundary_after: the text boundary after the segment (audio only).
        seconds: the pause length (pause only).
        text: the segment's text, carried into the timings (for captions).
    """

    kind: Literal["audio", "pause"]
    key: str = ""
    boundary_after: Boundary = "sentence"
    seconds: float = 0.0
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("audio", "pause"):
            raise ValueError(f"Piece.kind must be 'audio' or 'pause', got {self.kind!r}")
        if self.kind == "audio" and not self.key:
            raise ValueError("an audio Piece needs a storage key")
        if self.boundary_after not in BOUNDARIES:
            raise ValueError(f"boundary_after must be one of {BOUNDARIES}, got {self.boundary_after!r}")
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"pause seconds must be finite and >= 0, got {self.seconds!r}")

    @classmethod
    def audio(cls, key: str, boundary_after: Boundary = "sentence", text: str = "") -> Piece:
        """A synthesized segment stored at ``key``, followed by ``boundary_after``."""
        return cls(kind="audio", key=key, boundary_after=boundary_after, text=text)

    @classmethod
    def pause(cls, seconds: float) -> Piece:
        """An explicit pause of ``seconds`` (replaces the boundary pause of the audio piece before it)."""
        return cls(kind="pause", seconds=float(seconds))


@dataclass(frozen=True)
class StitchSettings:
    """How a chapter is assembled and mastered.

    Attributes:
        sample_rate: output rate in Hz.
        channels: output channels (mono only).
        clause_pause_s / sentence_pause_s / paragraph_pause_s / title_pause_s / end_pause_s: the gap after a
            segment, by the boundary that follows it.
        fade_s: raised-cosine fade in and out at each segment's edges.
        head_s / tail_s: room tone before the first and after the last piece.
        room_tone_dbfs: RMS of the room tone (seeded white noise, under speech too); None for digital silence.
        seed: seed of the room tone.
        target_lufs: integrated loudness to reach (BS.1770-4); None for no loudness gain.
        target_rms_dbfs: whole-stream RMS to reach instead (the ACX way); at most one target may be set.
        true_peak_dbtp: true-peak ceiling of the limiter; None for no limiter.
        lookahead_s / release_s: the limiter's attack (look-ahead) and release times.
        block_s: processing block; peak memory is a small multiple of one block.
    """

    sample_rate: int = 44100
    channels: int = 1
    clause_pause_s: float = 0.25
    sentence_pause_s: float = 0.6
    paragraph_pause_s: float = 1.1
    title_pause_s: float = 1.8
    end_pause_s: float = 0.0
    fade_s: float = 0.008
    head_s: float = 0.75
    tail_s: float = 2.0
    room_tone_dbfs: float | None = -70.0
    seed: int = 0
    target_lufs: float | None = -18.0
    target_rms_dbfs: float | None = None
    true_peak_dbtp: float | None = -1.0
    lookahead_s: float = 0.003
    release_s: float = 0.05
    block_s: float = 1.0

    def __post_init__(self) -> None:
        if self.channels != 1:
            raise ValueError(f"only mono output is supported (channels=1), got {self.channels}")
        if not 8000 <= self.sample_rate <= 192000:
            raise ValueError(f"sample_rate must be in [8000, 192000] Hz, got {self.sample_rate}")
        if self.target_lufs is not None and self.target_rms_dbfs is not None:
            raise ValueError("set at most one of target_lufs and target_rms_dbfs")
        times = (self.clause_pause_s, self.sentence_pause_s, self.paragraph_pause_s, self.title_pause_s)
        times += (self.end_pause_s, self.fade_s, self.head_s, self.tail_s, self.lookahead_s, self.release_s)
        if any(not (math.isfinite(t) and t >= 0) for t in times) or self.block_s <= 0:
            raise ValueError("pause, fade, room-tone and limiter times must be >= 0 and block_s > 0")

    def pause_after(self, boundary: Boundary) -> float:
        """Seconds of pause after a segment followed by ``boundary``."""
        return float(getattr(self, f"{boundary}_pause_s"))

    def samples(self, seconds: float) -> int:
        """``seconds`` at the output rate, rounded to whole samples."""
        return int(round(seconds * self.sample_rate))


@dataclass(frozen=True, slots=True)
class PieceTiming:
    """Where one piece lies in the chapter file (samples at the output rate; times in seconds)."""

    index: int
    kind: Literal["audio", "pause"]
    key: str
    text: str
    start_sample: int
    end_sample: int
    sample_rate: int

    @property
    def start_s(self) -> float:
        return self.start_sample / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end_sample / self.sample_rate


@dataclass(frozen=True)
class StitchResult:
    """What `stitch` wrote and measured.

    Attributes:
        sample_rate: Hz; n_samples: samples written to the sink.
        timings: one `PieceTiming` per input piece, in order.
        loudness_before_lufs / loudness_after_lufs: integrated loudness of the speech before gain, and of the output.
        rms_before_dbfs: whole-stream RMS of the speech before gain.
        gain_db: the gain applied to the speech.
        true_peak_dbtp: the output's true peak (4x oversampled).
        levels: ACX level statistics of the output (RMS, peak, noise floor, head and tail room tone).
        n_limited_samples: output samples the limiter turned down.
        n_passes: 1 or 2; block_samples: the processing block (peak memory scales with it, not with the chapter).
    """

    sample_rate: int
    n_samples: int
    timings: tuple[PieceTiming, ...]
    loudness_before_lufs: float
    loudness_after_lufs: float
    rms_before_dbfs: float
    gain_db: float
    true_peak_dbtp: float
    levels: LevelStats
    n_limited_samples: int
    n_passes: int
    block_samples: int

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


def stitch(storage: Storage, pieces: Sequence[Piece], settings: StitchSettings, out: AudioSink) -> StitchResult:
    """Render ``pieces`` into one mastered mono stream written block by block to ``out`` (which is not closed).

    Args:
        storage: where the segments' audio files are.
        pieces: the chapter, in order.
        settings: pauses, fades, room tone, rate and mastering targets.
        out: the sink; if it has a ``sample_rate`` attribute it must equal ``settings.sample_rate``.

    Returns:
        The chapter's `StitchResult` (duration, per-piece timings, loudness before/after, true peak, levels).

    Raises:
        ValueError: no pieces, or a sink at another rate.
    """
    if not pieces:
        raise ValueError("stitch: no pieces")
    sink_rate = getattr(out, "sample_rate", settings.sample_rate)
    if sink_rate != settings.sample_rate:
        raise ValueError(f"stitch: sink runs at {sink_rate} Hz but settings.sample_rate is {settings.sample_rate}")
    chapter = _Chapter(storage, pieces, settings)
    timings: list[PieceTiming] = []
    before = _Before(settings.sample_rate)
    gain_db, n_passes = 0.0, 1
    if settings.target_lufs is not None or settings.target_rms_dbfs is not None:
        for chunk in chapter.speech(timings):
            before.add(chunk)
        gain_db, n_dry = _refined_gain(chapter, before)
        n_passes += 1 + n_dry
    render = _Render(settings, gain_db, out, before if n_passes == 1 else None)
    for chunk in chapter.speech(timings if n_passes == 1 else None):
        render.add(chunk)
    render.finish()
    result = _result(settings, render, before, timings, gain_db, n_passes)
    logger.info(
        "stitched %d pieces: %.1f s, %.2f -> %.2f LUFS (gain %+.2f dB, %d passes), true peak %.2f dBTP",
        len(pieces),
        result.duration_s,
        result.loudness_before_lufs,
        result.loudness_after_lufs,
        gain_db,
        n_passes,
        result.true_peak_dbtp,
    )
    return result


def _result(
    settings: StitchSettings,
    render: _Render,
    before: _Before,
    timings: list[PieceTiming],
    gain_db: float,
    n_passes: int,
) -> StitchResult:
    return StitchResult(
        sample_rate=settings.sample_rate,
        n_samples=render.n_out,
        timings=tuple(timings),
        loudness_before_lufs=before.loudness.integrated(),
        loudness_after_lufs=render.loudness.integrated(),
        rms_before_dbfs=before.rms_dbfs,
        gain_db=gain_db,
        true_peak_dbtp=render.peak.dbtp if render.peak else float("nan"),
        levels=render.levels.stats(),
        n_limited_samples=render.limiter.n_limited if render.limiter else 0,
        n_passes=n_passes,
        block_samples=render.block,
    )


@dataclass(frozen=True)
class _Chapter:
    """The pieces with their storage and settings: a re-playable speech stream."""

    storage: Storage
    pieces: Sequence[Piece]
    settings: StitchSettings

    def speech(self, timings: list[PieceTiming] | None = None) -> Iterator[np.ndarray]:
        """The speech-only stream in blocks of ``block_s`` (float64); fills ``timings`` when given."""
        block = max(1, self.settings.samples(self.settings.block_s))
        return rechunk(_speech(self.storage, self.pieces, self.settings, timings), block)


@dataclass
class _Before:
    """Measurements of the speech stream before gain (pass 1)."""

    rate: int
    loudness: LoudnessMeter = field(init=False)
    peak: TruePeakMeter = field(init=False)
    sum_sq: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.loudness = LoudnessMeter(self.rate)
        self.peak = TruePeakMeter()

    def add(self, chunk: np.ndarray) -> None:
        self.loudness.add(chunk)
        self.peak.add(chunk)
        self.sum_sq += float(np.square(chunk).sum())  # not np.dot: BLAS threads cost more than they save here
        self.n += len(chunk)

    @property
    def rms_dbfs(self) -> float:
        return to_db(self.sum_sq / max(self.n, 1), power=True)


def _target(settings: StitchSettings) -> tuple[float, bool]:
    """(target level, True if it is LUFS / False if whole-stream RMS dBFS)."""
    if settings.target_lufs is not None:
        return settings.target_lufs, True
    return float(settings.target_rms_dbfs), False


def _refined_gain(chapter: _Chapter, before: _Before) -> tuple[float, int]:
    """The speech gain that reaches the target *after* limiting, and how many extra (dry) passes it took.

    The first guess is target - measured. If that gain drives the true peak over the ceiling, the limiter will take
    some loudness away: a dry pass (gain, room tone, limiter, meter; nothing written) measures the result and the
    gain is corrected by the miss, up to ``_MAX_DRY_PASSES`` times or until within ``_TOLERANCE_LU``.
    """
    settings = chapter.settings
    target, lufs = _target(settings)
    measured = before.loudness.integrated() if lufs else before.rms_dbfs
    if not math.isfinite(measured):
        logger.warning("stitch: the speech is silent (%s); no gain applied", measured)
        return 0.0, 0
    gain_db = target - measured
    ceiling = settings.true_peak_dbtp
    if ceiling is None or before.peak.dbtp + gain_db <= ceiling - 0.05:
        return gain_db, 0
    n_dry = 0
    while n_dry < _MAX_DRY_PASSES:
        n_dry += 1
        dry = _Render(settings, gain_db, None, None)
        for chunk in chapter.speech():
            dry.add(chunk)
        dry.finish()
        miss = target - (dry.loudness.integrated() if lufs else dry.levels.stats().rms_dbfs)
        gain_db += miss
        if abs(miss) <= _TOLERANCE_LU:
            break
    return gain_db, n_dry


_MAX_DRY_PASSES = 2
_TOLERANCE_LU = 0.1


class _Render:
    """Gain, room tone, limiter, then the sink and the output's meters (``out=None``: a dry, measuring pass)."""

    def __init__(
        self, settings: StitchSettings, gain_db: float, out: AudioSink | None, before: _Before | None
    ) -> None:
        rate = settings.sample_rate
        self.block = max(1, settings.samples(settings.block_s))
        self.gain = db_to_amplitude(gain_db)
        self.out = out
        self.before = before
        self.tone = RoomTone(settings.room_tone_dbfs, settings.seed)
        self.limiter = (
            TruePeakLimiter(settings.true_peak_dbtp, rate, settings.lookahead_s, settings.release_s)
            if settings.true_peak_dbtp is not None
            else None
        )
        self.loudness = LoudnessMeter(rate)
        self.peak = TruePeakMeter() if out is not None else None
        self.levels = LevelMeter(rate)
        self.n_out = 0

    def add(self, speech: np.ndarray) -> None:
        if self.before is not None:
            self.before.add(speech)
        mixed = speech * self.gain + self.tone.next(len(speech))
        self._write(self.limiter.process(mixed) if self.limiter else mixed)

    def finish(self) -> None:
        if self.limiter:
            self._write(self.limiter.flush())

    def _write(self, block: np.ndarray) -> None:
        if len(block) == 0:
            return
        block32 = np.clip(block, -1.0, 1.0).astype(np.float32)
        if self.out is not None:
            self.out.write(block32)
        if self.peak is not None:
            self.peak.add(block32)
        self.loudness.add(block32)
        self.levels.add(block32)
        self.n_out += len(block32)


def _speech(
    storage: Storage, pieces: Sequence[Piece], settings: StitchSettings, timings: list[PieceTiming] | None
) -> Iterator[np.ndarray]:
    """The speech-only stream (faded segments, zeros for pauses and room tone); fills ``timings`` if given."""
    block = max(1, settings.samples(settings.block_s))
    pos = settings.samples(settings.head_s)
    yield from zeros(pos, block)
    for i, piece in enumerate(pieces):
        start = pos
        if piece.kind == "pause":
            pos += settings.samples(piece.seconds)
            yield from zeros(pos - start, block)
        else:
            fade = settings.samples(settings.fade_s)
            for chunk in segment_chunks(storage, piece.key, settings.sample_rate, fade, block):
                pos += len(chunk)
                yield chunk
        if timings is not None:
            timings.append(PieceTiming(i, piece.kind, piece.key, piece.text, start, pos, settings.sample_rate))
        if piece.kind == "audio" and not (i + 1 < len(pieces) and pieces[i + 1].kind == "pause"):
            gap = settings.samples(settings.pause_after(piece.boundary_after))
            pos += gap
            yield from zeros(gap, block)
    yield from zeros(settings.samples(settings.tail_s), block)
