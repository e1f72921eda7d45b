"""Synthesize every row of an utterance manifest with a pool of Ray workers, exactly once.

    python -m jobs.synthesize --manifest s3://b/utts/*.parquet --voices s3://b/bank --model-dir s3://b/model \\
        --out s3://b/runs/2026-01-01 [--format flac] [--workers 8] [--batch-size 16] [--skip-invalid]

Steps: read and validate the manifest (before any GPU is requested) -> take the job lock in OUT -> write the shard
plan once -> run the shards without a completion marker on Ray actors (one model replica each, ``num_gpus=1``, CPU
fallback; dead workers are restarted and their shard retried by Ray) -> compact the parts into
``OUT/results.parquet`` and ``OUT/summary.json``.

Exit codes: 0 every row done; 3 some rows failed (reasons in results.parquet); 2 invalid input (bad manifest rows
without --skip-invalid, unreadable manifest or bank, incomplete model folder, OUT planned for another manifest);
1 fatal (lock held, workers cannot start, storage failure, ...). A rerun of the same command finishes what is
missing and writes nothing when nothing is missing. ``--force`` redoes every row; if a forced run is interrupted,
rerun it with ``--force`` again (a plain rerun keeps the older results of shards the forced run had not reached).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from manifests.common import ManifestError


logger = logging.getLogger("jobs.synthesize")

EXIT_OK, EXIT_FATAL, EXIT_INVALID, EXIT_FAILED_ROWS = 0, 1, 2, 3
MAX_REPORTED_ISSUES = 50


@dataclass(frozen=True)
class SynthesizeJobConfig:
    """Everything one synthesis run needs (built by the CLI, or directly by tests and schedulers)."""

    manifest: str
    voices: str
    model_dir: str
    out: str
    audio_format: str = "wav"
    sample_rate: int | None = None
    workers: int | None = None  # None: one per GPU in the cluster, else 1
    num_gpus: float | None = None  # GPUs per worker; None: 1 when the cluster has GPUs, else 0 (CPU)
    batch_size: int = 8
    rows_per_shard: int = 256
    force: bool = False
    skip_invalid: bool = False
    break_stale_lock: bool = False
    stale_lock_minutes: float = 10.0
    max_task_retries: int = 3
    shard_timeout_minutes: float | None = None  # a shard running longer restarts its worker and is retried
    ray_address: str | None = None
    device: str | None = None
    dtype: str | None = None
    model_cache: str | None = None
    max_new_tokens: int | None = None
    progress: bool | None = None  # None: a tqdm bar when stderr is a terminal, log lines otherwise

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise ValueError(f"num_gpus must be >= 0, got {self.num_gpus}")
        if self.rows_per_shard < 1 or self.batch_size < 1:
            raise ValueError("rows_per_shard and batch_size must be >= 1")
        if self.shard_timeout_minutes is not None and self.shard_timeout_minutes <= 0:
            raise ValueError("shard_timeout_minutes must be > 0")
        if self.stale_lock_minutes <= 1:
            raise ValueError("stale_lock_minutes must be > 1 (the heartbeat beats every 30 s)")


class LockLost(RuntimeError):
    """Another run took over this run's job lock."""


class Progress:
    """Driver-side progress: a tqdm bar on a terminal, else a log line at most every ``every_s`` seconds."""

    def __init__(self, total_rows: int, done_rows: int, n_shards: int, bar: bool, every_s: float = 30.0) -> None:
        self.total, self.done, self.n_shards = total_rows, done_rows, n_shards
        self.shards = self.failed = 0
        self.audio = 0.0
        self.started = self.last_log = time.perf_counter()
        self.every_s = every_s
        self.bar = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total_rows, initial=done_rows, unit="row", dynamic_ncols=True, file=sys.stderr)

    def update(self, outcome: object) -> None:
        n_rows = outcome.n_ok + outcome.n_failed + outcome.n_retryable  # type: ignore[attr-defined]
        self.done += n_rows + outcome.n_skipped  # type: ignore[attr-defined]
        self.failed += outcome.n_failed + outcome.n_retryable  # type: ignore[attr-defined]
        self.audio += outcome.audio_seconds  # type: ignore[attr-defined]
        self.shards += 1
        if self.bar is not None:
            self.bar.update(n_rows + outcome.n_skipped)  # type: ignore[attr-defined]
            self.bar.set_postfix(audio_h=f"{self.audio / 3600:.3f}", failed=self.failed, refresh=False)
        elif time.perf_counter() - self.last_log >= self.every_s or self.shards == self.n_shards:
            self.last_log = time.perf_counter()
            elapsed = self.last_log - self.started
            logger.info(
                "shards %d/%d, rows %d/%d (%.1f rows/s), audio %.3f h, failed %d",
                self.shards,
                self.n_shards,
                self.done,
                self.total,
                self.shards and self.done / max(elapsed, 1e-9),
                self.audio / 3600,
                self.failed,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _report_issues(issues: Sequence, skip: bool) -> None:
    verb = "skipping" if skip else "rejecting the manifest for"
    logger.error("%s %d invalid row(s):", verb, len(issues))
    for issue in issues[:MAX_REPORTED_ISSUES]:
        logger.error("  %s", issue)
    if len(issues) > MAX_REPORTED_ISSUES:
        logger.error("  ... and %d more", len(issues) - MAX_REPORTED_ISSUES)


def _invalid_rows(issues: Sequence) -> list[dict]:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    return [
        {
            "row": i.row,
            "id": i.id if isinstance(i.id, str) else None,
            "status": "failed",
            "error_kind": "invalid_input",
            "error": f"{i.code}: {i.reason}",
            "finished_at": now,
        }
        for i in issues
    ]


def _check_model_dir(url: str) -> None:
    """Fail fast (exit 2) on a model folder that cannot work, before the lock is taken or Ray is started."""
    from pipelines.storage import Storage
    from sovits_core.bundle import find_model_files

    storage = Storage(url)
    if storage.is_local:
        find_model_files(storage.root_path)  # ModelDirError names what is missing
    elif not storage.exists(""):
        raise ManifestError(f"model folder {url} does not exist")


def _stage_config(config: SynthesizeJobConfig, attempt: str):  # -> SynthesisConfig
    from pipelines.synthesis import SynthesisConfig

    extra = {"model_cache": config.model_cache} if config.model_cache else {}
    return SynthesisConfig(
        out=config.out,
        model_dir=config.model_dir,
        voices=config.voices,
        attempt=attempt,
        audio_format=config.audio_format,
        sample_rate=config.sample_rate,
        batch_size=config.batch_size,
        force=config.force,
        device=config.device,
        dtype=config.dtype,
        max_new_tokens=config.max_new_tokens,
        **extra,
    )


def _run_pool(config: SynthesizeJobConfig, plan, pending: list[int], done_rows: int, lock) -> dict[int, str]:
    """Run the pending shards on Ray; return shard -> failure message for shards that did not finish."""
    import ray

    from pipelines.ray_pool import ActorSpec, init_ray, resolve_workers, run_actor_pool
    from pipelines.synthesis import SynthesisStage

    attempt = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    stage_config = _stage_config(config, attempt)  # validates format/rate before Ray starts
    owns_ray = not ray.is_initialized()
    init_ray(config.ray_address)
    try:
        n_workers, num_gpus = resolve_workers(config.workers, config.num_gpus)
        n_workers = min(n_workers, len(pending))
        logger.info("run %s: %d shard(s) on %d worker(s) x %.2g GPU", attempt, len(pending), n_workers, num_gpus)
        bar = config.progress if config.progress is not None else sys.stderr.isatty()
        progress = Progress(plan.n_rows, done_rows, len(pending), bar)

        def on_result(shard: int, outcome: object) -> None:
            if lock.lost.is_set():
                raise LockLost("another run took over the job lock; stopping")
            progress.update(outcome)

        try:
            report = run_actor_pool(
                ActorSpec(SynthesisStage, (stage_config,)),
                pending,
                n_workers=n_workers,
                num_gpus=num_gpus,
                on_result=on_result,
                max_task_retries=config.max_task_retries,
                task_timeout=None if config.shard_timeout_minutes is None else 60.0 * config.shard_timeout_minutes,
            )
        finally:
            progress.close()
    finally:
        if owns_ray:
            ray.shutdown()
    logger.info(
        "pool: %d shard(s) done, %d failed, driver overhead %.3f s",
        report.n_succeeded,
        report.n_failed,
        report.driver_seconds,
    )
    return {pending[f.index]: f"{f.kind}: {f.error}" for f in report.failures}


def _execute(config: SynthesizeJobConfig) -> int:
    from manifests.utterances import validate_utterances
    from pipelines.lock import JobLock
    from pipelines.results import compact, write_invalid
    from pipelines.shards import done_shards, ensure_plan, load_manifest
    from pipelines.storage import get_storage
    from pipelines.voice_bank import VoiceBank

    started = time.perf_counter()
    _check_model_dir(config.model_dir)
    bank = VoiceBank(config.voices)
    runnable, issues = validate_utterances(load_manifest(config.manifest), bank.has)
    if issues:
        _report_issues(issues, config.skip_invalid)
        if not config.skip_invalid:
            return EXIT_INVALID
    if runnable.num_rows == 0 and not issues:
        raise ManifestError(f"manifest {config.manifest} has no rows")
    storage = get_storage(config.out)
    with JobLock(storage, stale_after_s=config.stale_lock_minutes * 60, break_stale=config.break_stale_lock) as lock:
        if issues or storage.exists("_job/invalid.parquet"):
            write_invalid(storage, _invalid_rows(issues))
        plan = ensure_plan(storage, runnable, config.manifest, config.rows_per_shard)
        done = set() if config.force else done_shards(storage)
        pending = [s for s in range(plan.n_shards) if s not in done]
        failures: dict[int, str] = {}
        if pending:
            done_rows = plan.n_rows - sum(
                min(plan.rows_per_shard, plan.n_rows - s * plan.rows_per_shard) for s in pending
            )
            failures = _run_pool(config, plan, pending, done_rows, lock)
        else:
            logger.info("all %d shard(s) already done", plan.n_shards)
        summary = compact(storage, plan, failures, time.perf_counter() - started if pending else 0.0)
    logger.info(
        "rows: %s; failures: %s; audio %.3f h",
        summary["rows_by_status"],
        summary["failures_by_reason"],
        summary["audio_hours"],
    )
    return EXIT_FAILED_ROWS if summary["rows_by_status"]["failed"] else EXIT_OK


def run(config: SynthesizeJobConfig) -> int:
    """Run one synthesis job; return its exit code (see module docstring). Never raises for expected failures."""
    from pipelines.lock import LockHeld
    from pipelines.shards import PlanMismatch
    from pipelines.storage import StorageNotFound
    from pipelines.voice_bank import VoiceBankError
    from sovits_core.bundle import ModelDirError

    try:
        return _execute(config)
    except (ManifestError, PlanMismatch, VoiceBankError, ModelDirError, StorageNotFound) as exc:
        logger.error("invalid input: %s", exc)
        return EXIT_INVALID
    except LockHeld as exc:
        logger.error("%s", exc)
        return EXIT_FATAL
    except Exception:
        logger.exception("synthesis job failed")
        return EXIT_FATAL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jobs.synthesize",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--manifest", required=True, help="utterance manifest: Parquet file, folder or glob (fsspec URL)")
    p.add_argument("--voices", required=True, help="voice bank URL (built by jobs.precompute_voices)")
    p.add_argument("--model-dir", required=True, help="model folder, local or remote (gpt.ckpt, sovits.pth, ...)")
    p.add_argument("--out", required=True, help="output folder URL (audio/, results.parquet, summary.json, _job/)")
    p.add_argument("--format", default="wav", choices=["wav", "flac", "ogg", "mp3"], help="audio file format")
    p.add_argument("--sample-rate", type=int, default=None, help="output sample rate (default: the model's 32000)")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per cluster GPU, else 1)")
    p.add_argument(
        "--num-gpus",
        type=float,
        default=None,
        help="GPUs per worker (default: 1 when the cluster has GPUs, else 0 = CPU)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="rows per model call (voices mixed)")
    p.add_argument("--rows-per-shard", type=int, default=256, help="rows per shard (fixed by the first run)")
    p.add_argument("--force", action="store_true", help="redo every row, even those an earlier run finished")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="run the valid rows and record invalid ones as failed (else exit 2 on any invalid row)",
    )
    p.add_argument(
        "--break-stale-lock",
        action="store_true",
        help="take over a lock whose heartbeat is stale (a dead holder on this host is always taken over)",
    )
    p.add_argument("--stale-lock-minutes", type=float, default=10.0, help="heartbeat age after which a lock is stale")
    p.add_argument("--max-task-retries", type=int, default=3, help="retries of a shard whose worker died")
    p.add_argument("--shard-timeout-minutes", type=float, default=None,
                   help="restart a worker whose shard runs longer than this and retry the shard (default: no limit)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else local Ray)")
    p.add_argument("--device", default=None, help="torch device for the model (default: CUDA if visible, else CPU)")
    p.add_argument("--dtype", default=None, help="model dtype: float32, float16, bfloat16 (default: fp16 on CUDA)")
    p.add_argument("--model-cache", default=None, help="node-local folder for copies of a remote --model-dir")
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="cap on semantic tokens per text segment, 50 per second (default: the model's max_sec)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tqdm progress bar (default: only when stderr is a terminal)",
    )
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def config_from_args(args: argparse.Namespace) -> SynthesizeJobConfig:
    return SynthesizeJobConfig(
        manifest=args.manifest,
        voices=args.voices,
        model_dir=args.model_dir,
        out=args.out,
        audio_format=args.format,
        sample_rate=args.sample_rate,
        workers=args.workers,
        num_gpus=args.num_gpus,
        batch_size=args.batch_size,
        rows_per_shard=args.rows_per_shard,
        force=args.force,
        skip_invalid=args.skip_invalid,
        break_stale_lock=args.break_stale_lock,
        stale_lock_minutes=args.stale_lock_minutes,
        max_task_retries=args.max_task_retries,
        shard_timeout_minutes=args.shard_timeout_minutes,
        ray_address=args.ray_address,
        device=args.device,
        dtype=args.dtype,
        model_cache=args.model_cache,
        max_new_tokens=args.max_new_tokens,
        progress=args.progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        logger.error("invalid arguments: %s", exc)
        return EXIT_INVALID
    return run(config)


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
