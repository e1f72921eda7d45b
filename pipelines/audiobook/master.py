"""Mastering presets (``--master none|standard|acx``), ACX compliance reports, and rendering one chapter file.

Presets:

* ``none``: the synthesized levels untouched (no loudness gain, no limiter), 32 kHz FLAC;
* ``standard``: -18 LUFS integrated (BS.1770-4), -1 dBTP true-peak ceiling, 44.1 kHz AAC (m4a) 96 kbps, the input
  of an M4B;
* ``acx``: what ACX (Audible) accepts: RMS -20 dBFS (the middle of -23..-18), true-peak ceiling -3.5 dBTP (sample
  peaks <= -3 dBFS after MP3 encoding, with margin), -70 dBFS room tone (noise floor <= -60 dBFS but not digital
  silence), 0.75 s of room tone at the head and 3 s at the tail, 44.1 kHz, 192 kbps CBR MP3, mono.

`compliance` checks `Measurements` against an `AcxSpec`. Measure the *delivered* file with `measure_file` (it
decodes the encoded file back with PyAV, so the report covers what the encoder produced: peaks after MP3 encoding,
frame-header bit rates, the decoded rate); `measurements_from_stitch` gives the figures gathered while stitching,
without the encoding rules (those are reported as not checked).

Definitions (as ACX and its Audacity "ACX Check" measure them): RMS is ``20 log10(rms)`` over every sample of the
file, silence included, unweighted (a full-scale sine reads -3.0 dBFS); peak is the largest sample magnitude;
the noise floor is the RMS of the quietest 500 ms window (10 ms hop); head / tail room tone is the time before the
first / after the last 10 ms frame louder than -50 dBFS RMS. Note that the noise floor is the *quietest* window: a
chapter whose segments carry hiss still passes when its pauses and room tone are clean.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from pipelines.audiobook.encode import AudioReader, EncodedFile, open_encoder
from pipelines.audiobook.levels import LevelMeter, LevelStats, LoudnessMeter, TruePeakMeter
from pipelines.audiobook.stitch import Piece, StitchResult, StitchSettings, stitch
from pipelines.publish import publish_file
from pipelines.storage import Storage


__all__ = [
    "ACX",
    "PRESETS",
    "AcxSpec",
    "ChapterOutput",
    "ComplianceReport",
    "MasterPreset",
    "Measurements",
    "RuleResult",
    "compliance",
    "get_preset",
    "measure_file",
    "measurements_from_stitch",
    "render_chapter",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MasterPreset:
    """A named mastering choice: stitch settings plus the delivery format."""

    name: str
    stitch: StitchSettings
    format: str
    bit_rate: int | None
    description: str


PRESETS: dict[str, MasterPreset] = {
    "none": MasterPreset(
        "none",
        StitchSettings(sample_rate=32000, target_lufs=None, true_peak_dbtp=None),
        "flac",
        None,
        "synthesized levels untouched, 32 kHz 16-bit FLAC",
    ),
    "standard": MasterPreset(
        "standard",
        StitchSettings(sample_rate=44100, target_lufs=-18.0, true_peak_dbtp=-1.0),
        "m4a",
        96_000,
        "-18 LUFS, -1 dBTP, 44.1 kHz AAC 96 kbps",
    ),
    "acx": MasterPreset(
        "acx",
        StitchSettings(
            sample_rate=44100, target_lufs=None, target_rms_dbfs=-20.0, true_peak_dbtp=-3.5, head_s=0.75, tail_s=3.0
        ),
        "mp3",
        192_000,
        "ACX: RMS -20 dBFS, peaks <= -3 dBFS, -70 dBFS room tone, 44.1 kHz 192 kbps CBR MP3 mono",
    ),
}


def get_preset(name: str, **overrides: Any) -> MasterPreset:
    """The preset ``name`` ("none", "standard", "acx"), with `StitchSettings` fields overridden by ``overrides``."""
    if name not in PRESETS:
        raise ValueError(f"unknown master preset {name!r}; choose one of {sorted(PRESETS)}")
    preset = PRESETS[name]
    return replace(preset, stitch=replace(preset.stitch, **overrides)) if overrides else preset


@dataclass(frozen=True)
class AcxSpec:
    """The ACX audio submission requirements (https://www.audiblecreation.com/… "Audio Submission Requirements")."""

    name: str = "ACX"
    rms_min_dbfs: float = -23.0
    rms_max_dbfs: float = -18.0
    peak_max_dbfs: float = -3.0
    noise_floor_max_dbfs: float = -60.0
    head_min_s: float = 0.5
    head_max_s: float = 1.0
    tail_min_s: float = 1.0
    tail_max_s: float = 5.0
    sample_rate: int = 44100
    min_bit_rate: int = 192_000
    channels: int = 1
    codec: str = "mp3"
    max_duration_s: float = 120 * 60.0
    speech_threshold_dbfs: float = -50.0  # a 10 ms frame above this is programme, below is room tone


ACX = AcxSpec()


@dataclass(frozen=True)
class Measurements:
    """Levels and format of one chapter, from its file or from the stitcher.

    Attributes:
        source: the file measured, or "stitched stream".
        levels: RMS, peak, noise floor, head/tail room tone (ACX definitions).
        channels: channels of the file (the stitcher writes mono).
        codec: "mp3", "aac", ... ; None when measured before encoding.
        bit_rate: nominal bit rate in bit/s (None: unknown / lossless / before encoding).
        frame_bit_rates: distinct MP3 frame-header bit rates (one value = CBR); None when not an MP3 file.
        true_peak_dbtp / loudness_lufs: BS.1770-4 figures, for information.
    """

    source: str
    levels: LevelStats
    channels: int
    codec: str | None
    bit_rate: int | None
    frame_bit_rates: tuple[int, ...] | None
    true_peak_dbtp: float
    loudness_lufs: float


def measurements_from_stitch(result: StitchResult) -> Measurements:
    """`Measurements` of a stitched stream as it went into the encoder (no format information)."""
    return Measurements(
        source="stitched stream",
        levels=result.levels,
        channels=1,
        codec=None,
        bit_rate=None,
        frame_bit_rates=None,
        true_peak_dbtp=result.true_peak_dbtp,
        loudness_lufs=result.loudness_after_lufs,
    )


def measure_file(source: str | os.PathLike[str] | bytes, *, speech_threshold_dbfs: float = -50.0) -> Measurements:
    """Decode an audio file with PyAV (mono mixdown) and measure what ACX checks, in one streaming pass."""
    with AudioReader(source) as reader:
        levels = LevelMeter(reader.sample_rate, speech_threshold_dbfs)
        loudness, peak = LoudnessMeter(reader.sample_rate), TruePeakMeter()
        for block in reader.blocks():
            levels.add(block)
            loudness.add(block)
            peak.add(block)
        info = reader.info()
    name = "<bytes>" if isinstance(source, bytes | bytearray) else os.fspath(source)
    mp3 = info.codec in ("mp3", "mp3float")
    return Measurements(
        source=name,
        levels=levels.stats(),
        channels=info.channels,
        codec="mp3" if mp3 else info.codec,
        bit_rate=info.bit_rate,
        frame_bit_rates=info.frame_bit_rates if mp3 else None,
        true_peak_dbtp=peak.dbtp,
        loudness_lufs=loudness.integrated(),
    )


@dataclass(frozen=True)
class RuleResult:
    """One requirement: passed is None when it could not be checked from the measurements given."""

    rule: str
    passed: bool | None
    measured: float | int | str | None
    unit: str
    requirement: str


@dataclass(frozen=True)
class ComplianceReport:
    """Pass/fail per rule, with the measured values."""

    spec: str
    source: str
    rules: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        """True when no rule failed (rules that could not be checked do not fail the report)."""
        return all(r.passed is not False for r in self.rules)

    def failed(self) -> list[str]:
        """Names of the rules that failed."""
        return [r.rule for r in self.rules if r.passed is False]

    def rule(self, name: str) -> RuleResult:
        return next(r for r in self.rules if r.rule == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "source": self.source,
            "passed": self.passed,
            "rules": [asdict(r) for r in self.rules],
        }

    def to_text(self) -> str:
        """A short fixed-width table, one line per rule, then the verdict."""
        lines = [
            f"{self.spec} compliance of {self.source}",
            f"{'rule':<16}{'measured':>14}  {'requirement':<34}result",
        ]
        for r in self.rules:
            value = f"{r.measured:.2f}" if isinstance(r.measured, float) else str(r.measured)
            verdict = {True: "PASS", False: "FAIL", None: "n/a"}[r.passed]
            lines.append(f"{r.rule:<16}{value + (' ' + r.unit if r.unit else ''):>14}  {r.requirement:<34}{verdict}")
        lines.append(f"overall: {'PASS' if self.passed else 'FAIL: ' + ', '.join(self.failed())}")
        return "\n".join(lines)


def compliance(m: Measurements, spec: AcxSpec = ACX) -> ComplianceReport:
    """Check ``m`` against ``spec`` (ACX by default): levels, room tone, rate, channels, format and bit rate."""
    lv = m.levels

    def within(name: str, value: float, lo: float, hi: float, unit: str) -> RuleResult:
        ok = math.isfinite(value) and lo <= value <= hi
        return RuleResult(name, ok, round(value, 3), unit, f"{lo:g} .. {hi:g} {unit}")

    def at_most(name: str, value: float, hi: float, unit: str) -> RuleResult:
        return RuleResult(name, bool(value <= hi), round(value, 3), unit, f"<= {hi:g} {unit}")

    rules = [
        within("rms", lv.rms_dbfs, spec.rms_min_dbfs, spec.rms_max_dbfs, "dBFS"),
        at_most("peak", lv.peak_dbfs, spec.peak_max_dbfs, "dBFS"),
        at_most("noise_floor", lv.noise_floor_dbfs, spec.noise_floor_max_dbfs, "dBFS"),
        within("head_room_tone", lv.head_room_tone_s, spec.head_min_s, spec.head_max_s, "s"),
        within("tail_room_tone", lv.tail_room_tone_s, spec.tail_min_s, spec.tail_max_s, "s"),
        RuleResult(
            "sample_rate", lv.sample_rate == spec.sample_rate, lv.sample_rate, "Hz", f"= {spec.sample_rate} Hz"
        ),
        RuleResult("channels", m.channels == spec.channels, m.channels, "", f"= {spec.channels} (mono)"),
        at_most("duration", lv.duration_s, spec.max_duration_s, "s"),
        _format_rule(m, spec),
        _bit_rate_rule(m, spec),
    ]
    return ComplianceReport(spec.name, m.source, tuple(rules))


def _format_rule(m: Measurements, spec: AcxSpec) -> RuleResult:
    if m.codec is None:
        return RuleResult("format", None, None, "", f"{spec.codec} (measure the encoded file)")
    return RuleResult("format", m.codec == spec.codec, m.codec, "", spec.codec)


def _bit_rate_rule(m: Measurements, spec: AcxSpec) -> RuleResult:
    need = f">= {spec.min_bit_rate // 1000} kbps CBR"
    if m.frame_bit_rates is None:
        checked = m.codec is not None
        measured = f"{m.bit_rate // 1000} kbps" if m.bit_rate else None
        return RuleResult("bit_rate", False if checked else None, measured, "", need)
    rates = m.frame_bit_rates
    cbr = len(rates) == 1
    measured = f"{rates[0] // 1000} kbps CBR" if cbr else f"VBR {min(rates) // 1000}-{max(rates) // 1000} kbps"
    return RuleResult("bit_rate", cbr and rates[0] >= spec.min_bit_rate, measured, "", need)


@dataclass(frozen=True)
class ChapterOutput:
    """One rendered chapter: where it went, how it was stitched, what it decodes to, and its compliance."""

    key: str
    stitch: StitchResult
    encoded: EncodedFile
    measurements: Measurements | None
    report: ComplianceReport | None


def render_chapter(
    storage: Storage,
    pieces: Sequence[Piece],
    out_key: str,
    preset: MasterPreset,
    *,
    spec: AcxSpec | None = None,
    out_storage: Storage | None = None,
) -> ChapterOutput:
    """Stitch ``pieces`` with ``preset``, encode, check the encoded file, and publish it atomically to ``out_key``.

    Args:
        storage: where the segments are.
        pieces: the chapter.
        out_key: destination key of the chapter file (in ``out_storage``, default ``storage``).
        preset: mastering and format (`get_preset`).
        spec: a compliance spec to check the encoded file against (default: ACX for the "acx" preset, else none).
        out_storage: where the chapter goes, if not next to the segments.

    Returns:
        The `ChapterOutput`; the local temporary file is deleted once uploaded (``encoded.path`` no longer exists).
    """
    spec = spec if spec is not None else (ACX if preset.name == "acx" else None)
    with open_encoder(preset.format, preset.stitch.sample_rate, bit_rate=preset.bit_rate) as encoder:
        result = stitch(storage, pieces, preset.stitch, encoder)
    encoded = encoder.close()
    try:
        measurements = report = None
        if spec is not None:
            measurements = measure_file(encoded.path, speech_threshold_dbfs=spec.speech_threshold_dbfs)
            report = compliance(replace(measurements, source=out_key), spec)
            if not report.passed:
                logger.warning("%s fails %s: %s", out_key, spec.name, ", ".join(report.failed()))
        publish_file(out_storage or storage, out_key, encoded.path)
    finally:
        encoded.path.unlink(missing_ok=True)
    return ChapterOutput(out_key, result, encoded, measurements, report)
