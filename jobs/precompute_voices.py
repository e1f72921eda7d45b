"""Build or refresh a voice bank: ``python -m jobs.precompute_voices --voices M --model-dir D --out BANK``.

Steps: read and validate the voices manifest (no model is loaded for an invalid one) -> fingerprint the model folder
and every voice's clips -> skip voices whose fingerprint matches the bank index -> compute the rest on Ray actors
(one per GPU, each loading the model once; CPU actors without GPUs) -> write ``voices/{voice_id}.safetensors`` and
an atomically replaced ``index.parquet``. A run with nothing to do writes nothing.

Exit codes: 0 every voice ok, 3 some voices failed (see the index's ``error`` column), 2 invalid manifest,
1 fatal error (model folder, storage, bank locked...).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from typing import Any

from manifests.bank import STATUS_ERROR, VOICES_DIR, voice_file
from manifests.common import ManifestError
from manifests.voices import VoiceSpec, read_voices_bytes, voices_from_table
from pipelines.lock import JobLock
from pipelines.precompute import (
    PrecomputeStage,
    PrecomputeStageConfig,
    VoiceTask,
    default_cache_dir,
    error_row,
    local_model_dir,
    model_fingerprint,
    plan_precompute,
)
from pipelines.storage import Storage, StorageError, StorageNotFound, get_storage, split_url
from pipelines.voice_bank import read_index, write_index
from sovits_core.bundle import ModelDirError


logger = logging.getLogger("jobs.precompute_voices")

EXIT_OK, EXIT_FATAL, EXIT_INVALID, EXIT_PARTIAL = 0, 1, 2, 3


@dataclass(frozen=True)
class PrecomputeConfig:
    """Everything one run needs (built by the CLI or by callers such as tests and cron wrappers)."""

    voices: str
    model_dir: str
    out: str
    workers: int | None = None  # None: one per GPU (1 on CPU); 0: in this process, without Ray
    num_gpus: float | None = None  # per worker; None: 1 when the cluster has GPUs, else 0
    force: bool = False
    prune: bool = False
    cache_dir: str = ""
    device: str | None = None
    dtype: str | None = None
    ray_address: str | None = None
    checkpoint_seconds: float = 60.0
    break_stale_lock: bool = False

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise ValueError(f"num_gpus must be >= 0, got {self.num_gpus}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jobs.precompute_voices",
        description="Compute speaker features for every voice of a manifest into a voice bank (once per voice).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--voices", required=True, help="voices manifest (Parquet, CSV or JSONL; local path or URL)")
    p.add_argument("--model-dir", required=True, help="model folder (gpt.ckpt, sovits.pth, ...); local path or URL")
    p.add_argument("--out", required=True, help="voice bank root (local path or URL, e.g. s3://bucket/bank)")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per GPU, 1 on CPU; 0: no Ray)")
    p.add_argument("--num-gpus", type=float, default=None, help="GPUs per actor (default: 1 if the cluster has any)")
    p.add_argument("--force", action="store_true", help="recompute every voice even when up to date")
    p.add_argument("--prune", action="store_true", help="drop voices that are not in this manifest from the bank")
    p.add_argument("--cache-dir", default=default_cache_dir(), help="node-local cache for remote model folders")
    p.add_argument("--device", default=None, help="torch device for the model (default: CUDA when available)")
    p.add_argument("--dtype", default=None, help="float32 / float16 / bfloat16 (default: fp16 on CUDA, else fp32)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or local Ray)")
    p.add_argument("--checkpoint-seconds", type=float, default=60.0, help="rewrite the index at most this often")
    p.add_argument(
        "--break-stale-lock", action="store_true", help="take over the bank's lock from a run that stopped beating"
    )
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def parse_args(argv: list[str] | None = None) -> tuple[PrecomputeConfig, str]:
    """(config, log level) from command-line arguments."""
    a = build_parser().parse_args(argv)
    config = PrecomputeConfig(
        voices=a.voices, model_dir=a.model_dir, out=a.out, workers=a.workers, num_gpus=a.num_gpus, force=a.force,
        prune=a.prune, cache_dir=a.cache_dir, device=a.device, dtype=a.dtype, ray_address=a.ray_address,
        checkpoint_seconds=a.checkpoint_seconds, break_stale_lock=a.break_stale_lock,
    )  # fmt: skip
    return config, a.log_level


def load_voices(url: str) -> tuple[list[VoiceSpec], str]:
    """Validated voices of the manifest at `url` and the folder its relative clip paths resolve against.

    Raises:
        ManifestError: unreadable or invalid manifest (every issue listed).
    """
    folder, name = split_url(url)
    try:
        data = Storage(folder).read_bytes(name)
    except StorageError as exc:
        raise ManifestError(f"cannot read voices manifest {url}: {exc}") from exc
    return voices_from_table(read_voices_bytes(data, name)), folder


def _exit_code(rows: list[dict[str, Any]], voice_ids: set[str]) -> int:
    failed = sorted(r["voice_id"] for r in rows if r["voice_id"] in voice_ids and r["status"] == STATUS_ERROR)
    if failed:
        logger.warning("%d voice(s) failed: %s", len(failed), ", ".join(failed[:20]))
        return EXIT_PARTIAL
    return EXIT_OK


class _IndexWriter:
    """Collects result rows and rewrites the index now and then, so a crashed run keeps what it finished."""

    def __init__(self, bank: Storage, base_rows: list[dict[str, Any]], every_s: float) -> None:
        self.bank, self.every_s = bank, every_s
        self.rows = {row["voice_id"]: row for row in base_rows}
        self.last_write = time.monotonic()
        self.n_new = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["voice_id"]] = row
        self.n_new += 1
        if time.monotonic() - self.last_write >= self.every_s:
            self.flush()

    def flush(self) -> list[dict[str, Any]]:
        rows = list(self.rows.values())
        write_index(self.bank, rows)
        self.last_write = time.monotonic()
        return rows


def _compute(config: PrecomputeConfig, tasks: list[VoiceTask], writer: _IndexWriter, model_fp: str) -> None:
    """Run the tasks in this process (workers == 0) or on a Ray actor pool; every task ends as an index row."""
    stage_config = PrecomputeStageConfig(
        model_dir=config.model_dir, bank_url=config.out, cache_dir=config.cache_dir, device=config.device,
        dtype=config.dtype,
    )  # fmt: skip
    if config.workers == 0:
        stage = PrecomputeStage(stage_config)
        for task in tasks:
            writer.add(stage(task))
        return
    from pipelines.ray_pool import ActorSpec, init_ray, resolve_workers, run_actor_pool

    init_ray(config.ray_address)
    n_workers, num_gpus = resolve_workers(config.workers, config.num_gpus)
    n_workers = min(n_workers, len(tasks))
    logger.info("computing %d voice(s) on %d worker(s) x %g GPU", len(tasks), n_workers, num_gpus)
    report = run_actor_pool(
        ActorSpec(PrecomputeStage, (stage_config,)),
        tasks,
        n_workers=n_workers,
        num_gpus=num_gpus,
        on_result=lambda task, row: writer.add(row),
    )
    for failure in report.failures:
        voice = tasks[failure.index].voice
        writer.add(error_row(voice, f"worker failure ({failure.kind}): {failure.error}", None, model_fp))


def _prune(bank: Storage, rows: list[dict[str, Any]], keep: set[str]) -> list[dict[str, Any]]:
    dropped = [row["voice_id"] for row in rows if row["voice_id"] not in keep]
    for voice_id in dropped:
        bank.delete(voice_file(voice_id), missing_ok=True)
    if dropped:
        logger.info("pruned %d voice(s) not in the manifest", len(dropped))
    return [row for row in rows if row["voice_id"] in keep]


def run_valid(config: PrecomputeConfig, voices: list[VoiceSpec], manifest_folder: str) -> int:
    """Everything after manifest validation (see the module docstring)."""
    bank = get_storage(config.out)
    cache_dir = config.cache_dir or default_cache_dir()
    model_fp = model_fingerprint(local_model_dir(config.model_dir, cache_dir))
    logger.info("model %s (fingerprint %s); bank %s", config.model_dir, model_fp, bank.url())
    previous = read_index(bank).to_pylist()
    existing = set(bank.list(VOICES_DIR))
    plan = plan_precompute(voices, manifest_folder, previous, existing, model_fp, force=config.force)
    voice_ids = {v.voice_id for v in voices}
    logger.info("%d voice(s) up to date, %d to compute", len(plan.up_to_date), len(plan.tasks))
    stale_ids = {row["voice_id"] for row in previous} - voice_ids
    if not plan.tasks and not (config.prune and stale_ids):
        return _exit_code(previous, voice_ids)
    with JobLock(bank, break_stale=config.break_stale_lock):
        writer = _IndexWriter(bank, read_index(bank).to_pylist(), config.checkpoint_seconds)  # re-read under lock
        if plan.tasks:
            _compute(config, plan.tasks, writer, model_fp)
        rows = list(writer.rows.values())
        if config.prune:
            writer.rows = {row["voice_id"]: row for row in _prune(bank, rows, voice_ids)}
        rows = writer.flush()
    logger.info("bank %s: %d voice(s) computed, %d in index", bank.url(), writer.n_new, len(rows))
    return _exit_code(rows, voice_ids)


def run(config: PrecomputeConfig) -> int:
    """Run the job; returns the process exit code (see the module docstring)."""
    try:
        voices, folder = load_voices(config.voices)
    except (ManifestError, StorageNotFound) as exc:
        logger.error("%s", exc)
        return EXIT_INVALID
    logger.info("voices manifest %s: %d voice(s)", config.voices, len(voices))
    try:
        return run_valid(config, voices, folder)
    except (StorageNotFound, ModelDirError) as exc:  # the model folder (or bank root) is missing or incomplete
        logger.error("invalid input: %s", exc)
        return EXIT_INVALID
    except Exception:
        logger.exception("precompute_voices failed")
        return EXIT_FATAL


def main(argv: list[str] | None = None) -> int:
    config, level = parse_args(argv)
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(config)


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
