"""Voices manifest: one row per voice, with its reference clip(s) and (optionally) their transcript.

Columns (Parquet; CSV and JSON Lines are accepted too):

=========  ==============================  =========================================================================
column     type                            meaning
=========  ==============================  =========================================================================
voice_id   string, required                safe id (``[A-Za-z0-9][A-Za-z0-9._-]*``, <= 128 chars), unique even
                                           after case folding and unicode NFKC normalisation
ref_audio  string or list<string>, req.    clip URI(s); relative ones resolve against the manifest's folder.
                                           In CSV a list is a JSON array (``["a.wav", "b.wav"]``) or ``a.wav|b.wav``
ref_text   string, optional                transcript of the clip(s); null/empty -> reference-free voice
ref_lang   string, optional                language of ref_text (zh en ja ko yue auto + upstream aliases);
                                           required when ref_text is given
weight     list<float>, optional           per-clip weight for the averaged speaker embedding (one per clip, > 0)
=========  ==============================  =========================================================================

Other columns are ignored. `validate_voices` reports every problem at once; jobs run it before loading any model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from manifests.common import Issue, ManifestError, check_id, find_id_collisions, read_table_bytes


__all__ = [
    "LANGUAGES",
    "MAX_CLIPS",
    "REQUIRED_COLUMNS",
    "VOICES_SCHEMA",
    "VoiceSpec",
    "parse_voice_row",
    "read_voices_bytes",
    "validate_voices",
    "voices_from_table",
    "voices_to_table",
]

VOICES_SCHEMA = pa.schema(
    [
        pa.field("voice_id", pa.string(), nullable=False),
        pa.field("ref_audio", pa.list_(pa.string()), nullable=False),
        pa.field("ref_text", pa.string()),
        pa.field("ref_lang", pa.string()),
        pa.field("weight", pa.list_(pa.float64())),
    ]
)
REQUIRED_COLUMNS = ("voice_id", "ref_audio")
LANGUAGES = frozenset({"zh", "en", "ja", "ko", "yue", "auto", "auto_yue", "all_zh", "all_ja", "all_ko", "all_yue"})
MAX_CLIPS = 32
DEFAULT_LANG = "auto"


@dataclass(frozen=True)
class VoiceSpec:
    """One validated manifest row. `ref_audio` holds URIs as written in the manifest (not yet resolved)."""

    voice_id: str
    ref_audio: tuple[str, ...]
    ref_text: str | None
    ref_lang: str
    weight: tuple[float, ...] | None = None

    @property
    def n_clips(self) -> int:
        return len(self.ref_audio)

    @property
    def weights(self) -> tuple[float, ...]:
        """Per-clip weights, 1.0 each when the manifest gives none."""
        return self.weight if self.weight is not None else (1.0,) * len(self.ref_audio)


def _as_list(value: Any, what: str) -> list[Any] | None:
    """A list cell from Parquet/JSON, or a CSV string holding a JSON array or a '|'-separated list."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{what} looks like a JSON list but does not parse: {exc}") from exc
            if not isinstance(parsed, list):
                raise ValueError(f"{what} must be a list")
            return parsed
        if text.startswith('"'):  # a JSON-encoded scalar (mixed JSONL column)
            return [json.loads(text)]
        return [part.strip() for part in text.split("|")] if "|" in text else [text]
    if isinstance(value, int | float):
        return [value]
    raise ValueError(f"{what} must be a string or a list, got {type(value).__name__}")


def _clean_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value.strip() or None


def _parse_clips(value: Any) -> tuple[str, ...]:
    clips = _as_list(value, "ref_audio")
    if not clips:
        raise ValueError("ref_audio is missing or empty")
    if len(clips) > MAX_CLIPS:
        raise ValueError(f"ref_audio lists {len(clips)} clips (max {MAX_CLIPS})")
    for clip in clips:
        if not isinstance(clip, str) or not clip.strip() or "\x00" in clip:
            raise ValueError(f"ref_audio entry {clip!r} is not a non-empty URI string")
    return tuple(clip.strip() for clip in clips)


def _parse_weights(value: Any, n_clips: int) -> tuple[float, ...] | None:
    weights = _as_list(value, "weight")
    if weights is None:
        return None
    try:
        floats = tuple(float(w) for w in weights)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weight must be a list of numbers, got {weights!r}") from exc
    if len(floats) != n_clips:
        raise ValueError(f"weight has {len(floats)} values but ref_audio has {n_clips} clips")
    if not all(math.isfinite(w) and w > 0 for w in floats):
        raise ValueError(f"weights must be finite and > 0, got {list(floats)}")
    return floats


def parse_voice_row(row: dict[str, Any]) -> VoiceSpec:
    """Turn one raw manifest row into a `VoiceSpec`.

    Raises:
        ValueError: the first problem found in the row (the id itself is checked by `validate_voices`).
    """
    voice_id = row.get("voice_id")
    reason = check_id(voice_id, "voice_id")
    if reason:
        raise ValueError(reason)
    clips = _parse_clips(row.get("ref_audio"))
    ref_text = _clean_str(row.get("ref_text"), "ref_text")
    ref_lang = _clean_str(row.get("ref_lang"), "ref_lang")
    if ref_lang is not None:
        ref_lang = ref_lang.lower()
        if ref_lang not in LANGUAGES:
            raise ValueError(f"ref_lang {ref_lang!r} is not one of {sorted(LANGUAGES)}")
    if ref_text is not None and ref_lang is None:
        raise ValueError("ref_text is given but ref_lang is missing")
    weights = _parse_weights(row.get("weight"), len(clips))
    return VoiceSpec(str(voice_id), clips, ref_text, ref_lang or DEFAULT_LANG, weights)


def missing_columns(table: pa.Table) -> list[str]:
    return [name for name in REQUIRED_COLUMNS if name not in table.column_names]


def validate_voices(table: pa.Table) -> list[Issue]:
    """Every problem in a voices table: missing columns, bad/unsafe/duplicate/colliding ids, bad clips or weights.

    Returns:
        Issues with 0-based row numbers; an empty list means `voices_from_table` will succeed.
    """
    missing = missing_columns(table)
    if missing:
        have = ", ".join(table.column_names) or "none"
        return [Issue(None, None, f"missing required column(s) {missing} (columns present: {have})")]
    if table.num_rows == 0:
        return [Issue(None, None, "the voices manifest has no rows")]
    rows = table.to_pylist()
    issues: list[Issue] = []
    for n, row in enumerate(rows):
        try:
            parse_voice_row(row)
        except ValueError as exc:
            issues.append(Issue(n, row.get("voice_id") if isinstance(row.get("voice_id"), str) else None, str(exc)))
    issues.extend(find_id_collisions((row.get("voice_id") for row in rows), "voice_id"))
    return sorted(issues, key=lambda issue: issue.row if issue.row is not None else -1)


def voices_from_table(table: pa.Table) -> list[VoiceSpec]:
    """Validated voices of a table, in row order.

    Raises:
        ManifestError: listing every issue `validate_voices` finds.
    """
    issues = validate_voices(table)
    if issues:
        listing = "\n  ".join(str(issue) for issue in issues[:50])
        more = f"\n  ... and {len(issues) - 50} more" if len(issues) > 50 else ""
        raise ManifestError(f"invalid voices manifest ({len(issues)} issue(s)):\n  {listing}{more}")
    return [parse_voice_row(row) for row in table.to_pylist()]


def voices_to_table(voices: list[VoiceSpec]) -> pa.Table:
    """Normalised `VOICES_SCHEMA` table of `voices` (what the example manifest is written with)."""
    return pa.Table.from_pylist(
        [
            {
                "voice_id": v.voice_id,
                "ref_audio": list(v.ref_audio),
                "ref_text": v.ref_text,
                "ref_lang": v.ref_lang,
                "weight": list(v.weight) if v.weight is not None else None,
            }
            for v in voices
        ],
        schema=VOICES_SCHEMA,
    )


def read_voices_bytes(data: bytes, name: str) -> pa.Table:
    """Raw voices table from a Parquet / CSV / JSONL file's bytes (CSV columns kept as text); validate it next."""
    return read_table_bytes(data, name, string_columns=VOICES_SCHEMA.names)
