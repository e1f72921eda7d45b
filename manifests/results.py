"""Result rows: one per input row of a job, with a status and, for a failure, a typed error kind.

Workers write Parquet *parts* of result rows as batches finish; the engine compacts them into ``results.parquet``
(one row per input row). A row is ``ok`` (its output exists, e.g. audio at ``audio_uri``) or ``failed``
(``error_kind`` + ``error`` say why).

Error kinds are an enum that knows which failures are **final** (the input itself is wrong: retrying cannot change
the outcome, so a rerun does not retry them) and which are **retryable** (the environment failed: out of memory, a
device error, storage, a lost worker; the engine retries them within the run, and a plain rerun retries what is left).
Kinds are decided from exception *types* (``pipelines.engine.errors.classify``), never from message text.

The row dataclasses here (:class:`ResultRow` for synthesis modes) are the only way rows are made: their ``ok(...)``
and ``failed(...)`` constructors fill the common columns; the engine stamps ``shard``, ``attempt`` and ``worker``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

import pyarrow as pa

from manifests.qc import QC_FIELDS


STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_QC_FAILED = "qc_failed"  # synthesized, but every attempt failed quality control (audio under quarantine/)
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_QC_FAILED)


class ErrorKind(str, Enum):
    """Why a row failed; :attr:`final` says whether retrying could change it."""

    # final: the input is wrong
    INVALID_INPUT = "invalid_input"  # rejected by validation (--skip-invalid); ``error`` starts with the check's code
    BAD_TEXT = "bad_text"  # the frontend cannot speak the text (nothing left after normalisation, bad characters)
    BAD_VOICE = "bad_voice"  # the voice cannot be used (its precompute failed, computed with another model)
    BAD_AUDIO = "bad_audio"  # an input clip cannot be used (missing, corrupt, silent, too short, DC offset)
    TEXT_TOO_LONG = "text_too_long"  # over the per-row limit of an utterance job
    SYNTHESIS_ERROR = "synthesis_error"  # the model's output is unusable (no tokens, non-finite audio)
    QC_FAILED = "qc_failed"  # every attempt failed quality control (a rerun retries only with --retry-qc-failed)
    # retryable: the environment failed
    OUT_OF_MEMORY = "out_of_memory"
    DEVICE_ERROR = "device_error"
    STORAGE_ERROR = "storage_error"
    WORKER_LOST = "worker_lost"  # the worker died more often than the retry budget, or the run stopped first
    ENVIRONMENT_ERROR = "environment_error"  # the worker lacks something (an optional language package)
    INTERNAL_ERROR = "internal_error"  # a shard task crashed (a bug): a rerun retries once it is fixed
    # read from parts written by older versions
    VOICE_ERROR = "voice_error"
    WRITE_ERROR = "write_error"

    @property
    def final(self) -> bool:
        """True when retrying cannot change the outcome (a rerun does not retry the row)."""
        return self in _FINAL

    def __str__(self) -> str:
        return self.value


_FINAL = frozenset(
    {
        ErrorKind.INVALID_INPUT,
        ErrorKind.BAD_TEXT,
        ErrorKind.BAD_VOICE,
        ErrorKind.BAD_AUDIO,
        ErrorKind.TEXT_TOO_LONG,
        ErrorKind.SYNTHESIS_ERROR,
        ErrorKind.QC_FAILED,
    }
)
ERROR_KINDS = tuple(kind.value for kind in ErrorKind)
FINAL_KINDS = frozenset(kind.value for kind in _FINAL)


def is_final(status: str | None, kind: str | None) -> bool:
    """Whether a result row (by its status and error kind) is done for good: ``ok`` or a final failure."""
    return status == STATUS_OK or kind in FINAL_KINDS


# Columns every mode's result rows have: the engine reads them to resume, compact and count.
ENGINE_FIELDS = [
    pa.field("row", pa.int64(), nullable=False),  # position of the input row (the plan's row number)
    pa.field("id", pa.string()),
    pa.field("status", pa.string(), nullable=False),
    pa.field("error_kind", pa.string()),
    pa.field("error", pa.string()),
]
STAMP_FIELDS = [
    pa.field("shard", pa.int64()),
    pa.field("attempt", pa.string()),  # run id of the job run that produced the row
    pa.field("worker", pa.string()),  # host:pid of the actor
    pa.field("finished_at", pa.timestamp("us", tz="UTC")),
]
TIMING_COLUMNS = ("time_text", "time_t2s", "time_sovits", "time_encode", "time_write")
MODEL_TIME_COLUMNS = ("time_text", "time_t2s", "time_sovits")

RESULT_SCHEMA = pa.schema(
    [
        *ENGINE_FIELDS[:2],
        pa.field("voice_id", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        *ENGINE_FIELDS[2:],
        pa.field("audio_uri", pa.string()),
        pa.field("format", pa.string()),
        pa.field("duration", pa.float64()),  # seconds
        pa.field("sample_rate", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("n_segments", pa.int64()),
        pa.field("n_tokens", pa.int64()),
        pa.field("stop_reason", pa.string()),
        pa.field("take", pa.int32()),  # which synthesis of the row this is: 0 = its own seed, n = n-th new seed
        pa.field("model_fingerprint", pa.string()),
        *QC_FIELDS,  # quality control: the kept attempt's scores and every attempt's (manifests.qc)
        pa.field("time_qc", pa.float64()),
        *[pa.field(name, pa.float64()) for name in TIMING_COLUMNS],  # seconds, per row
        *STAMP_FIELDS,
    ]
)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class ResultRow:
    """One utterance's outcome (the columns of :data:`RESULT_SCHEMA`). Build with :meth:`ok` or :meth:`failed`."""

    row: int
    id: str | None
    status: str
    voice_id: str | None = None
    text: str | None = None
    lang: str | None = None
    error_kind: str | None = None
    error: str | None = None
    audio_uri: str | None = None
    format: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    seed: int | None = None
    n_segments: int | None = None
    n_tokens: int | None = None
    stop_reason: str | None = None
    take: int | None = None
    model_fingerprint: str | None = None
    qc: dict[str, Any] | None = None
    qc_attempts: list[dict[str, Any]] | None = None
    time_qc: float | None = None
    time_text: float | None = None
    time_t2s: float | None = None
    time_sovits: float | None = None
    time_encode: float | None = None
    time_write: float | None = None
    shard: int | None = None
    attempt: str | None = None
    worker: str | None = None
    finished_at: dt.datetime | None = None

    @classmethod
    def _from_input(cls, row: Mapping[str, Any], **values: Any) -> ResultRow:
        names = {f.name for f in fields(cls)}
        carried = {k: row.get(k) for k in ("row", "id", "voice_id", "text", "lang", "seed")}
        unknown = set(values) - names
        if unknown:
            raise TypeError(f"ResultRow has no field(s) {sorted(unknown)}")
        return cls(**{**carried, "finished_at": now_utc(), **values})

    @classmethod
    def ok(cls, row: Mapping[str, Any], *, audio_uri: str, duration: float, **values: Any) -> ResultRow:
        """A successful row for the input ``row`` (a plan row: ``row``, ``id``, ``voice_id``, ``text``...)."""
        return cls._from_input(row, status=STATUS_OK, audio_uri=audio_uri, duration=duration, **values)

    @classmethod
    def failed(cls, row: Mapping[str, Any], kind: ErrorKind, error: str, **values: Any) -> ResultRow:
        """A failed row: ``kind`` says whether a rerun retries it, ``error`` says why in words."""
        if not isinstance(kind, ErrorKind):
            raise TypeError(f"kind must be an ErrorKind, got {kind!r}")
        return cls._from_input(row, status=STATUS_FAILED, error_kind=kind.value, error=error, **values)

    @classmethod
    def qc_failed(cls, row: Mapping[str, Any], *, audio_uri: str, error: str, **values: Any) -> ResultRow:
        """A row whose every attempt failed quality control; its audio is under quarantine at ``audio_uri``."""
        return cls._from_input(row, status=STATUS_QC_FAILED, error_kind=ErrorKind.QC_FAILED.value, error=error,
                               audio_uri=audio_uri, **values)  # fmt: skip


def rows_table(rows: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """Arrow table of typed row dataclasses (or dicts) in ``schema``'s column order (absent columns are null)."""
    dicts = [row if isinstance(row, Mapping) else asdict(row) for row in rows]
    return pa.Table.from_pylist([{name: d.get(name) for name in schema.names} for d in dicts], schema=schema)


def results_table(rows: Sequence[ResultRow | Mapping[str, Any]]) -> pa.Table:
    """:data:`RESULT_SCHEMA` table of result rows."""
    return rows_table(rows, RESULT_SCHEMA)


def conform(table: pa.Table, schema: pa.Schema = RESULT_SCHEMA) -> pa.Table:
    """Cast a part written by this or an older writer to ``schema`` (absent columns -> null)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def validate_results(table: pa.Table, schema: pa.Schema = RESULT_SCHEMA) -> list[str]:
    """Problems with a compacted results table (empty list when it is fine).

    Checks: schema columns present, one row per input ``row``, one ``ok`` row per ``id``, known ``status`` and
    ``error_kind`` values, ``failed`` rows have an ``error`` (and, for synthesis results, ``ok`` rows an
    ``audio_uri``).
    """
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        return [f"results lack column(s) {missing}"]
    rows, status, ids = (table.column(c).to_pylist() for c in ("row", "status", "id"))
    problems = []
    if len(set(rows)) != len(rows):
        problems.append(f"{len(rows) - len(set(rows))} input rows appear more than once")
    ok_ids = [i for i, s in zip(ids, status, strict=True) if s == STATUS_OK]
    if len(set(ok_ids)) != len(ok_ids):
        problems.append(f"{len(ok_ids) - len(set(ok_ids))} ids have more than one ok row")
    unknown = sorted({s for s in status if s not in STATUSES}, key=str)
    if unknown:
        problems.append(f"unknown status values {unknown}")
    kinds = sorted({k for k in table.column("error_kind").to_pylist() if k is not None and k not in ERROR_KINDS})
    if kinds:
        problems.append(f"unknown error_kind values {kinds}")
    errors = table.column("error").to_pylist()
    uris = table.column("audio_uri").to_pylist() if "audio_uri" in table.column_names else [True] * len(rows)
    for s, uri, err, i in zip(status, uris, errors, ids, strict=True):
        if s in (STATUS_OK, STATUS_QC_FAILED) and not uri:
            problems.append(f"{s} row {i!r} has no audio_uri")
        if s in (STATUS_FAILED, STATUS_QC_FAILED) and not err:
            problems.append(f"{s} row {i!r} has no error")
    return problems
