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

from typing import Any

import pyarrow as pa

from manifests.common import Issue, check_id, find_id_collisions


__all__ = [
    "BANK_INDEX_SCHEMA",
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
