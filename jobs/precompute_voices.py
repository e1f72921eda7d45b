"""Build or refresh a voice bank: ``python -m jobs.precompute_voices --voices M --model-dir D --out BANK``.

The mode on the engine (``pipelines.engine``): the voices manifest is read and validated (no model is loaded for an
invalid one) -> the model folder is checked and fingerprinted on the driver -> every voice's clips are hashed and
voices whose fingerprint matches the bank index are skipped (a run with nothing to do writes nothing) -> the rest
run on the pool (``--workers 0``: in this process) -> ``voices/{voice_id}.safetensors`` and an atomically replaced
``index.parquet`` (rewritten at most every ``--checkpoint-seconds`` while the run goes on).

Exit codes: 0 every voice ok, 3 some voices failed (see the index's ``error`` column), 2 invalid manifest or model
folder, 1 fatal error (storage, bank locked...), 130/143 stopped by a signal.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobs.cli import build_parser as _build_parser
from jobs.cli import job_main, parse_config
from manifests.bank import INDEX_FILE, STATUS_ERROR, VOICE_RESULT_SCHEMA, VOICES_DIR, index_row, voice_file
from manifests.common import ManifestError, read_table
from manifests.voices import VoiceSpec, read_voices_bytes, voices_from_table
from pipelines.engine import EngineConfig, Mode, Prepared, StageSpec, require_shared, run_sharded_job
from pipelines.engine.compaction import EXIT_FAILED_ROWS, EXIT_FATAL, EXIT_INVALID, EXIT_OK, read_parts
from pipelines.engine.flags import setting
from pipelines.engine.plan import RESULTS_FILE, list_parts
from pipelines.precompute import ClipDigests, PrecomputeStage, PrecomputeStageConfig, plan_precompute, tasks_table
from pipelines.storage import Storage, StorageError, get_storage, split_url
from pipelines.voice_bank import read_index, write_index


logger = logging.getLogger("jobs.precompute_voices")

EXIT_PARTIAL = EXIT_FAILED_ROWS
__all__ = ["EXIT_FATAL", "EXIT_INVALID", "EXIT_OK", "EXIT_PARTIAL", "PrecomputeConfig", "main", "run"]


@dataclass(frozen=True)
class PrecomputeConfig:
    """Everything one run needs (built by the CLI or by callers such as tests and cron wrappers)."""

    FLAG_DEFAULTS = {"rows_per_shard": 4}  # voices are few and heavy: small shards keep every worker busy

    voices: str = setting(help="voices manifest (Parquet, CSV or JSONL; local path or URL)")
    stage: PrecomputeStageConfig
    engine: EngineConfig
    prune: bool = setting(False, help="drop voices that are not in this manifest from the bank")
    checkpoint_seconds: float = setting(60.0, help="rewrite the index at most this often while the run goes on")


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


class PrecomputeMode(Mode):
    """Voices manifest -> voice bank. The rows are the voices to compute, so the plan changes from run to run."""

    name = "precompute_voices"
    result_schema = VOICE_RESULT_SCHEMA
    model_time_columns = ()
    replan = True

    def __init__(self, config: PrecomputeConfig) -> None:
        self.config = config
        self.stage_config = config.stage
        self.digests = ClipDigests()
        self.voices: list[VoiceSpec] | None = None
        self.folder = ""
        self.index_rows: dict[str, dict[str, Any]] = {}
        self.last_checkpoint = time.monotonic()

    def check(self, in_process: bool) -> None:
        c = self.config
        require_shared(c.voices, "--voices", in_process)
        require_shared(c.stage.model.model_dir, "--model-dir", in_process)
        if self.voices is None:
            self.voices, self.folder = load_voices(c.voices)
            logger.info("voices manifest %s: %d voice(s)", c.voices, len(self.voices))
        self.stage_config = dataclasses.replace(c.stage, model=c.stage.model.prepared())

    @property
    def voice_ids(self) -> set[str]:
        return {v.voice_id for v in self.voices or []}

    def prepare(self) -> Prepared:
        bank = get_storage(self.config.engine.out)
        model_fp = self.stage_config.model.model_fingerprint or ""
        previous = read_index(bank).to_pylist()
        existing = set(bank.list(VOICES_DIR))
        plan = plan_precompute(self.voices or [], self.folder, previous, existing, model_fp,
                               force=self.config.engine.force, digests=self.digests)  # fmt: skip
        logger.info("%d voice(s) up to date, %d to compute", len(plan.up_to_date), len(plan.tasks))
        self.index_rows = {row["voice_id"]: row for row in previous}
        stale = set(self.index_rows) - self.voice_ids
        idle = not plan.tasks and not (self.config.prune and stale)
        return Prepared(tasks_table(plan.tasks), self.config.voices, idle_exit=self._exit_code() if idle else None)

    def stage(self, attempt: str) -> StageSpec:
        return StageSpec(PrecomputeStage, self.stage_config)

    def shard_done(self, storage: Storage, shard: int) -> None:
        """Merge a finished shard's voices into the index, at most every ``--checkpoint-seconds``."""
        self._merge(read_parts(storage, list_parts(storage, shard), VOICE_RESULT_SCHEMA).to_pylist())
        if time.monotonic() - self.last_checkpoint >= self.config.checkpoint_seconds:
            write_index(storage, list(self.index_rows.values()))
            self.last_checkpoint = time.monotonic()

    def finish(self, storage: Storage, summary: dict[str, Any]) -> None:
        """Merge the run's results into the index (and prune); rewrite it only when it changed."""
        if storage.exists(RESULTS_FILE):
            self._merge(read_table(storage, RESULTS_FILE).to_pylist())
        if self.config.prune:
            self._prune(storage)
        stored = {row["voice_id"]: row for row in read_index(storage).to_pylist()}
        if self.index_rows != stored or not storage.exists(INDEX_FILE):
            write_index(storage, list(self.index_rows.values()))

    def _merge(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            row = index_row(result, self.index_rows.get(result["id"]))
            if row is not None:
                self.index_rows[result["id"]] = row

    def _prune(self, storage: Storage) -> None:
        dropped = sorted(set(self.index_rows) - self.voice_ids)
        for voice_id in dropped:
            storage.delete(voice_file(voice_id), missing_ok=True)
            del self.index_rows[voice_id]
        if dropped:
            logger.info("pruned %d voice(s) not in the manifest", len(dropped))

    def _exit_code(self) -> int:
        failed = sorted(v for v, r in self.index_rows.items() if v in self.voice_ids and r["status"] == STATUS_ERROR)
        if failed:
            logger.warning("%d voice(s) failed: %s", len(failed), ", ".join(failed[:20]))
            return EXIT_PARTIAL
        return EXIT_OK

    def exit_code(self, summary: dict[str, Any]) -> int:
        return self._exit_code()


def run(config: PrecomputeConfig) -> int:
    """Run the job; returns the process exit code (see the module docstring)."""
    return run_sharded_job(PrecomputeMode(config), config.engine)


DESCRIPTION = "Compute speaker features for every voice of a manifest into a voice bank (once per voice)."


def build_parser():  # noqa: ANN201 - argparse.ArgumentParser
    return _build_parser(PrecomputeConfig, "python -m jobs.precompute_voices", DESCRIPTION)


def parse_args(argv: list[str] | None = None) -> tuple[PrecomputeConfig, str]:
    """(config, log level) from command-line arguments."""
    return parse_config(PrecomputeConfig, build_parser(), argv)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(PrecomputeConfig, run, "python -m jobs.precompute_voices", DESCRIPTION, argv)


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
