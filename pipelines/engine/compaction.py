"""Compaction of result parts into ``OUT/results.parquet`` and the job's ``OUT/summary.json``.

Compaction goes shard by shard (memory: one shard's rows at a time). For every manifest row it keeps the latest
successful attempt, else the latest failed one; a row of the plan with no result at all (its shard's worker was
lost, or the run was interrupted) gets a ``failed`` row of kind ``worker_lost``, which a rerun retries. Rows
rejected by validation (``--skip-invalid``) come last. The output is written atomically; when nothing changed since
the last compaction (same parts, markers and failures) neither file is rewritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.results import RESULT_SCHEMA, STATUS_FAILED, STATUS_OK, conform, results_table
from pipelines.shards import INVALID_PART, JOB_DIR, ShardPlan, done_shards, list_all_parts, read_shard
from pipelines.storage import Storage, StorageNotFound


logger = logging.getLogger(__name__)

RESULTS_FILE = "results.parquet"
SUMMARY_FILE = "summary.json"
COMPACTED = f"{JOB_DIR}/compacted.json"
RUNS_DIR = f"{JOB_DIR}/runs"


def latest_per_row(table: pa.Table) -> pa.Table:
    """One row per manifest ``row``: the latest ``ok`` attempt, else the latest failed one; sorted by ``row``."""
    if table.num_rows == 0:
        return table
    ranked = table.append_column("_ok", pc.cast(pc.equal(table.column("status"), STATUS_OK), pa.int8()))
    ranked = ranked.sort_by([("row", "ascending"), ("_ok", "descending"), ("finished_at", "descending")])
    rows = ranked.column("row").to_numpy()
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    return ranked.filter(pa.array(first)).drop_columns(["_ok"])


def _read_parts(storage: Storage, parts: list[str]) -> pa.Table:
    tables = [conform(pq.read_table(io.BytesIO(storage.read_bytes(rel)))) for rel in parts]
    return pa.concat_tables(tables) if tables else RESULT_SCHEMA.empty_table()


def _missing_rows(shard_rows: pa.Table, have: set[int], shard: int, reason: str) -> pa.Table:
    now = dt.datetime.now(dt.timezone.utc)
    missing = [r for r in shard_rows.to_pylist() if r["row"] not in have]
    return results_table(
        [
            {
                **{k: r[k] for k in ("row", "id", "voice_id", "text", "lang", "seed")},
                "shard": shard,
                "status": STATUS_FAILED,
                "error_kind": "worker_lost",
                "error": reason,
                "finished_at": now,
            }
            for r in missing
        ]
    )


@dataclass
class Totals:
    """Counters accumulated while compacting (feed ``summary.json``)."""

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
        self.by_kind.update(k for k in table.column("error_kind").to_pylist() if k)
        self.invalid_by_check.update(
            e.partition(":")[0]
            for k, e in zip(*(table.column(c).to_pylist() for c in ("error_kind", "error")), strict=True)
            if k == "invalid_input" and e
        )
        self.audio_seconds += float(pc.sum(table.column("duration")).as_py() or 0.0)
        for name in ("time_text", "time_t2s", "time_sovits"):
            self.model_seconds += float(pc.sum(table.column(name)).as_py() or 0.0)
        self.fingerprints.update(f for f in table.column("model_fingerprint").to_pylist() if f)


def _state_key(storage: Storage, parts: list[str], failures: dict[int, str]) -> str:
    digest = hashlib.sha256()
    for item in (
        *parts,
        *(f"done:{s}" for s in sorted(done_shards(storage))),
        str(sorted(failures.items())),
        str(storage.exists(INVALID_PART)),
    ):
        digest.update(item.encode() + b"\n")
    return digest.hexdigest()


def compact(storage: Storage, plan: ShardPlan, failures: dict[int, str], run_seconds: float) -> dict[str, Any]:
    """Write ``results.parquet`` and ``summary.json`` unless nothing changed; return the summary.

    Args:
        storage: the job's output folder.
        plan: the job's shard plan.
        failures: shard -> message for shards whose task failed in this run.
        run_seconds: wall seconds of this run (added to the job's total when something changed).
    """
    parts = list_all_parts(storage)
    key = _state_key(storage, parts, failures)
    if storage.exists(RESULTS_FILE) and storage.exists(SUMMARY_FILE) and _stored_key(storage) == key:
        logger.info("results are up to date; nothing to compact")
        return json.loads(storage.read_bytes(SUMMARY_FILE))
    by_shard: dict[int, list[str]] = {}
    for rel in parts:
        by_shard.setdefault(int(rel.split("/")[-2]), []).append(rel)
    totals, buf = Totals(), io.BytesIO()
    with pq.ParquetWriter(buf, RESULT_SCHEMA, compression="zstd") as writer:
        for shard in range(plan.n_shards):
            table = _shard_results(storage, shard, by_shard.get(shard, []), failures.get(shard))
            totals.add(table)
            writer.write_table(table)
        if storage.exists(INVALID_PART):
            invalid = conform(pq.read_table(io.BytesIO(storage.read_bytes(INVALID_PART))))
            totals.add(invalid)
            writer.write_table(invalid)
    storage.write_bytes(RESULTS_FILE, buf.getvalue())
    if run_seconds > 0:
        record = {"wall_seconds": run_seconds, "at": dt.datetime.now(dt.timezone.utc).isoformat()}
        storage.write_bytes(
            f"{RUNS_DIR}/{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}.json", json.dumps(record).encode()
        )
    summary = build_summary(storage, plan, totals)
    storage.write_bytes(SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True).encode())
    storage.write_bytes(COMPACTED, json.dumps({"key": key}).encode())
    logger.info("wrote %s (%d rows) and %s", storage.url(RESULTS_FILE), totals.n_rows, SUMMARY_FILE)
    return summary


def _stored_key(storage: Storage) -> str | None:
    try:
        return json.loads(storage.read_bytes(COMPACTED)).get("key")
    except (StorageNotFound, ValueError):
        return None


def _shard_results(storage: Storage, shard: int, parts: list[str], failure: str | None) -> pa.Table:
    shard_rows = read_shard(storage, shard)
    wanted = pa.array(shard_rows.column("row"))
    results = latest_per_row(_read_parts(storage, parts))
    results = results.filter(pc.is_in(results.column("row"), value_set=wanted))
    reason = f"shard task failed: {failure}" if failure else "not processed yet (run interrupted); rerun to finish"
    missing = _missing_rows(shard_rows, set(results.column("row").to_pylist()), shard, reason)
    return pa.concat_tables([results, missing]).sort_by("row") if missing.num_rows else results


def build_summary(storage: Storage, plan: ShardPlan, totals: Totals) -> dict[str, Any]:
    """The ``summary.json`` document (see the README's output section)."""
    runs = [json.loads(storage.read_bytes(rel)) for rel in storage.list(RUNS_DIR)]
    wall = sum(r["wall_seconds"] for r in runs)
    audio = totals.audio_seconds
    failed = totals.by_status.get(STATUS_FAILED, 0)
    return {
        "rows": totals.n_rows,
        "rows_by_status": {STATUS_OK: totals.by_status.get(STATUS_OK, 0), STATUS_FAILED: failed},
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


def write_invalid(storage: Storage, rows: list[dict[str, Any]]) -> None:
    """Store the result rows of manifest rows rejected by validation (replaces an earlier run's list)."""
    table = results_table(rows)
    if storage.exists(INVALID_PART):
        old = pq.read_table(io.BytesIO(storage.read_bytes(INVALID_PART)))
        if old.drop_columns(["finished_at"]).equals(table.drop_columns(["finished_at"])):
            return  # same rejections as last time: write nothing
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    storage.write_bytes(INVALID_PART, buf.getvalue())
