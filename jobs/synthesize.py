"""Synthesize every row of an utterance manifest with a pool of workers, exactly once.

    python -m jobs.synthesize --manifest s3://b/utts/*.parquet --voices s3://b/bank --model-dir s3://b/model \\
        --out s3://b/runs/2026-01-01 [--format flac] [--workers 8] [--batch-size 16] [--skip-invalid]

The mode on the engine (``pipelines.engine``): the manifest is read and validated before any GPU is asked for (bad
rows exit 2, or become failed rows with ``--skip-invalid``), the model folder is checked on the driver, and the
synthesis stage (``pipelines.synthesis``) runs on the pool. Outputs: ``OUT/audio/{id}.{ext}``,
``OUT/results.parquet``, ``OUT/summary.json``. Exit codes: 0 every row done; 3 some rows failed; 2 invalid input;
1 fatal; 130/143 stopped by a signal. A rerun finishes what is missing; ``--force`` redoes every row.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobs.cli import job_main
from manifests.common import ManifestError
from manifests.results import ErrorKind, ResultRow, results_table
from pipelines.engine import EngineConfig, InputError, Mode, Prepared, StageSpec, require_shared, run_sharded_job
from pipelines.engine.flags import setting
from pipelines.synthesis import SynthesisStage, SynthesisStageConfig


logger = logging.getLogger("jobs.synthesize")

STRING_COLUMNS = ("id", "text", "voice_id", "lang")
MAX_REPORTED_ISSUES = 50


@dataclass(frozen=True)
class SynthesizeJobConfig:
    """Everything one synthesis run needs (built by the CLI, or directly by tests and schedulers)."""

    manifest: str = setting(help="utterance manifest: Parquet/CSV/JSONL file, folder or glob (fsspec URL)")
    stage: SynthesisStageConfig
    engine: EngineConfig
    skip_invalid: bool = setting(
        False, help="run the valid rows and record invalid ones as failed (else exit 2 on any invalid row)"
    )


def report_issues(issues: Sequence[Any], skip: bool) -> None:
    """Log each invalid row (at most MAX_REPORTED_ISSUES)."""
    verb = "skipping" if skip else "rejecting the manifest for"
    logger.error("%s %d invalid row(s):", verb, len(issues))
    for issue in issues[:MAX_REPORTED_ISSUES]:
        logger.error("  %s", issue)
    if len(issues) > MAX_REPORTED_ISSUES:
        logger.error("  ... and %d more", len(issues) - MAX_REPORTED_ISSUES)


class SynthesizeMode(Mode):
    """Utterance manifest -> one audio file per row."""

    name = "synthesize"
    output_prefixes = ("audio",)

    def __init__(self, config: SynthesizeJobConfig) -> None:
        self.config = config
        self.stage_config = config.stage

    def check(self, in_process: bool) -> None:
        from pipelines.inputs import check_out_apart

        c = self.config
        for url, flag in (
            (c.manifest, "--manifest"),
            (c.stage.voices, "--voices"),
            (c.stage.model.model_dir, "--model-dir"),
        ):
            require_shared(url, flag, in_process)
        check_out_apart(c.manifest, c.engine.out)
        self.stage_config = dataclasses.replace(c.stage, model=c.stage.model.prepared())

    def prepare(self) -> Prepared:
        from manifests.utterances import validate_utterances
        from pipelines.inputs import load_manifest
        from pipelines.voice_bank import VoiceBank

        c = self.config
        bank = VoiceBank(c.stage.voices, model_fingerprint=self.stage_config.model.model_fingerprint)
        runnable, issues = validate_utterances(load_manifest(c.manifest, STRING_COLUMNS), bank.check)
        if issues:
            report_issues(issues, c.skip_invalid)
            if not c.skip_invalid:
                raise InputError(f"{len(issues)} invalid row(s) in {c.manifest} (listed above); fix them or "
                                 "pass --skip-invalid to run the others")  # fmt: skip
        if runnable.num_rows == 0 and not issues:
            raise ManifestError(f"manifest {c.manifest} has no rows")
        invalid = [
            ResultRow.failed(
                {"row": i.row, "id": i.id if isinstance(i.id, str) else None},
                ErrorKind.INVALID_INPUT,
                f"{i.code}: {i.reason}",
            )  # fmt: skip
            for i in issues
        ]
        return Prepared(runnable, c.manifest, invalid=results_table(invalid))

    def stage(self, attempt: str) -> StageSpec:
        return StageSpec(SynthesisStage, self.stage_config)

    def settings(self) -> dict[str, Any]:
        return self.stage_config.output_settings()

    def redo_kinds(self) -> frozenset[str]:
        return frozenset({ErrorKind.QC_FAILED.value}) if self.config.stage.qc.retry_qc_failed else frozenset()

    def summary_addons(self) -> tuple[tuple[str, Any], ...]:
        from pipelines.qc.summary import QCTotals

        config = self.stage_config.qc.config.to_dict()
        return (("qc", lambda: QCTotals(config)),)


def run(config: SynthesizeJobConfig) -> int:
    """Run one synthesis job; return its exit code (see the module docstring). Never raises for expected failures."""
    return run_sharded_job(SynthesizeMode(config), config.engine)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(SynthesizeJobConfig, run, "python -m jobs.synthesize", __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
