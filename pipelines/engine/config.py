"""The engine's own settings (every job has them): output folder, pool size, shard size, lock, retries, progress."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.engine.flags import ConfigError, check, setting


@dataclass(frozen=True)
class EngineConfig:
    """How a sharded job runs (not what it computes: that is the mode's stage config)."""

    out: str = setting(help="output folder URL (results.parquet, summary.json, report, _job/ bookkeeping)")
    workers: int | None = setting(
        None, help="pool workers (default: one per cluster GPU, else 1); 0 runs in this process, without Ray"
    )
    num_gpus: float | None = setting(None, help="GPUs per worker (default: 1 when the cluster has GPUs, else 0 = CPU)")
    rows_per_shard: int = setting(256, help="rows per shard (fixed by the first run of a job)")
    force: bool = setting(False, help="redo every row: removes this job's earlier outputs first")
    break_stale_lock: bool = setting(
        False,
        help="take over a lock whose heartbeat is stale or whose file is unreadable "
        "(a dead holder on this host is always taken over)",
    )
    stale_lock_minutes: float = setting(10.0, help="heartbeat age after which a lock is stale")
    max_task_retries: int = setting(3, help="retries of a shard whose worker died")
    shard_timeout_minutes: float | None = setting(
        None, help="restart a worker whose shard runs longer than this and retry the shard (default: no limit)"
    )
    pool_start_timeout: float = setting(
        300.0, help="seconds to wait for the pool's workers to start (GPUs/CPUs granted, model loaded)"
    )
    batch_retries: int = setting(
        2, help="retries of a batch that failed for an environment reason (out of memory: split in halves first)"
    )
    ray_address: str | None = setting(None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    progress: bool | None = setting(None, help="progress bar (default: only when stderr is a terminal)")
    progress_seconds: float = setting(30.0, help="seconds between progress log lines (without a bar)")

    def __post_init__(self) -> None:
        cls = type(self)
        if not self.out:
            raise ConfigError("--out: an output folder is required")
        if self.workers is not None:
            check(self.workers >= 0, cls, "workers", self.workers, "must be >= 0")
        if self.num_gpus is not None:
            check(self.num_gpus >= 0, cls, "num_gpus", self.num_gpus, "must be >= 0")
        check(1 <= self.rows_per_shard <= 1_000_000, cls, "rows_per_shard", self.rows_per_shard, "must be in [1, 1e6]")
        check(self.stale_lock_minutes > 1, cls, "stale_lock_minutes", self.stale_lock_minutes,
              "must be > 1 (the heartbeat beats every 30 s)")  # fmt: skip
        check(self.max_task_retries >= 0, cls, "max_task_retries", self.max_task_retries, "must be >= 0")
        check(self.batch_retries >= 0, cls, "batch_retries", self.batch_retries, "must be >= 0")
        if self.shard_timeout_minutes is not None:
            check(
                self.shard_timeout_minutes > 0, cls, "shard_timeout_minutes", self.shard_timeout_minutes, "must be > 0"
            )
        check(self.pool_start_timeout > 0, cls, "pool_start_timeout", self.pool_start_timeout, "must be > 0")
        check(self.progress_seconds > 0, cls, "progress_seconds", self.progress_seconds, "must be > 0")

    @property
    def in_process(self) -> bool:
        """True when shards run in this process (``--workers 0``), without Ray."""
        return self.workers == 0
