"""Audiobook mode, audio side: stitch a chapter's synthesized segments, master it, encode it, build the M4B.

Modules:
  stitch.py    `Piece`, `StitchSettings`, `stitch(storage, pieces, settings, out) -> StitchResult` (streaming, 2 passes)
  levels.py    streaming meters: BS.1770-4 loudness, true peak, ACX level statistics (RMS, peak, noise floor, room tone)
  limiter.py   `TruePeakLimiter`: look-ahead, 4x-oversampled true-peak limiter
  master.py    presets none|standard|acx, `measure_file`, `compliance` -> `ComplianceReport`, `render_chapter`
  encode.py    streaming encoders (mp3, flac, opus, m4a, wav) to local temporary files; `AudioReader`, `probe`
  m4b.py       `build_m4b`: chapters -> one M4B with chapter marks, tags and cover
  captions.py  WebVTT / SRT from timed cues, with readable cue splitting
  plan.py      a book as engine rows: one row per sentence-sized segment
  book.py      `BookBuilder`: chapters stitched as they complete (CPU tasks), timeline, M4B
  job.py       the audiobook mode on the engine (render, rerender, inspect; `jobs.audiobook` is its command line)
"""

from pipelines.audiobook.captions import CaptionLayout, Cue, cues_from_timings, layout_cues, to_srt, to_webvtt
from pipelines.audiobook.encode import (
    FORMATS,
    AudioEncoder,
    AudioReader,
    DecodedInfo,
    EncodedFile,
    open_encoder,
    probe,
)
from pipelines.audiobook.m4b import BookMetadata, ChapterMark, M4bResult, build_m4b
from pipelines.audiobook.master import (
    ACX,
    PRESETS,
    AcxSpec,
    ChapterOutput,
    ComplianceReport,
    MasterPreset,
    Measurements,
    RuleResult,
    compliance,
    get_preset,
    measure_file,
    measurements_from_stitch,
    render_chapter,
)
from pipelines.audiobook.stitch import Piece, PieceTiming, StitchResult, StitchSettings, stitch
from pipelines.publish import publish_file


__all__ = [
    "ACX",
    "FORMATS",
    "PRESETS",
    "AcxSpec",
    "AudioEncoder",
    "AudioReader",
    "BookMetadata",
    "CaptionLayout",
    "ChapterMark",
    "ChapterOutput",
    "ComplianceReport",
    "Cue",
    "DecodedInfo",
    "EncodedFile",
    "M4bResult",
    "MasterPreset",
    "Measurements",
    "Piece",
    "PieceTiming",
    "RuleResult",
    "StitchResult",
    "StitchSettings",
    "build_m4b",
    "compliance",
    "cues_from_timings",
    "get_preset",
    "layout_cues",
    "measure_file",
    "measurements_from_stitch",
    "open_encoder",
    "probe",
    "publish_file",
    "render_chapter",
    "stitch",
    "to_srt",
    "to_webvtt",
]
