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
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from manifests.common import table_to_bytes
from manifests.results import STATUS_FAILED, STATUS_OK, ErrorKind, is_final, now_utc
from pipelines.engine.compaction import latest_per_row, read_parts
from pipelines.engine.errors import classify
from pipelines.engine.mode import STATUS_RETRY, Sink, StageContext, StageSpec
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
        redo_kinds: final error kinds a run redoes anyway (``--retry-qc-failed``: ``qc_failed``).
        redo_rows: input rows a run redoes although they are done (a re-render of chosen segments).
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
    redo_kinds: frozenset[str] = frozenset()
    redo_rows: frozenset[int] = frozenset()


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


class _RowQueue:
    """A shard's rows waiting for a batch: requeued rows (a stage's ``retry`` results) go first, with new rows.

    A stage that returns a row with status ``retry`` gets that row again in a later batch, the plan row extended
    with the stage's ``retry_schema`` columns taken from the result (e.g. the attempt number and what the earlier
    attempts scored); other rows fill the rest of the batch, so retries never run one by one.
    """

    def __init__(self, rows: pa.Table, retry_schema: pa.Schema | None, cost: Any) -> None:
        schema = rows.schema
        for extra in retry_schema or []:
            schema = schema.append(extra.with_nullable(True))
        self.schema, self.retry_names = schema, [f.name for f in retry_schema or []]
        self.fresh = deque(rows.to_pylist())
        self.again: deque[dict[str, Any]] = deque()
        self.plan_names = rows.column_names
        self.cost = cost

    def batches(self, budget: int) -> Iterator[pa.Table]:
        while self.again or self.fresh:
            batch, total = [], 0
            for source in (self.again, self.fresh):
                while source and (not batch or total + self.cost(source[0]) <= budget):
                    total += self.cost(source[0])
                    batch.append(source.popleft())
            yield pa.Table.from_pylist([{n: r.get(n) for n in self.schema.names} for r in batch], schema=self.schema)

    def requeue(self, batch: pa.Table, results: pa.Table) -> pa.Table:
        """Queue the rows the stage asked to retry; return the final rows (without the carried columns)."""
        retry = pc.equal(results.column("status"), STATUS_RETRY)
        if pc.any(retry).as_py():
            plan_rows = {r["row"]: r for r in batch.select(self.plan_names).to_pylist()}
            for result in results.filter(retry).select(["row", *self.retry_names]).to_pylist():
                self.again.append({**plan_rows[result["row"]], **result})
        final = results.filter(pc.invert(retry))
        return final.drop_columns([n for n in final.column_names if n in self.retry_names])


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
        finished, redo = self._finished_rows(shard)
        todo = rows.filter(pc.invert(pc.is_in(rows.column("row"), pa.array(sorted(finished), pa.int64()))))
        outcome.n_rows, outcome.n_skipped = rows.num_rows, rows.num_rows - todo.num_rows
        queue = _RowQueue(todo, getattr(self.stage, "retry_schema", None), self._cost)
        resume = getattr(self.stage, "resume", None)
        if redo and resume is not None:  # rows redone on request carry what their earlier results say
            queue.fresh = deque(resume(r, redo[r["row"]]) if r["row"] in redo else r for r in queue.fresh)
        budget = max(1, int(getattr(self.stage, "batch_budget", 1)))
        for seq, batch in enumerate(queue.batches(budget)):
            results = self.run_batch(batch, shard)
            final = queue.requeue(batch, results)
            if final.num_rows:
                first = final.column("row")[0].as_py()
                self.storage.write_bytes(part_path(shard, self.spec.attempt, first, seq), table_to_bytes(final))
                self._count(outcome, final)
        outcome.complete = outcome.n_retryable == 0
        outcome.wall_seconds = time.perf_counter() - started
        outcome.finished_at = time.time()
        if outcome.complete:
            mark_done(self.storage, shard, outcome.to_dict())
        return outcome

    def _finished_rows(self, shard: int) -> tuple[set[int], dict[int, dict[str, Any]]]:
        """Input rows of ``shard`` with a final result in an existing part, and the latest results of the rows of
        ``redo_kinds`` or ``redo_rows`` (done, but redone on request)."""
        table = latest_per_row(read_parts(self.storage, list_parts(self.storage, shard), self.spec.result_schema))
        finished, redo = set(), {}
        for result in table.to_pylist():
            if result["error_kind"] in self.spec.redo_kinds or result["row"] in self.spec.redo_rows:
                redo[result["row"]] = result
            elif is_final(result["status"], result["error_kind"]):
                finished.add(result["row"])
        return finished, redo

    def _cost(self, row: dict[str, Any]) -> int:
        cost_of = getattr(self.stage, "batch_cost", None)
        return int(cost_of(row)) if cost_of is not None else 1

    def _batches(self, table: pa.Table) -> Iterator[pa.Table]:
        """Consecutive batches whose ``batch_cost`` adds up to at most ``batch_budget`` (a costlier row goes alone)."""
        yield from _RowQueue(table, None, self._cost).batches(max(1, int(getattr(self.stage, "batch_budget", 1))))

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
        extra = [name for name in results.column_names if name not in self.spec.result_schema.names]
        table = results.select(self.spec.result_schema.names).cast(self.spec.result_schema)
        for name in extra:  # the columns a requeued row carries into its next attempt
            table = table.append_column(name, results.column(name))
        return table

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
