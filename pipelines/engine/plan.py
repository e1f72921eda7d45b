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
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
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


FINGERPRINT_CHUNK = 1 << 16


@dataclass(frozen=True)
class RowStream:
    """Plan rows produced batch by batch, for inputs too large to hold (the plan is written without keeping them).

    Attributes:
        schema: the rows' schema.
        batches: returns a fresh iterator over all the rows each time it is called (the engine reads the rows twice
            when it must compare them with an existing plan).
    """

    schema: pa.Schema
    batches: Callable[[], Iterator[pa.RecordBatch]]


Rows = pa.Table | RowStream


class _Rechunker:
    """Cuts a stream of record batches into batches of exactly ``size`` rows (the last one may be shorter)."""

    def __init__(self, size: int) -> None:
        self.size, self.pending, self.n = size, [], 0

    def push(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        self.pending.append(batch)
        self.n += batch.num_rows
        while self.n >= self.size:
            table = pa.Table.from_batches(self.pending).combine_chunks()
            yield from table.slice(0, self.size).to_batches(max_chunksize=self.size)
            rest = table.slice(self.size)
            self.pending, self.n = rest.to_batches(), rest.num_rows

    def flush(self) -> Iterator[pa.RecordBatch]:
        if self.n:
            yield from pa.Table.from_batches(self.pending).combine_chunks().to_batches(max_chunksize=self.size)
        self.pending, self.n = [], 0


class _HashSink(io.RawIOBase):
    """A write-only file that only hashes what is written (fingerprints without keeping the bytes)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return len(data)


def _batches_of(rows: Rows) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if isinstance(rows, RowStream):
        return rows.schema, rows.batches()
    return rows.schema, iter(rows.to_batches())


class _Fingerprint:
    """The content fingerprint of rows fed batch by batch (the same bytes whatever the input's chunking)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.sink, self.chunks, self.n_rows = _HashSink(), _Rechunker(FINGERPRINT_CHUNK), 0
        self.writer = pa.ipc.new_stream(pa.PythonFile(self.sink, mode="w"), schema)

    def add(self, batch: pa.RecordBatch) -> None:
        self.n_rows += batch.num_rows
        for chunk in self.chunks.push(batch):
            self.writer.write_batch(chunk)

    def hexdigest(self) -> str:
        for chunk in self.chunks.flush():
            self.writer.write_batch(chunk)
        self.writer.close()
        return self.sink.digest.hexdigest()[:16]


def rows_fingerprint(rows: Rows) -> tuple[str, int]:
    """(SHA-256 of the rows' content and schema, first 16 hex digits; number of rows)."""
    schema, batches = _batches_of(rows)
    fingerprint = _Fingerprint(schema)
    for batch in batches:
        fingerprint.add(batch)
    return fingerprint.hexdigest(), fingerprint.n_rows


def table_fingerprint(table: pa.Table) -> str:
    """SHA-256 (first 16 hex digits) of a table's content and schema."""
    return rows_fingerprint(table)[0]


def read_plan(storage: Storage) -> ShardPlan | None:
    """The folder's plan, or None when it has none (yet)."""
    try:
        return ShardPlan.from_json(storage.read_bytes(PLAN_META))
    except StorageNotFound:
        return None


def plan_matches(plan: ShardPlan, rows: Rows) -> bool:
    return plan.fingerprint == rows_fingerprint(rows)[0]


def mismatch_message(storage: Storage, plan: ShardPlan, rows: Rows, source: str) -> str:
    fingerprint, n_rows = rows_fingerprint(rows)
    return (
        f"{storage.url()} already holds a job for different rows (plan {plan.fingerprint} from {plan.manifest}, "
        f"{plan.n_rows} rows; {source} gives {fingerprint}, {n_rows} rows). Use a new --out folder "
        "for new input, or --force to start this folder over."
    )


def write_plan(storage: Storage, rows: Rows, source: str, rows_per_shard: int) -> ShardPlan:
    """Write a new plan for ``rows`` (``plan.json`` last); return it. Rows stream through a local temporary file:
    memory holds one chunk of rows at a time, whatever the number of rows."""
    from pipelines.publish import publish_file

    schema, batches = _batches_of(rows)
    fingerprint = _Fingerprint(schema)
    chunks = _Rechunker(rows_per_shard * max(1, FINGERPRINT_CHUNK // rows_per_shard))
    with tempfile.TemporaryDirectory(prefix="sovits-plan-") as folder:
        path = Path(folder) / "plan.parquet"
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in batches:
                fingerprint.add(batch)
                for chunk in chunks.push(batch):
                    writer.write_table(pa.Table.from_batches([chunk]), row_group_size=rows_per_shard)
            for chunk in chunks.flush():
                writer.write_table(pa.Table.from_batches([chunk]), row_group_size=rows_per_shard)
        n_rows = fingerprint.n_rows
        n_shards = -(-n_rows // rows_per_shard)
        if n_shards and pq.ParquetFile(path).num_row_groups != n_shards:
            raise RuntimeError("pyarrow did not write one row group per shard")  # guards the plan layout
        publish_file(storage, PLAN_ROWS, path)
    plan = ShardPlan(source, fingerprint.hexdigest(), n_rows, rows_per_shard, n_shards, time.time())
    storage.write_bytes(PLAN_META, plan.to_json())
    logger.info("planned %d rows into %d shard(s) of %d", plan.n_rows, n_shards, rows_per_shard)
    return plan


def ensure_plan(storage: Storage, rows: Rows, source: str, rows_per_shard: int) -> ShardPlan:
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
