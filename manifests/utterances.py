"""Utterance manifest: one row per audio file to synthesize, and its validation.

Columns (Parquet; extra columns are ignored):

============================  ========  =====================================================================
column                        type      meaning
============================  ========  =====================================================================
``id``                        string    unique, safe characters (it becomes the audio key ``audio/{id}.{ext}``)
``text``                      string    what to say (long texts are segmented by the synthesizer)
``voice_id``                  string    a voice in the voice bank
``lang`` (optional)           string    ``auto`` (default), ``zh``, ``en``, ``ja``, ``ko``, ``yue`` or upstream alias
``seed`` (optional)           int64     sampling seed; default: derived from ``id`` (stable across runs)
``speed`` (optional)          float64   speaking rate, default 1.0
``top_k`` (optional)          int64     default 15
``top_p`` (optional)          float64   default 1.0
``temperature`` (optional)    float64   default 1.0
``repetition_penalty`` (opt)  float64   default 1.35
============================  ========  =====================================================================

:func:`validate_utterances` runs before any GPU is requested. It returns the rows ready to run (every optional
column filled in, plus ``row``: the row's position in the manifest) and one :class:`Issue` per bad row.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from manifests.common import Issue, ManifestError, check_id, find_id_collisions


LANGS = frozenset({"auto", "auto_yue", "zh", "en", "ja", "ko", "yue", "all_zh", "all_ja", "all_yue", "all_ko"})
MAX_TEXT_CHARS = 1_000_000  # a sanity cap; utterance jobs fail rows over their own, much lower, per-row limit
MAX_SEED = 2**63 - 1

REQUIRED = ("id", "text", "voice_id")

# name -> (Arrow type, default, (low, high, low inclusive)) for the optional synthesis settings.
OPTIONAL: dict[str, tuple[pa.DataType, Any, tuple[float, float, bool] | None]] = {
    "lang": (pa.string(), "auto", None),
    "seed": (pa.int64(), None, (0, MAX_SEED, True)),
    "speed": (pa.float64(), 1.0, (0.25, 4.0, True)),
    "top_k": (pa.int64(), 15, (1, 1024, True)),
    "top_p": (pa.float64(), 1.0, (0.0, 1.0, False)),
    "temperature": (pa.float64(), 1.0, (0.0, 10.0, False)),
    "repetition_penalty": (pa.float64(), 1.35, (0.0, 10.0, False)),
}

UTTERANCE_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("voice_id", pa.string(), nullable=False),
        *[pa.field(name, dtype, nullable=False) for name, (dtype, _, _) in OPTIONAL.items()],
    ]
)


@dataclass(frozen=True)
class UtteranceIssue(Issue):
    """An invalid manifest row; ``code`` is a short category (``duplicate_id``, ``unknown_voice``,
    ``empty_text``, ``out_of_range:speed`` ...), ``reason`` says it in words naming the offending value."""

    code: str = "invalid"


def default_seed(utterance_id: str) -> int:
    """Seed used when a row has none: CRC-32 of the id, so a row sounds the same on every run."""
    return zlib.crc32(utterance_id.encode("utf-8"))


def _check_setting(name: str, value: Any) -> str | None:
    dtype, _, bounds = OPTIONAL[name]
    if value is None:
        return None
    if name == "lang":
        return None if value in LANGS else f"lang {value!r} is not one of {sorted(LANGS)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} is {value}"
    if pa.types.is_integer(dtype) and not float(value).is_integer():
        return f"{name} {value} is not a whole number"
    low, high, low_inclusive = bounds  # type: ignore[misc]
    if value > high or value < low or (value == low and not low_inclusive):
        opening = "[" if low_inclusive else "("
        return f"{name} {value} outside {opening}{low}, {high}]"
    return None


VoiceCheck = Callable[[str], "bool | str | None"]


def _voice_issue(voice: Any, check_voice: VoiceCheck) -> tuple[str, str] | None:
    if not isinstance(voice, str) or not voice:
        return "unknown_voice", "voice_id is missing"
    verdict = check_voice(voice)
    if verdict is False:
        return "unknown_voice", f"voice {voice!r} is not in the voice bank"
    if isinstance(verdict, str):
        return "bad_voice", verdict
    return None


def _row_issues(row: dict[str, Any], check_voice: VoiceCheck) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if (why := check_id(row.get("id"))) is not None:
        problems.append(("bad_id", why))
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append(("empty_text", "text is empty"))
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(("text_too_long", f"text has {len(text)} characters (max {MAX_TEXT_CHARS})"))
    if (issue := _voice_issue(row.get("voice_id"), check_voice)) is not None:
        problems.append(issue)
    for name in OPTIONAL:
        if (why := _check_setting(name, row.get(name))) is not None:
            problems.append((f"out_of_range:{name}", why))
    return problems


def _check_columns(table: pa.Table) -> None:
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise ManifestError(f"manifest lacks required column(s) {missing}; it has {table.column_names}")
    for name in (*REQUIRED, "lang"):
        if name in table.column_names and not _is_text(table.schema.field(name).type):
            raise ManifestError(f"manifest column {name!r} must be strings, got {table.schema.field(name).type}")
    for name in OPTIONAL:
        if name != "lang" and name in table.column_names:
            dtype = table.schema.field(name).type
            if not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_null(dtype)):
                raise ManifestError(f"manifest column {name!r} must be numeric, got {dtype}")


def _is_text(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype)


def _iter_rows(table: pa.Table) -> Iterable[dict[str, Any]]:
    names = [n for n in (*REQUIRED, *OPTIONAL) if n in table.column_names]
    for batch in table.select(names).to_batches(max_chunksize=65536):
        yield from batch.to_pylist()


def validate_utterances(table: pa.Table, check_voice: VoiceCheck) -> tuple[pa.Table, list[UtteranceIssue]]:
    """Check every row of an utterance manifest.

    Args:
        table: the manifest as read (rows in manifest order).
        check_voice: judges a ``voice_id`` (called once per distinct voice): True or None when usable, False when
            the bank does not have it, or a string saying why the bank cannot use it (e.g. its precompute failed).

    Returns:
        ``(runnable, issues)``: ``runnable`` follows :data:`UTTERANCE_SCHEMA` (defaults filled in, ``row`` added) and
        holds the valid rows in manifest order; ``issues`` lists each invalid row once with every reason joined.
        The first occurrence of an id is kept; later rows with the same id (or one that collides with it after
        case folding, which would overwrite its audio on some file systems) are invalid.

    Raises:
        ManifestError: missing required columns or unusable column types.
    """
    _check_columns(table)
    duplicates = {issue.row: issue.reason for issue in find_id_collisions(table.column("id").to_pylist())}
    verdicts: dict[str, bool | str | None] = {}

    def cached_check(voice: str) -> bool | str | None:
        if voice not in verdicts:
            verdicts[voice] = check_voice(voice)
        return verdicts[voice]

    good: list[dict[str, Any]] = []
    issues: list[UtteranceIssue] = []
    for index, row in enumerate(_iter_rows(table)):
        problems = _row_issues(row, cached_check)
        if index in duplicates:
            problems.insert(0, ("duplicate_id", duplicates[index]))
        if problems:
            reason = "; ".join(reason for _, reason in problems)
            issues.append(UtteranceIssue(index, row.get("id"), reason, code=problems[0][0]))
        else:
            good.append(_with_defaults(index, row))
    return pa.Table.from_pylist(good, schema=UTTERANCE_SCHEMA), issues


def _with_defaults(index: int, row: dict[str, Any]) -> dict[str, Any]:
    out = {"row": index, "id": row["id"], "text": row["text"], "voice_id": row["voice_id"]}
    for name, (_, default, _) in OPTIONAL.items():
        value = row.get(name)
        out[name] = value if value is not None else default
    if out["seed"] is None:
        out["seed"] = default_seed(row["id"])
    out["top_k"] = int(out["top_k"])
    out["seed"] = int(out["seed"])
    return out
