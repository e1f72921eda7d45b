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
        # What quality control compares each utterance with (null in banks made before QC: a rerun of
        # jobs.precompute_voices fills them in without recomputing the features).
        pa.field("speaker_embedding", pa.list_(pa.float32())),  # unit vector, see speaker_model
        pa.field("speaker_model", pa.string()),
        pa.field("tokens_per_phone", pa.float64()),  # of the prompt clip: semantic tokens / phones of its transcript
        pa.field("seconds_per_phone", pa.float64()),  # of the prompt clip: seconds of speech / phones
    ]
)
QC_INDEX_COLUMNS = ("speaker_embedding", "speaker_model", "tokens_per_phone", "seconds_per_phone")
REQUIRED_INDEX_COLUMNS = tuple(f.name for f in BANK_INDEX_SCHEMA if f.name not in QC_INDEX_COLUMNS)


# Result rows of the precompute job (one per voice computed in a run); the job merges them into the index.
_INDEX_ONLY = ("voice_id", "status", "error")
TASK_COMPUTE, TASK_QC_STATS = "compute", "qc_stats"  # a voice computed, or only its QC figures added (old banks)
VOICE_RESULT_SCHEMA = pa.schema(
    [
        *ENGINE_FIELDS,
        pa.field("task", pa.string()),
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
    task: str = TASK_COMPUTE
    speaker_embedding: list[float] | None = None
    speaker_model: str | None = None
    tokens_per_phone: float | None = None
    seconds_per_phone: float | None = None
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


def index_row(result: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bank-index row of a precompute result row (a ``qc_stats`` result only fills in ``previous``'s QC columns)."""
    if result.get("task") == TASK_QC_STATS:
        if previous is None or result["status"] != STATUS_OK:
            return previous  # type: ignore[return-value]
        return {**previous, **{name: result.get(name) for name in QC_INDEX_COLUMNS}}
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
    """Index table of `rows` (dicts with the schema's keys; absent QC columns are null), sorted by voice_id."""
    ordered = sorted(rows, key=lambda row: row["voice_id"])
    return pa.Table.from_pylist(
        [{n: r.get(n) for n in BANK_INDEX_SCHEMA.names} for r in ordered], schema=BANK_INDEX_SCHEMA
    )


def conform_index(table: pa.Table) -> pa.Table:
    """An index read from a bank (possibly made before QC) in :data:`BANK_INDEX_SCHEMA`."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in BANK_INDEX_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=BANK_INDEX_SCHEMA)


def validate_bank_index(table: pa.Table) -> list[Issue]:
    """Problems in a bank index: wrong schema, unsafe or duplicate ids, "ok" rows without file, unknown status."""
    missing = [name for name in REQUIRED_INDEX_COLUMNS if name not in table.column_names]
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
