"""A job folder's bookkeeping: the deterministic shard plan, the settings fingerprint, result parts and markers.

Everything a job keeps besides its outputs lives under ``OUT/_job/``::

    OUT/_job/plan.parquet              the input rows, one Parquet row group per shard (written once)
    OUT/_job/plan.json                 plan metadata; written last, so its presence means the plan is complete
    OUT/_job/settings.json             the settings that change outputs (format, rate, model...), fixed by the first run
    OUT/_job/parts/{shard:05d}/{attempt}-{first_row:09d}-{batch:05d}.parquet
                                       result rows of one finished batch (written after the batch's outputs)
    OUT/_job/done/{shard:05d}.json     completion marker of a shard, with its counters (written after its parts)
    OUT/_job/invalid.parquet           result rows of input rows rejected by validation (--skip-invalid)
    OUT/_job/lock.json                 the job lock (see pipelines.engine.lock)
    OUT/_job/logs/{shard:05d}.{attempt}.log   the worker's log of that shard run (see pipelines.engine.shard_log)

The plan is computed on the first run and never recomputed: a rerun reuses it, whatever ``--rows-per-shard`` says,
and refuses to run when the input's content changed (:class:`PlanMismatch`) or when a setting that changes outputs
changed (:class:`SettingsMismatch`); ``--force`` starts the job folder over instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.storage import Storage, StorageNotFound


logger = logging.getLogger(__name__)

JOB_DIR = "_job"
PLAN_ROWS = f"{JOB_DIR}/plan.parquet"
PLAN_META = f"{JOB_DIR}/plan.json"
SETTINGS = f"{JOB_DIR}/settings.json"
PARTS_DIR = f"{JOB_DIR}/parts"
DONE_DIR = f"{JOB_DIR}/done"
INVALID_PART = f"{JOB_DIR}/invalid.parquet"
RUNS_DIR = f"{JOB_DIR}/runs"
COMPACTED = f"{JOB_DIR}/compacted.json"
RESULTS_FILE = "results.parquet"
SUMMARY_FILE = "summary.json"


class PlanMismatch(ValueError):
    """The output folder holds a plan for different input rows."""


class SettingsMismatch(ValueError):
    """The output folder holds a job made with other settings that change its outputs."""


class JsonRecord:
    """``to_json`` / ``from_json`` for the flat dataclasses the engine keeps as JSON files in the job folder."""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: bytes) -> Any:
        return cls(**json.loads(data))


@dataclass(frozen=True)
class ShardPlan(JsonRecord):
    """Metadata of a job's shard plan (rows are in ``plan.parquet``, shard ``i`` = row group ``i``)."""

    manifest: str
    fingerprint: str
    n_rows: int
    rows_per_shard: int
    n_shards: int
    created_at: float

    def shard_rows(self, shard: int) -> int:
        """Number of rows in ``shard``."""
        return min(self.rows_per_shard, self.n_rows - shard * self.rows_per_shard)


def table_fingerprint(table: pa.Table) -> str:
    """SHA-256 (first 16 hex digits) of a table's content and schema."""
    digest = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.combine_chunks().to_batches(max_chunksize=1 << 16):
            writer.write_batch(batch)
    digest.update(sink.getvalue())
    return digest.hexdigest()[:16]


def read_plan(storage: Storage) -> ShardPlan | None:
    """The folder's plan, or None when it has none (yet)."""
    try:
        return ShardPlan.from_json(storage.read_bytes(PLAN_META))
    except StorageNotFound:
        return None


def plan_matches(plan: ShardPlan, rows: pa.Table) -> bool:
    return plan.fingerprint == table_fingerprint(rows)


def mismatch_message(storage: Storage, plan: ShardPlan, rows: pa.Table, source: str) -> str:
    return (
        f"{storage.url()} already holds a job for different rows (plan {plan.fingerprint} from {plan.manifest}, "
        f"{plan.n_rows} rows; {source} gives {table_fingerprint(rows)}, {rows.num_rows} rows). Use a new --out folder "
        "for new input, or --force to start this folder over."
    )


def write_plan(storage: Storage, rows: pa.Table, source: str, rows_per_shard: int) -> ShardPlan:
    """Write a new plan for ``rows`` (``plan.json`` last); return it."""
    n_shards = -(-rows.num_rows // rows_per_shard)
    buf = io.BytesIO()
    pq.write_table(rows, buf, row_group_size=rows_per_shard, compression="zstd")
    if n_shards and pq.ParquetFile(io.BytesIO(buf.getvalue())).num_row_groups != n_shards:
        raise RuntimeError("pyarrow did not write one row group per shard")  # guards the plan layout
    storage.write_bytes(PLAN_ROWS, buf.getvalue())
    plan = ShardPlan(source, table_fingerprint(rows), rows.num_rows, rows_per_shard, n_shards, time.time())
    storage.write_bytes(PLAN_META, plan.to_json())
    logger.info("planned %d rows into %d shard(s) of %d", plan.n_rows, n_shards, rows_per_shard)
    return plan


def ensure_plan(storage: Storage, rows: pa.Table, source: str, rows_per_shard: int) -> ShardPlan:
    """The job's plan, written on the first run (call under the job lock).

    Raises:
        PlanMismatch: a plan exists for different rows.
    """
    plan = read_plan(storage)
    if plan is None:
        return write_plan(storage, rows, source, rows_per_shard)
    if not plan_matches(plan, rows):
        raise PlanMismatch(mismatch_message(storage, plan, rows, source))
    if plan.rows_per_shard != rows_per_shard:
        logger.info("keeping the existing plan's %d rows per shard (asked %d)", plan.rows_per_shard, rows_per_shard)
    return plan


def read_shard(storage: Storage, shard: int) -> pa.Table:
    """Rows of one shard (a ranged read of one row group of ``plan.parquet``)."""
    with storage.open(PLAN_ROWS, "rb") as fh:
        return pq.ParquetFile(fh).read_row_group(shard)


# ---------------------------------------------------------------------------------------------------- settings
def _describe(value: Any) -> str:
    return "default" if value is None else json.dumps(value, ensure_ascii=False)


def check_settings(storage: Storage, settings: dict[str, Any], *, accept: bool = False) -> None:
    """Record the job's output-changing settings on its first run; refuse a rerun with other values.

    A job folder written before settings were recorded gets them recorded now (nothing to compare with). With
    ``accept`` (a run that changes settings on purpose, such as a re-render with a new lexicon) the new values are
    recorded instead of refused.

    Raises:
        SettingsMismatch: naming each changed setting with its old and new value, and how to redo.
    """
    settings = json.loads(json.dumps(settings))  # normalise (tuples -> lists) so stored and given compare equal
    try:
        stored = json.loads(storage.read_bytes(SETTINGS))
    except StorageNotFound:
        storage.write_bytes(SETTINGS, json.dumps(settings, indent=2, sort_keys=True).encode())
        return
    changed = [
        f"{key}: {_describe(stored.get(key))} -> {_describe(settings.get(key))}"
        for key in sorted(set(stored) | set(settings))
        if stored.get(key) != settings.get(key)
    ]
    if changed and accept:
        logger.info("recording changed settings: %s", "; ".join(changed))
        storage.write_bytes(SETTINGS, json.dumps(settings, indent=2, sort_keys=True).encode())
    elif changed:
        raise SettingsMismatch(
            f"{storage.url()} holds a job made with other settings ({'; '.join(changed)}). Rerun with --force to redo "
            "every row with the new settings (this removes the old outputs), or use a new --out folder."
        )


# ---------------------------------------------------------------------------------------------------- parts & markers
def part_path(shard: int, attempt: str, first_row: int, seq: int = 0) -> str:
    """Key of the result part of batch ``seq`` of a shard run, whose first input row is ``first_row``."""
    return f"{PARTS_DIR}/{shard:05d}/{attempt}-{first_row:09d}-{seq:05d}.parquet"


def list_parts(storage: Storage, shard: int) -> list[str]:
    return [p for p in storage.list(f"{PARTS_DIR}/{shard:05d}") if p.endswith(".parquet")]


def list_all_parts(storage: Storage) -> list[str]:
    return [p for p in storage.list(PARTS_DIR, recursive=True) if p.endswith(".parquet")]


def done_path(shard: int) -> str:
    return f"{DONE_DIR}/{shard:05d}.json"


def mark_done(storage: Storage, shard: int, stats: dict[str, Any]) -> None:
    """Write a shard's completion marker (call only after all its parts are written)."""
    storage.write_bytes(done_path(shard), json.dumps({"shard": shard, **stats}, sort_keys=True).encode())


def read_marker(storage: Storage, shard: int) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_bytes(done_path(shard)))
    except StorageNotFound:
        return None


def done_shards(storage: Storage) -> set[int]:
    """Shard numbers that have a completion marker (one listing)."""
    names = (p.rpartition("/")[2] for p in storage.list(DONE_DIR))
    return {int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()}


def reset_job(storage: Storage, output_prefixes: tuple[str, ...] = (), keep_plan: bool = False) -> None:
    """Remove a job's outputs and bookkeeping (``--force``, or a mode that replans every run); keeps the lock."""
    for rel in (*output_prefixes, PARTS_DIR, DONE_DIR, RUNS_DIR, f"{JOB_DIR}/logs"):
        storage.delete(rel, recursive=True, missing_ok=True)
    files = [SETTINGS, INVALID_PART, COMPACTED, RESULTS_FILE, SUMMARY_FILE]
    if not keep_plan:
        files = [PLAN_META, PLAN_ROWS, *files]  # plan.json first: a half-removed plan reads as no plan
    for rel in files:
        storage.delete(rel, missing_ok=True)
