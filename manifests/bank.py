"""Voice-bank index: ``BANK/index.parquet``, one row per voice the bank knows about (computed or failed).

A bank folder looks like::

    BANK/
      index.parquet              # this schema; rewritten atomically after each run (and periodically during one)
      voices/{voice_id}.safetensors   # VoiceFeatures.to_bytes(), one per voice with status "ok"

``fingerprint`` is a SHA-256 over everything the features depend on (model fingerprint, each clip's content hash and
weight, ref_text, ref_lang, feature format); a voice whose fingerprint is unchanged is not recomputed. A null
fingerprint (infrastructure failure such as a storage outage) means "retry next run".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from manifests.common import Issue, check_id, find_id_collisions
from manifests.results import ENGINE_FIELDS, STAMP_FIELDS, STATUS_FAILED, ErrorKind, now_utc


__all__ = [
    "BANK_INDEX_SCHEMA",
    "VOICE_RESULT_SCHEMA",
    "VoiceResultRow",
    "INDEX_FILE",
    "STATUS_ERROR",
    "STATUS_OK",
    "VOICES_DIR",
    "empty_index",
    "index_from_rows",
    "validate_bank_index",
    "voice_file",
]

INDEX_FILE = "index.parquet"
VOICES_DIR = "voices"
VOICE_FILE_SUFFIX = ".safetensors"
STATUS_OK = "ok"
STATUS_ERROR = "error"

BANK_INDEX_SCHEMA = pa.schema(
    [
        pa.field("voice_id", pa.string(), nullable=False),
        pa.field("file", pa.string()),  # relative to the bank root; null when status == "error"
        pa.field("fingerprint", pa.string()),  # null: recompute next run
        pa.field("model_fingerprint", pa.string()),
        pa.field("sha256", pa.string()),  # of the file's bytes, checked on load
        pa.field("n_clips", pa.int32(), nullable=False),
        pa.field("ref_seconds", pa.float64()),
        pa.field("status", pa.string(), nullable=False),  # "ok" | "error"
        pa.field("error", pa.string()),
        pa.field("warnings", pa.list_(pa.string())),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


# Result rows of the precompute job (one per voice computed in a run); the job merges them into the index.
_INDEX_ONLY = ("voice_id", "status", "error")
VOICE_RESULT_SCHEMA = pa.schema(
    [
        *ENGINE_FIELDS,
        *[f for f in BANK_INDEX_SCHEMA if f.name not in _INDEX_ONLY and f.name != "created_at"],
        *STAMP_FIELDS,
    ]
)


@dataclass(frozen=True)
class VoiceResultRow:
    """One voice's precompute outcome (:data:`VOICE_RESULT_SCHEMA`); build with :meth:`ok` or :meth:`failed`.

    A failure keeps ``fingerprint`` for a data problem (an unchanged bad voice is not retried) and drops it for an
    environment failure (retried next run).
    """

    # Same field layout as results.ResultRow (the engine's columns first), different columns: not a duplicate.
    row: int
    id: str
    status: str
    n_clips: int
    error_kind: str | None = None
    error: str | None = None
    file: str | None = None
    fingerprint: str | None = None
    model_fingerprint: str | None = None
    sha256: str | None = None
    ref_seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    finished_at: dt.datetime = field(default_factory=now_utc)

    @classmethod
    def ok(cls, row: int, voice_id: str, n_clips: int, **values: Any) -> VoiceResultRow:
        return cls(row=row, id=voice_id, status=STATUS_OK, n_clips=n_clips, **values)

    @classmethod
    def failed(
        cls, row: int, voice_id: str, n_clips: int, kind: ErrorKind, error: str, **values: Any
    ) -> VoiceResultRow:
        fingerprint = values.pop("fingerprint", None)
        fingerprint = fingerprint if kind.final else None
        return cls(row=row, id=voice_id, status=STATUS_FAILED, n_clips=n_clips, error_kind=kind.value, error=error,
                   fingerprint=fingerprint, **values)  # fmt: skip


def index_row(result: dict[str, Any]) -> dict[str, Any]:
    """The bank-index row of a precompute result row."""
    row = {name: result.get(name) for name in BANK_INDEX_SCHEMA.names if name in result}
    row.update(
        voice_id=result["id"],
        status=STATUS_OK if result["status"] == STATUS_OK else STATUS_ERROR,
        error=result.get("error"),
        warnings=list(result.get("warnings") or []),
        created_at=result.get("finished_at") or now_utc(),
    )
    return row


def voice_file(voice_id: str) -> str:
    """Bank-relative path of a voice's feature file."""
    reason = check_id(voice_id, "voice_id")
    if reason:
        raise ValueError(reason)
    return f"{VOICES_DIR}/{voice_id}{VOICE_FILE_SUFFIX}"


def empty_index() -> pa.Table:
    return BANK_INDEX_SCHEMA.empty_table()


def index_from_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """Index table of `rows` (dicts with the schema's keys), sorted by voice_id."""
    table = pa.Table.from_pylist(sorted(rows, key=lambda row: row["voice_id"]), schema=BANK_INDEX_SCHEMA)
    return table


def validate_bank_index(table: pa.Table) -> list[Issue]:
    """Problems in a bank index: wrong schema, unsafe or duplicate ids, "ok" rows without file, unknown status."""
    missing = [f.name for f in BANK_INDEX_SCHEMA if f.name not in table.column_names]
    if missing:
        return [Issue(None, None, f"bank index lacks column(s) {missing}")]
    issues: list[Issue] = []
    rows = table.select(["voice_id", "file", "status"]).to_pylist()
    for n, row in enumerate(rows):
        reason = check_id(row["voice_id"], "voice_id")
        if reason:
            issues.append(Issue(n, row["voice_id"], reason))
        if row["status"] not in (STATUS_OK, STATUS_ERROR):
            issues.append(Issue(n, row["voice_id"], f"unknown status {row['status']!r}"))
        if row["status"] == STATUS_OK and not row["file"]:
            issues.append(Issue(n, row["voice_id"], "status is 'ok' but file is empty"))
    issues.extend(find_id_collisions((row["voice_id"] for row in rows), "voice_id"))
    return issues
