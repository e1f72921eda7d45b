"""Result manifest: one row per manifest row, written by the synthesis job.

Workers write Parquet *parts* with :data:`RESULT_SCHEMA` as batches finish; the driver compacts them into
``results.parquet`` (same schema, one row per manifest row). A row is ``ok`` (its audio exists at ``audio_uri``) or
``failed`` (``error_kind`` + ``error`` say why; no audio). ``error_kind`` values:

* ``invalid_input``: rejected by manifest validation (``--skip-invalid``); ``error`` names the check;
* ``synthesis_error``: the model could not speak the text (e.g. nothing left after normalisation);
* ``environment_error``: the worker lacks something (an optional language package); a rerun retries the row;
* ``voice_error``: the voice could not be loaded from the bank (missing, failed, other model); a rerun retries it;
* ``write_error``: encoding or storing the audio failed; a rerun retries the row;
* ``worker_lost``: the worker running the row died more often than the retry budget, or the run stopped before the
  row's shard finished; a rerun retries it.
"""

from __future__ import annotations

import pyarrow as pa


STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUSES = (STATUS_OK, STATUS_FAILED)
ERROR_KINDS = ("invalid_input", "synthesis_error", "environment_error", "voice_error", "write_error", "worker_lost")

TIMING_COLUMNS = ("time_text", "time_t2s", "time_sovits", "time_encode", "time_write")

RESULT_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),  # position in the utterance manifest
        pa.field("id", pa.string()),
        pa.field("voice_id", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error_kind", pa.string()),
        pa.field("error", pa.string()),
        pa.field("audio_uri", pa.string()),
        pa.field("format", pa.string()),
        pa.field("duration", pa.float64()),  # seconds
        pa.field("sample_rate", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("n_segments", pa.int64()),
        pa.field("n_tokens", pa.int64()),
        pa.field("stop_reason", pa.string()),
        pa.field("model_fingerprint", pa.string()),
        *[pa.field(name, pa.float64()) for name in TIMING_COLUMNS],  # seconds, per row
        pa.field("shard", pa.int64()),
        pa.field("attempt", pa.string()),  # run id of the job run that produced the row
        pa.field("worker", pa.string()),  # host:pid of the actor
        pa.field("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)


class ResultsError(ValueError):
    """A results table breaks the result-manifest rules."""


def results_table(rows: list[dict]) -> pa.Table:
    """Build a results table from row dicts (missing columns become null)."""
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in RESULT_SCHEMA.names} for row in rows], schema=RESULT_SCHEMA
    )


def conform(table: pa.Table) -> pa.Table:
    """Cast a part written by this or an older writer to :data:`RESULT_SCHEMA` (absent columns -> null)."""
    columns = []
    for field in RESULT_SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=RESULT_SCHEMA)


def validate_results(table: pa.Table) -> list[str]:
    """Problems with a compacted results table (empty list when it is fine).

    Checks: schema columns present, one row per manifest ``row``, one row per ``id`` among ``ok`` rows, known
    ``status`` and ``error_kind`` values, ``ok`` rows have an ``audio_uri`` and ``failed`` rows an ``error``.
    """
    missing = [name for name in RESULT_SCHEMA.names if name not in table.column_names]
    if missing:
        return [f"results lack column(s) {missing}"]
    rows = table.column("row").to_pylist()
    status = table.column("status").to_pylist()
    ids = table.column("id").to_pylist()
    problems = []
    if len(set(rows)) != len(rows):
        problems.append(f"{len(rows) - len(set(rows))} manifest rows appear more than once")
    ok_ids = [i for i, s in zip(ids, status, strict=True) if s == STATUS_OK]
    if len(set(ok_ids)) != len(ok_ids):
        problems.append(f"{len(ok_ids) - len(set(ok_ids))} ids have more than one ok row")
    unknown = sorted({s for s in status if s not in STATUSES}, key=str)
    if unknown:
        problems.append(f"unknown status values {unknown}")
    kinds = sorted({k for k in table.column("error_kind").to_pylist() if k is not None and k not in ERROR_KINDS})
    if kinds:
        problems.append(f"unknown error_kind values {kinds}")
    uris, errors = table.column("audio_uri").to_pylist(), table.column("error").to_pylist()
    for s, uri, err, i in zip(status, uris, errors, ids, strict=True):
        if s == STATUS_OK and not uri:
            problems.append(f"ok row {i!r} has no audio_uri")
        if s == STATUS_FAILED and not err:
            problems.append(f"failed row {i!r} has no error")
    return problems
