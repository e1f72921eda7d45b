"""Compaction of result parts into ``OUT/results.parquet`` and the job's ``OUT/summary.json``.

Compaction goes shard by shard (memory: one shard's rows at a time). For every input row it keeps the latest
successful attempt, else the latest failed one; a row of the plan with no result at all (its shard's worker was
lost, or the run was interrupted) gets a ``failed`` row of kind ``worker_lost`` (or ``internal_error`` when its
shard task crashed), which a rerun retries. Rows rejected by validation (``--skip-invalid``) come last. The output
is written atomically; when nothing changed since the last compaction (same parts, markers and failures) neither
file is rewritten.

``summary.json`` records ``status`` (``ok``, ``failed_rows`` or ``incomplete`` when retryable failures remain) and
the job's ``exit_code``, so a scheduler that only sees "the driver exited" (``ray job submit``) can read them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.results import FINAL_KINDS, STATUS_FAILED, STATUS_OK, ErrorKind, conform, now_utc
from pipelines.engine.plan import (
    COMPACTED,
    INVALID_PART,
    RESULTS_FILE,
    RUNS_DIR,
    SUMMARY_FILE,
    ShardPlan,
    done_shards,
    list_all_parts,
    read_shard,
)
from pipelines.publish import publish_file
from pipelines.storage import Storage, StorageNotFound


logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FATAL, EXIT_INVALID, EXIT_FAILED_ROWS = 0, 1, 2, 3


@dataclass(frozen=True)
class Failure:
    """A shard task that did not finish in this run: ``kind`` is the error kind its unfinished rows get."""

    kind: ErrorKind
    message: str


def latest_per_row(table: pa.Table) -> pa.Table:
    """One row per input ``row``: the latest ``ok`` attempt, else the latest failed one; sorted by ``row``."""
    if table.num_rows == 0:
        return table
    ranked = table.append_column("_ok", pc.cast(pc.equal(table.column("status"), STATUS_OK), pa.int8()))
    ranked = ranked.sort_by([("row", "ascending"), ("_ok", "descending"), ("finished_at", "descending")])
    rows = ranked.column("row").to_numpy()
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    return ranked.filter(pa.array(first)).drop_columns(["_ok"])


def read_parts(storage: Storage, parts: list[str], schema: pa.Schema) -> pa.Table:
    tables = [conform(pq.read_table(io.BytesIO(storage.read_bytes(rel))), schema) for rel in parts]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _missing_rows(shard_rows: pa.Table, have: set[int], shard: int, failure: Failure, schema: pa.Schema) -> pa.Table:
    carried = [name for name in shard_rows.column_names if name in schema.names]
    missing = [{k: r[k] for k in carried} for r in shard_rows.select(carried).to_pylist() if r["row"] not in have]
    now = now_utc()
    extra = {"shard": shard, "status": STATUS_FAILED, "error_kind": failure.kind.value, "error": failure.message}
    return pa.Table.from_pylist(
        [{name: {**r, **extra, "finished_at": now}.get(name) for name in schema.names} for r in missing], schema=schema
    )


@dataclass
class Totals:
    """Counters accumulated while compacting (feed ``summary.json``)."""

    model_time_columns: tuple[str, ...] = ()
    n_rows: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    invalid_by_check: Counter = field(default_factory=Counter)
    audio_seconds: float = 0.0
    model_seconds: float = 0.0
    fingerprints: set = field(default_factory=set)

    def add(self, table: pa.Table) -> None:
        self.n_rows += table.num_rows
        self.by_status.update(table.column("status").to_pylist())
        kinds, errors = (table.column(c).to_pylist() for c in ("error_kind", "error"))
        self.by_kind.update(k for k in kinds if k)
        self.invalid_by_check.update(
            e.partition(":")[0] for k, e in zip(kinds, errors, strict=True) if k == "invalid_input" and e
        )
        if "duration" in table.column_names:
            self.audio_seconds += float(pc.sum(table.column("duration")).as_py() or 0.0)
        for name in self.model_time_columns:
            self.model_seconds += float(pc.sum(table.column(name)).as_py() or 0.0)
        if "model_fingerprint" in table.column_names:
            self.fingerprints.update(f for f in table.column("model_fingerprint").to_pylist() if f)

    @property
    def n_failed(self) -> int:
        return sum(n for status, n in self.by_status.items() if status != STATUS_OK)

    @property
    def n_retryable(self) -> int:
        return sum(n for kind, n in self.by_kind.items() if kind not in FINAL_KINDS)


def _state_key(storage: Storage, parts: list[str], failures: dict[int, Failure]) -> str:
    digest = hashlib.sha256()
    for item in (
        *parts,
        *(f"done:{s}" for s in sorted(done_shards(storage))),
        str(sorted((s, f.kind.value, f.message) for s, f in failures.items())),
        str(storage.exists(INVALID_PART)),
    ):
        digest.update(item.encode() + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class CompactionSpec:
    """What compaction needs to know about a mode's results.

    Attributes:
        schema: the mode's result schema. mode: its name (``summary["mode"]``).
        model_time_columns: result columns that add up to model seconds.
        addons: ``summary key -> factory`` of objects with ``add(table)`` and ``result() -> dict`` that count
            mode-specific figures shard by shard (e.g. ``"qc"``: the QC counts).
    """

    schema: pa.Schema
    mode: str
    model_time_columns: tuple[str, ...] = ()
    addons: tuple[tuple[str, Any], ...] = ()


def compact(
    storage: Storage, plan: ShardPlan, failures: dict[int, Failure], run_seconds: float, spec: CompactionSpec
) -> tuple[dict[str, Any], bool]:
    """Write ``results.parquet`` and ``summary.json`` unless nothing changed; return the summary and whether it did.

    Args:
        storage: the job's output folder.
        plan: the job's shard plan.
        failures: shard -> why its task did not finish in this run.
        run_seconds: wall seconds of this run (added to the job's total when something changed).
        spec: the mode's result schema and model-time columns.
    """
    parts = list_all_parts(storage)
    key = _state_key(storage, parts, failures)
    if storage.exists(RESULTS_FILE) and storage.exists(SUMMARY_FILE) and _stored_key(storage) == key:
        logger.info("results are up to date; nothing to compact")
        return json.loads(storage.read_bytes(SUMMARY_FILE)), False
    by_shard: dict[int, list[str]] = {}
    for rel in parts:
        by_shard.setdefault(int(rel.split("/")[-2]), []).append(rel)
    totals = Totals(spec.model_time_columns)
    addons = {key: factory() for key, factory in spec.addons}
    tables: Iterable[pa.Table] = (
        _shard_results(storage, s, by_shard.get(s, []), failures.get(s), spec.schema) for s in range(plan.n_shards)
    )
    if storage.exists(INVALID_PART):
        tables = itertools.chain(
            tables, [conform(pq.read_table(io.BytesIO(storage.read_bytes(INVALID_PART))), spec.schema)]
        )
    with tempfile.TemporaryDirectory(prefix="sovits-results-") as folder:  # one shard's rows in memory at a time
        path = Path(folder) / RESULTS_FILE
        with pq.ParquetWriter(path, spec.schema, compression="zstd") as writer:
            for table in tables:
                totals.add(table)
                for addon in addons.values():
                    addon.add(table)
                writer.write_table(table)
        publish_file(storage, RESULTS_FILE, path)
    if run_seconds > 0:
        record = {"wall_seconds": run_seconds, "at": now_utc().isoformat()}
        storage.write_bytes(f"{RUNS_DIR}/{now_utc():%Y%m%dT%H%M%S%f}.json", json.dumps(record).encode())
    summary = build_summary(storage, plan, totals, spec.mode)
    summary.update({key: addon.result() for key, addon in addons.items()})
    storage.write_bytes(SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True).encode())
    storage.write_bytes(COMPACTED, json.dumps({"key": key}).encode())
    logger.info("wrote %s (%d rows) and %s", storage.url(RESULTS_FILE), totals.n_rows, SUMMARY_FILE)
    return summary, True


def _stored_key(storage: Storage) -> str | None:
    try:
        return json.loads(storage.read_bytes(COMPACTED)).get("key")
    except (StorageNotFound, ValueError):
        return None


def _shard_results(
    storage: Storage, shard: int, parts: list[str], failure: Failure | None, schema: pa.Schema
) -> pa.Table:
    shard_rows = read_shard(storage, shard)
    wanted = pa.array(shard_rows.column("row"))
    results = latest_per_row(read_parts(storage, parts, schema))
    results = results.filter(pc.is_in(results.column("row"), value_set=wanted))
    failure = failure or Failure(ErrorKind.WORKER_LOST, "not processed yet (run interrupted); rerun to finish")
    have = set(results.column("row").to_pylist())
    missing = _missing_rows(shard_rows, have, shard, failure, schema)
    return pa.concat_tables([results, missing]).sort_by("row") if missing.num_rows else results


def job_status(totals: Totals) -> tuple[str, int]:
    """(status, exit code) of a compacted job: every row ok; some failed for good; some left for a rerun."""
    if totals.n_failed == 0:
        return "ok", EXIT_OK
    return ("incomplete" if totals.n_retryable else "failed_rows"), EXIT_FAILED_ROWS


def build_summary(storage: Storage, plan: ShardPlan, totals: Totals, mode: str) -> dict[str, Any]:
    """The ``summary.json`` document (see the README's output section)."""
    runs = [json.loads(storage.read_bytes(rel)) for rel in storage.list(RUNS_DIR)]
    wall = sum(r["wall_seconds"] for r in runs)
    audio = totals.audio_seconds
    status, exit_code = job_status(totals)
    by_status = {STATUS_OK: totals.by_status.get(STATUS_OK, 0), STATUS_FAILED: totals.by_status.get(STATUS_FAILED, 0)}
    by_status.update({s: n for s, n in totals.by_status.items() if s not in by_status})
    return {
        "mode": mode,
        "status": status,
        "exit_code": exit_code,
        "rows": totals.n_rows,
        "rows_by_status": by_status,
        "retryable_rows": totals.n_retryable,
        "failures_by_reason": dict(sorted(totals.by_kind.items())),
        "invalid_by_check": dict(sorted(totals.invalid_by_check.items())),
        "audio_seconds": round(audio, 3),
        "audio_hours": round(audio / 3600, 4),
        "wall_seconds": round(wall, 3),
        "model_seconds": round(totals.model_seconds, 3),
        "real_time_factor": round(wall / audio, 5) if audio else None,  # wall seconds per audio second
        "audio_seconds_per_wall_second": round(audio / wall, 3) if wall else None,
        "runs": len(runs),
        "manifest": plan.manifest,
        "plan_fingerprint": plan.fingerprint,
        "n_shards": plan.n_shards,
        "model_fingerprints": sorted(totals.fingerprints),
        "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }


def write_invalid(storage: Storage, table: pa.Table) -> None:
    """Store the result rows of input rows rejected by validation (replaces an earlier run's list)."""
    if storage.exists(INVALID_PART):
        old = pq.read_table(io.BytesIO(storage.read_bytes(INVALID_PART)))
        if old.drop_columns(["finished_at"]).equals(table.drop_columns(["finished_at"])):
            return  # same rejections as last time: write nothing
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    storage.write_bytes(INVALID_PART, buf.getvalue())
