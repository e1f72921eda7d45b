"""The worker side of the engine: one :class:`ShardWorker` per pool actor runs shards of any mode's stage.

For each shard it

1. returns the recorded outcome if the shard already has a completion marker (a task Ray re-ran);
2. reads the shard's rows from the plan and skips rows an earlier attempt finished for good (``ok`` or a final
   failure in an existing part);
3. packs the rest into batches (the stage's ``batch_cost`` / ``batch_budget``) and calls the stage on each; a batch
   that raises an environment failure (:func:`pipelines.engine.errors.classify`) is retried — split in halves first
   when it ran out of memory — and rows that still fail end as failed rows with that retryable kind; any other
   exception propagates (a bug);
4. writes each batch's result part (after the stage wrote the batch's outputs) and reports progress;
5. writes the shard's completion marker once every row has a final result.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from manifests.common import table_to_bytes
from manifests.results import STATUS_FAILED, STATUS_OK, ErrorKind, is_final, now_utc
from pipelines.engine.compaction import read_parts
from pipelines.engine.errors import classify
from pipelines.engine.mode import Sink, StageContext, StageSpec
from pipelines.engine.plan import JOB_DIR, list_parts, mark_done, part_path, read_marker, read_shard
from pipelines.engine.shard_log import shard_log, shard_log_path
from pipelines.storage import get_storage


logger = logging.getLogger(__name__)

RETRY_BACKOFF_S = 0.5


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a pool worker needs (pickled to every actor).

    Attributes:
        out: the job's output folder URL.
        attempt: this run's id (stamped on rows, part names and logs).
        stage: how to build the mode's stage.
        result_schema: the mode's result schema.
        model_time_columns: result columns that add up to model seconds.
        batch_retries: retries of a batch that failed for an environment reason.
        progress: where to report rows as batches finish: the name of a Ray actor (pool runs), an object with
            ``add`` (runs in the driver process), or None.
    """

    out: str
    attempt: str
    stage: StageSpec
    result_schema: pa.Schema
    model_time_columns: tuple[str, ...] = ()
    batch_retries: int = 2
    progress: Any = None


@dataclass
class ShardOutcome:
    """Counters of one shard task, returned to the driver (small: no audio, no rows)."""

    shard: int
    n_rows: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_retryable: int = 0  # rows left for a later run
    n_skipped: int = 0  # rows an earlier attempt had finished
    audio_seconds: float = 0.0
    model_seconds: float = 0.0
    wall_seconds: float = 0.0  # whole task, including reads, encoding and writes
    started_at: float = 0.0  # epoch seconds: task start / end on the worker (for utilisation figures)
    finished_at: float = 0.0
    worker: str = ""
    attempt: str = ""
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_marker(cls, marker: dict[str, Any]) -> ShardOutcome:
        return cls(**{k: v for k, v in marker.items() if k in cls.__dataclass_fields__})


def _progress_target(target: Any) -> Any:
    """A progress board: a named Ray actor is looked up (by name, so no actor handle travels in the spec)."""
    if isinstance(target, str):
        import ray

        try:
            return ray.get_actor(target)
        except ValueError:  # the driver's board is gone (the run is ending): progress is only a display
            return None
    return target


def report_progress(target: Any, n_rows: int, n_failed: int, audio_seconds: float) -> None:
    """Send a progress increment to a Ray actor handle (fire and forget) or a local object."""
    if target is None:
        return
    add = target.add
    if hasattr(add, "remote"):
        add.remote(n_rows, n_failed, audio_seconds)
    else:
        add(n_rows, n_failed, audio_seconds)


class ShardWorker:
    """Builds a mode's stage once; ``worker(shard)`` processes one shard (see the module docstring)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.storage = get_storage(spec.out)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        context = StageContext(self.storage, Sink(self.storage), self.worker, spec.attempt)
        self.stage = spec.stage.cls(spec.stage.config, context)
        self.progress = _progress_target(spec.progress)

    def __call__(self, shard: int) -> ShardOutcome:
        marker = read_marker(self.storage, shard)
        if marker is not None:
            return ShardOutcome.from_marker(marker)
        with shard_log(self.storage, shard_log_path(JOB_DIR, shard, self.spec.attempt)):
            logger.info("shard %05d: attempt %s on %s", shard, self.spec.attempt, self.worker)
            outcome = self._run_shard(shard)
            logger.info("shard %05d: %s", shard, outcome.to_dict())
        return outcome

    # ------------------------------------------------------------------------------------------------ one shard
    def _run_shard(self, shard: int) -> ShardOutcome:
        started = time.perf_counter()
        outcome = ShardOutcome(shard, worker=self.worker, attempt=self.spec.attempt, started_at=time.time())
        rows = read_shard(self.storage, shard)
        finished = self._finished_rows(shard)
        todo = rows.filter(pc.invert(pc.is_in(rows.column("row"), pa.array(sorted(finished), pa.int64()))))
        outcome.n_rows, outcome.n_skipped = rows.num_rows, rows.num_rows - todo.num_rows
        for batch in self._batches(todo):
            results = self.run_batch(batch, shard)
            self.storage.write_bytes(part_path(shard, self.spec.attempt, batch.column("row")[0].as_py()),
                                     table_to_bytes(results))  # fmt: skip
            self._count(outcome, results)
        outcome.complete = outcome.n_retryable == 0
        outcome.wall_seconds = time.perf_counter() - started
        outcome.finished_at = time.time()
        if outcome.complete:
            mark_done(self.storage, shard, outcome.to_dict())
        return outcome

    def _finished_rows(self, shard: int) -> set[int]:
        """Input rows of ``shard`` with a final result in an existing part."""
        table = read_parts(self.storage, list_parts(self.storage, shard), self.spec.result_schema)
        columns = (table.column(c).to_pylist() for c in ("row", "status", "error_kind"))
        return {row for row, status, kind in zip(*columns, strict=True) if is_final(status, kind)}

    def _batches(self, table: pa.Table) -> Iterator[pa.Table]:
        """Consecutive batches whose ``batch_cost`` adds up to at most ``batch_budget`` (a costlier row goes alone)."""
        cost_of = getattr(self.stage, "batch_cost", None)
        budget = max(1, int(getattr(self.stage, "batch_budget", 1)))
        costs = [cost_of(row) for row in table.to_pylist()] if cost_of else [1] * table.num_rows
        start, total = 0, 0
        for i, cost in enumerate(costs):
            if i > start and total + cost > budget:
                yield table.slice(start, i - start)
                start, total = i, 0
            total += cost
        if start < table.num_rows:
            yield table.slice(start)

    # ------------------------------------------------------------------------------------------------ one batch
    def run_batch(self, batch: pa.Table, shard: int, tries: int = 0) -> pa.Table:
        """Result rows of ``batch``: the stage's, or failed rows of a retryable kind after the retries."""
        try:
            results = self.stage(batch)
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            return self._retry(batch, shard, tries, kind, exc)
        return self._stamp(self._check(batch, results), shard)

    def _retry(self, batch: pa.Table, shard: int, tries: int, kind: ErrorKind, exc: Exception) -> pa.Table:
        first = batch.column("row")[0].as_py()
        logger.warning("batch of %d row(s) from row %d failed (%s): %s: %s", batch.num_rows, first, kind.value,
                       type(exc).__name__, exc)  # fmt: skip
        recover = getattr(self.stage, "recover", None)
        if recover is not None:
            recover(kind)
        if kind is ErrorKind.OUT_OF_MEMORY and batch.num_rows > 1:
            half = batch.num_rows // 2
            parts = [
                self.run_batch(batch.slice(0, half), shard, tries),
                self.run_batch(batch.slice(half), shard, tries),
            ]
            return pa.concat_tables(parts)
        if tries < self.spec.batch_retries:
            time.sleep(RETRY_BACKOFF_S * 2**tries)
            return self.run_batch(batch, shard, tries + 1)
        message = f"{type(exc).__name__}: {exc} (after {tries + 1} tries; a rerun retries this row)"
        return self._stamp(self._failed(batch, kind, message), shard)

    def _failed(self, batch: pa.Table, kind: ErrorKind, message: str) -> pa.Table:
        schema = self.spec.result_schema
        carried = [name for name in batch.column_names if name in schema.names]
        now = now_utc()
        rows = [
            {**row, "status": STATUS_FAILED, "error_kind": kind.value, "error": message, "finished_at": now}
            for row in batch.select(carried).to_pylist()
        ]
        return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)

    def _check(self, batch: pa.Table, results: pa.Table) -> pa.Table:
        if sorted(results.column("row").to_pylist()) != sorted(batch.column("row").to_pylist()):
            raise RuntimeError(f"{type(self.stage).__name__} must return exactly one result row per input row")
        return results.select(self.spec.result_schema.names).cast(self.spec.result_schema)

    def _stamp(self, results: pa.Table, shard: int) -> pa.Table:
        n = results.num_rows
        stamps = {
            "shard": pa.array([shard] * n, pa.int64()),
            "attempt": pa.array([self.spec.attempt] * n, pa.string()),
            "worker": pa.array([self.worker] * n, pa.string()),
        }
        for name, values in stamps.items():
            results = results.set_column(results.schema.get_field_index(name), name, values)
        finished = results.column("finished_at")
        if finished.null_count:
            index = results.schema.get_field_index("finished_at")
            filled = pc.fill_null(finished, pa.scalar(now_utc(), finished.type))
            results = results.set_column(index, results.schema.field(index), filled)
        return results

    def _count(self, outcome: ShardOutcome, results: pa.Table) -> None:
        n_failed = audio = 0.0
        names = results.column_names
        durations = results.column("duration").to_pylist() if "duration" in names else [None] * results.num_rows
        columns = (results.column(c).to_pylist() for c in ("status", "error_kind"))
        for (status, kind), duration in zip(zip(*columns, strict=True), durations, strict=True):
            if status == STATUS_OK:
                outcome.n_ok += 1
                audio += duration or 0.0
            elif is_final(status, kind):
                outcome.n_failed += 1
                n_failed += 1
            else:
                outcome.n_retryable += 1
                n_failed += 1
        outcome.audio_seconds += audio
        for name in self.spec.model_time_columns:
            outcome.model_seconds += float(pc.sum(results.column(name)).as_py() or 0.0)
        report_progress(self.progress, results.num_rows, int(n_failed), audio)
