"""``run_sharded_job(mode, engine)``: the one driver every mode runs on.

Steps: the mode's driver checks and input (before the lock, before any GPU: bad input exits 2) -> the job lock in
OUT -> ``--force`` starts the folder over -> the shard plan (written once; a mode whose rows change from run to run
gets a new plan after what the old one finished is merged) -> the settings fingerprint (a rerun with other
output-changing settings is refused) -> the shards without a completion marker run on the pool (Ray actors, or in
this process with ``--workers 0``) while progress is shown -> compaction into ``results.parquet`` and
``summary.json`` -> the mode's finisher -> the exit code.

Exit codes: 0 every row done; 3 some rows failed (``summary.json`` says which kind); 2 invalid input or arguments;
1 fatal (lock held, pool could not start, storage failure, a bug); 130 / 143 stopped by SIGINT / SIGTERM (the lock
is released; rerun the same command to resume). Every expected failure is one log line, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq

from manifests.results import ErrorKind
from pipelines.engine.compaction import (
    EXIT_FATAL,
    EXIT_INVALID,
    CompactionSpec,
    Failure,
    compact,
    write_invalid,
)
from pipelines.engine.config import EngineConfig
from pipelines.engine.errors import InputError, input_error_types
from pipelines.engine.lock import JobLock, LockHeld
from pipelines.engine.mode import Mode, Prepared
from pipelines.engine.plan import (
    INVALID_PART,
    RESULTS_FILE,
    PlanMismatch,
    ShardPlan,
    check_settings,
    done_path,
    done_shards,
    list_all_parts,
    mismatch_message,
    plan_matches,
    read_plan,
    reset_job,
    write_plan,
)
from pipelines.engine.pool import PoolStartError
from pipelines.engine.progress import Progress, ProgressBoard
from pipelines.engine.worker import ShardOutcome, ShardWorker, WorkerSpec
from pipelines.storage import Storage, StorageError, get_storage


logger = logging.getLogger(__name__)

_PER_PROCESS_PROTOCOLS = ("memory://",)


class JobInterrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds the driver (releasing the lock) to exit with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class LockLost(RuntimeError):
    """Another run took over this run's job lock."""


def _interrupt(signum: int, frame: Any) -> None:
    raise JobInterrupted(signum)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def restore_signal_handlers() -> None:
    """Put the driver's SIGINT / SIGTERM handlers back (after a library replaced them); main thread only."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not None:
        for sig in _STOP_SIGNALS:
            if signal.getsignal(sig) is not _interrupt and _active:
                signal.signal(sig, _interrupt)


_active: list[bool] = []


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT / SIGTERM into :class:`JobInterrupted` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in _STOP_SIGNALS}
    _active.append(True)
    try:
        yield
    finally:
        _active.pop()
        for sig, old in previous.items():
            signal.signal(sig, old)


def require_shared(url: str, flag: str, in_process: bool) -> None:
    """Refuse a per-process URL (``memory://``) when the pool's workers run in other processes."""
    if not in_process and url.startswith(_PER_PROCESS_PROTOCOLS):
        raise InputError(
            f"{flag} {url}: memory:// storage exists only inside one process and the pool's workers run in other "
            "processes; use a local folder or an object store, or --workers 0 to run in this process"
        )


def new_attempt() -> str:
    """A run id: UTC time plus a random suffix (sorts by start time)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def run_sharded_job(mode: Mode, engine: EngineConfig) -> int:
    """Run ``mode``'s job on the engine; return its exit code (see the module docstring). Never raises."""
    try:
        with stop_on_signals():
            return _run(mode, engine)
    except JobInterrupted as exc:
        logger.error("stopped by %s; the lock is released. Rerun the same command to resume.", exc)
        return 128 + exc.signum
    except (*input_error_types(), *mode.input_errors) as exc:
        logger.error("invalid input: %s", exc)
        return EXIT_INVALID
    except (LockHeld, LockLost, PoolStartError) as exc:
        logger.error("%s", exc)
        return EXIT_FATAL
    except StorageError as exc:
        logger.error("storage failure: %s", exc)
        return EXIT_FATAL
    except Exception:
        logger.exception("%s job failed", mode.name)
        return EXIT_FATAL


def _compaction_spec(mode: Mode) -> CompactionSpec:
    return CompactionSpec(mode.result_schema, mode.name, mode.model_time_columns, mode.summary_addons())


def _reopen(storage: Storage, kinds: frozenset[str], rows: frozenset[int]) -> None:
    """Remove the completion markers of shards whose results hold rows of ``kinds`` or ``rows`` (redone on request)."""
    if not (kinds or rows) or not storage.exists(RESULTS_FILE):
        return
    with storage.open(RESULTS_FILE, "rb") as fh:
        table = pq.read_table(fh, columns=["row", "shard", "error_kind"])
    columns = (table.column(c).to_pylist() for c in ("row", "shard", "error_kind"))
    shards = {s for r, s, k in zip(*columns, strict=True) if s is not None and (k in kinds or r in rows)}
    for shard in sorted(shards):
        storage.delete(done_path(shard), missing_ok=True)
    if shards:
        logger.info("redoing %s in %d shard(s)", "/".join(sorted(kinds)) or f"{len(rows)} chosen row(s)", len(shards))


def _run(mode: Mode, engine: EngineConfig) -> int:
    started = time.perf_counter()
    require_shared(engine.out, "--out", engine.in_process)
    mode.check(engine.in_process)
    prepared = mode.prepare()
    if prepared.idle_exit is not None:
        return prepared.idle_exit
    storage = get_storage(engine.out)
    with JobLock(storage, stale_after_s=engine.stale_lock_minutes * 60, break_stale=engine.break_stale_lock) as lock:
        plan, prepared = _ready_plan(storage, mode, engine, prepared)
        if plan is None:  # the rows changed and, once merged, nothing is left to do
            return int(prepared.idle_exit or 0)
        _reopen(storage, mode.redo_kinds(), mode.redo_rows())
        pending = sorted(set(range(plan.n_shards)) - done_shards(storage))
        failures: dict[int, Failure] = {}
        if pending:
            failures = _execute(mode, engine, storage, plan, pending, lock)
        else:
            logger.info("all %d shard(s) already done", plan.n_shards)
        run_seconds = time.perf_counter() - started if pending else 0.0
        summary, changed = compact(storage, plan, failures, run_seconds, _compaction_spec(mode))
        summary = mode.finish(storage, summary) or summary
        _report(storage, summary, changed)
    logger.info(
        "%s: rows %s; failures %s; audio %.3f h; status %s",
        mode.name,
        summary["rows_by_status"],
        summary["failures_by_reason"],
        summary["audio_hours"],
        summary["status"],
    )
    return mode.exit_code(summary)


def _report(storage: Storage, summary: dict[str, Any], changed: bool) -> None:
    """Write ``report.html`` when the results changed (or it is missing)."""
    from pipelines.report import REPORT_FILE, write_report  # matplotlib: imported only when a report is made

    if changed or not storage.exists(REPORT_FILE):
        write_report(storage, summary)


def _ready_plan(
    storage: Storage, mode: Mode, engine: EngineConfig, prepared: Prepared
) -> tuple[ShardPlan | None, Prepared]:
    """Under the lock: start over (--force), load or write the plan, check the settings, store rejected rows."""
    if engine.force:
        logger.warning("--force: removing the earlier outputs of %s", storage.url())
        reset_job(storage, mode.output_prefixes)
    plan = read_plan(storage)
    # A mode whose rows change from run to run plans afresh once the old plan is finished or stale; others refuse.
    renew = plan is not None and mode.replan and len(done_shards(storage)) >= plan.n_shards
    if plan is not None and (renew or not plan_matches(plan, prepared.rows)):
        if not mode.replan:
            raise PlanMismatch(mismatch_message(storage, plan, prepared.rows, prepared.source))
        if list_all_parts(storage):  # merge what the old plan finished before planning afresh
            mode.finish(storage, compact(storage, plan, {}, 0.0, _compaction_spec(mode))[0])
            prepared = mode.prepare()
        reset_job(storage)
        if prepared.idle_exit is not None:
            return None, prepared
        plan = None
    if plan is None:
        plan = write_plan(storage, prepared.rows, prepared.source, engine.rows_per_shard)
    elif plan.rows_per_shard != engine.rows_per_shard:
        logger.info("keeping the existing plan's %d rows per shard", plan.rows_per_shard)
    check_settings(storage, mode.settings(), accept=mode.accept_settings)
    invalid = prepared.invalid
    if invalid is not None and (invalid.num_rows or storage.exists(INVALID_PART)):
        write_invalid(storage, invalid)
    return plan, prepared


def _execute(
    mode: Mode, engine: EngineConfig, storage: Storage, plan: ShardPlan, pending: list[int], lock: JobLock
) -> dict[int, Failure]:
    """Run the pending shards; return shard -> failure for shards whose task did not finish."""
    attempt = new_attempt()
    done_rows = plan.n_rows - sum(plan.shard_rows(s) for s in pending)
    bar = engine.progress if engine.progress is not None else sys.stderr.isatty()
    audio = "duration" in mode.result_schema.names
    progress = Progress(mode.name, plan.n_rows, done_rows, bar, engine.progress_seconds, audio=audio)
    spec = WorkerSpec(
        out=engine.out,
        attempt=attempt,
        stage=mode.stage(attempt),
        result_schema=mode.result_schema,
        model_time_columns=mode.model_time_columns,
        batch_retries=engine.batch_retries,
        redo_kinds=mode.redo_kinds(),
        redo_rows=mode.redo_rows(),
    )
    logger.info("run %s: %d of %d shard(s) to do", attempt, len(pending), plan.n_shards)
    try:
        if engine.in_process:
            return _run_here(mode, storage, spec, pending, progress, lock)
        return _run_pool(mode, storage, engine, spec, pending, progress, lock)
    finally:
        progress.close()


def _check_lock(lock: JobLock) -> None:
    if lock.lost.is_set():
        raise LockLost("another run took over the job lock; stopping")


def _run_here(
    mode: Mode, storage: Storage, spec: WorkerSpec, pending: list[int], progress: Progress, lock: JobLock
) -> dict[int, Failure]:
    board = ProgressBoard()
    worker = ShardWorker(_with_progress(spec, board))
    for shard in pending:
        _check_lock(lock)
        worker(shard)
        progress.update(*board.snapshot())
        mode.shard_done(storage, shard)
    mode.pool_done(storage)
    return {}


def _with_progress(spec: WorkerSpec, target: Any) -> WorkerSpec:
    return dataclasses.replace(spec, progress=target)


def _run_pool(
    mode: Mode,
    storage: Storage,
    engine: EngineConfig,
    spec: WorkerSpec,
    pending: list[int],
    progress: Progress,
    lock: JobLock,
) -> dict[int, Failure]:
    import ray

    from pipelines.engine.pool import ActorSpec, init_ray, resolve_workers, run_actor_pool

    owns_ray = not ray.is_initialized()
    init_ray(engine.ray_address)
    restore_signal_handlers()  # ray.init installs its own SIGTERM handler in the driver
    try:
        n_workers, num_gpus = resolve_workers(engine.workers, engine.num_gpus)
        n_workers = min(n_workers, len(pending))
        board_name = f"sovits-progress-{spec.attempt}"
        board = ray.remote(ProgressBoard).options(name=board_name, num_cpus=0).remote()
        logger.info("pool: %d worker(s) x %g GPU", n_workers, num_gpus)

        def poll() -> None:
            _check_lock(lock)
            with contextlib.suppress(ray.exceptions.RayError):
                progress.update(*ray.get(board.snapshot.remote(), timeout=10))

        def on_result(shard: int, outcome: ShardOutcome) -> None:
            poll()
            mode.shard_done(storage, shard)

        timeout = engine.shard_timeout_minutes
        report = run_actor_pool(
            ActorSpec(ShardWorker, (_with_progress(spec, board_name),)),
            pending,
            n_workers=n_workers,
            num_gpus=num_gpus,
            on_result=on_result,
            max_task_retries=engine.max_task_retries,
            task_timeout=None if timeout is None else 60.0 * timeout,
            start_timeout=engine.pool_start_timeout,
            on_tick=poll,
        )
        poll()
        mode.pool_done(storage)
    finally:
        if owns_ray:
            ray.shutdown()
    kinds = {"worker_lost": ErrorKind.WORKER_LOST, "task_error": ErrorKind.INTERNAL_ERROR}
    return {
        pending[f.index]: Failure(kinds[f.kind], f"shard task failed: {f.kind}: {f.error}") for f in report.failures
    }
