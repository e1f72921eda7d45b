"""Deterministic shard plan, result parts and completion markers of a synthesis job.

Everything a job keeps besides its outputs lives under ``OUT/_job/``::

    OUT/_job/plan.parquet              the validated rows, one Parquet row group per shard (written once)
    OUT/_job/plan.json                 plan metadata; written last, so its presence means the plan is complete
    OUT/_job/parts/{shard:05d}/{attempt}-{first_row:09d}.parquet
                                       result rows of one finished batch (written after the batch's audio)
    OUT/_job/done/{shard:05d}.json     completion marker of a shard, with its counters (written after its parts)
    OUT/_job/invalid.parquet           result rows of manifest rows rejected by validation (--skip-invalid)
    OUT/_job/lock.json                 the job lock (see pipelines.lock)
    OUT/_job/logs/{shard:05d}.{attempt}.log   the worker's log of that shard run (see pipelines.shard_log)

The plan is computed on the first run and never recomputed: a rerun reuses it, whatever ``--rows-per-shard`` says,
and refuses to run when the manifest's content changed (the fingerprint differs).
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

from manifests.common import ManifestError, read_table
from manifests.utterances import UTTERANCE_SCHEMA
from pipelines.storage import Storage, StorageNotFound, split_url


logger = logging.getLogger(__name__)

JOB_DIR = "_job"
PLAN_ROWS = f"{JOB_DIR}/plan.parquet"
PLAN_META = f"{JOB_DIR}/plan.json"
PARTS_DIR = f"{JOB_DIR}/parts"
DONE_DIR = f"{JOB_DIR}/done"
INVALID_PART = f"{JOB_DIR}/invalid.parquet"
MAX_ROWS_PER_SHARD = 1_000_000
_GLOB_CHARS = "*?["


class PlanMismatch(ValueError):
    """The output folder holds a plan for a different manifest."""


@dataclass(frozen=True)
class ShardPlan:
    """Metadata of a job's shard plan (rows are in ``plan.parquet``, shard ``i`` = row group ``i``)."""

    manifest: str
    fingerprint: str
    n_rows: int
    rows_per_shard: int
    n_shards: int
    created_at: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ShardPlan:
        return cls(**json.loads(data))


# ---------------------------------------------------------------------------------------------------- manifest input
def manifest_files(url: str) -> tuple[Storage, list[str]]:
    """Resolve a manifest URL (one file, a folder of files, or a glob) to a storage and sorted relative paths."""
    if any(c in url for c in _GLOB_CHARS):
        cut = min(url.index(c) for c in _GLOB_CHARS if c in url)
        base = url[:cut].rpartition("/")[0] or "."
        storage = Storage(base)
        files = storage.glob(url[len(base) + 1 :])
    else:
        storage = Storage(url)
        files = storage.list(recursive=True) if _is_folder(storage) else []
        if not files and not _is_folder(storage):
            parent, name = split_url(url)
            storage, files = Storage(parent), [name]
    files = [f for f in files if f.lower().endswith((".parquet", ".pq", ".csv", ".jsonl", ".ndjson"))]
    if not files:
        raise ManifestError(f"manifest {url}: no .parquet/.csv/.jsonl files found")
    return storage, files


def _is_folder(storage: Storage) -> bool:
    try:
        return storage.info("").get("type") == "directory"
    except StorageNotFound:
        return False


def load_manifest(url: str) -> pa.Table:
    """Read every file of a manifest (sorted by path) into one table; rows keep that order."""
    storage, files = manifest_files(url)
    tables = [read_table(storage, rel) for rel in files]
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ManifestError(f"manifest {url}: files have incompatible columns: {exc}") from exc
    logger.info("manifest %s: %d rows from %d file(s)", url, table.num_rows, len(files))
    return table


def table_fingerprint(table: pa.Table) -> str:
    """SHA-256 (first 16 hex digits) of a table's content in the canonical utterance schema."""
    digest = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.combine_chunks().to_batches(max_chunksize=1 << 16):
            writer.write_batch(batch)
    digest.update(sink.getvalue())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------- the plan
def ensure_plan(storage: Storage, runnable: pa.Table, manifest: str, rows_per_shard: int) -> ShardPlan:
    """Return the job's plan, writing it on the first run.

    Args:
        storage: the job's output folder.
        runnable: validated rows (``UTTERANCE_SCHEMA``), in manifest order.
        manifest: manifest URL (recorded for humans).
        rows_per_shard: shard size for a new plan (an existing plan keeps its own).

    Raises:
        PlanMismatch: a plan exists for different rows.
    """
    if not 1 <= rows_per_shard <= MAX_ROWS_PER_SHARD:
        raise ValueError(f"rows_per_shard must be in [1, {MAX_ROWS_PER_SHARD}], got {rows_per_shard}")
    fingerprint = table_fingerprint(runnable)
    if storage.exists(PLAN_META):
        plan = ShardPlan.from_json(storage.read_bytes(PLAN_META))
        if plan.fingerprint != fingerprint:
            raise PlanMismatch(
                f"{storage.url()} already holds a job for different rows (plan {plan.fingerprint} from "
                f"{plan.manifest}, {plan.n_rows} rows; this manifest gives {fingerprint}, {runnable.num_rows} rows). "
                "Use a new --out folder for a new manifest."
            )
        if plan.rows_per_shard != rows_per_shard:
            logger.warning(
                "keeping the existing plan's %d rows per shard (asked %d)", plan.rows_per_shard, rows_per_shard
            )
        return plan
    n_shards = -(-runnable.num_rows // rows_per_shard)
    buf = io.BytesIO()
    pq.write_table(runnable, buf, row_group_size=rows_per_shard, compression="zstd")
    if n_shards and pq.ParquetFile(io.BytesIO(buf.getvalue())).num_row_groups != n_shards:
        raise RuntimeError("pyarrow did not write one row group per shard")  # guards the plan layout
    storage.write_bytes(PLAN_ROWS, buf.getvalue())
    plan = ShardPlan(manifest, fingerprint, runnable.num_rows, rows_per_shard, n_shards, time.time())
    if not storage.put_if_absent(PLAN_META, plan.to_json()):  # another run planned concurrently: same rows
        return ShardPlan.from_json(storage.read_bytes(PLAN_META))
    logger.info("planned %d rows into %d shards of %d", plan.n_rows, n_shards, rows_per_shard)
    return plan


def read_shard(storage: Storage, shard: int) -> pa.Table:
    """Rows of one shard (a ranged read of one row group of ``plan.parquet``)."""
    with storage.open(PLAN_ROWS, "rb") as fh:
        table = pq.ParquetFile(fh).read_row_group(shard)
    return table.cast(UTTERANCE_SCHEMA)


# ---------------------------------------------------------------------------------------------------- parts & markers
def part_path(shard: int, attempt: str, first_row: int) -> str:
    """Key of the result part holding a batch whose first manifest row is ``first_row``."""
    return f"{PARTS_DIR}/{shard:05d}/{attempt}-{first_row:09d}.parquet"


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
