"""The synthesis stage: a batch of utterance rows in, audio files (through the sink) and result rows out.

A :class:`SynthesisStage` is built once per worker: it loads the model bundle (from the node-local model cache, with
the fingerprint the driver computed) and opens the voice bank. Each call synthesizes one batch with
``sovits_core.synthesize`` (voices mixed freely), encodes each row's audio and writes it to ``audio/{id}.{ext}``.

Rows are packed by the engine into batches of at most ``batch_size`` text segments (``batch_cost``), so a long row
is spread over the model calls of its own batch and never holds short rows back. A row longer than
``max_row_chars`` fails at once (``text_too_long``: the audiobook mode is made for long-form text).

Data problems come back as failed rows with a final kind (bad text, unusable voice, non-finite audio); a missing
optional language package is an environment failure (retryable); out-of-memory and device errors propagate to the
engine, which splits and retries the batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from manifests.results import STATUS_OK, ErrorKind, ResultRow, results_table
from pipelines.audio_io import ENCODE_FORMATS, AudioEncodeError, encode_audio, rate_problem
from pipelines.engine.flags import ConfigError, check, setting
from pipelines.engine.mode import STATUS_RETRY, StageContext
from pipelines.model_cache import ModelConfig
from pipelines.qc.attempts import (
    RETRY_SCHEMA,
    attempt_record,
    attempt_seed,
    best,
    encode_history,
    history,
    qc_column,
    qc_item,
    resume_row,
    voice_stats,
)
from pipelines.qc.config import QCSettings
from pipelines.storage import StorageError
from pipelines.voice_bank import VoiceBank, VoiceBankError
from sovits_core.text.pronounce import pronunciations


if TYPE_CHECKING:
    from sovits_core.synthesize import SynthesisResult
    from sovits_core.voice import VoiceFeatures


logger = logging.getLogger(__name__)

AUDIO_DIR = "audio"
QUARANTINE_DIR = "quarantine"
MAX_ROW_CHARS = 5_000


def audio_key(utterance_id: str, fmt: str, prefix: str = AUDIO_DIR) -> str:
    """Deterministic key of a row's audio file (ids are validated safe for keys)."""
    return f"{prefix}/{utterance_id}.{fmt}"


def quarantine_key(utterance_id: str, attempt: int, fmt: str) -> str:
    """Where the audio of an attempt that failed QC waits for a person to inspect it."""
    return f"{QUARANTINE_DIR}/{utterance_id}.attempt{attempt}.{fmt}"


@dataclass(frozen=True)
class SynthesisStageConfig:
    """What a synthesis worker needs (pickled to every actor)."""

    model: ModelConfig
    qc: QCSettings
    voices: str = setting(help="voice bank URL (built by jobs.precompute_voices)")
    audio_format: str = setting("wav", help="audio file format", flag="--format", choices=tuple(ENCODE_FORMATS))
    sample_rate: int | None = setting(None, help="output sample rate (default: the model's 32000)")
    batch_size: int = setting(8, help="text segments per model call (rows are packed to fill it; voices mixed)")
    max_row_chars: int = setting(
        MAX_ROW_CHARS, help="characters per row; longer rows fail as text_too_long (use jobs.audiobook for long text)"
    )
    max_new_tokens: int | None = setting(
        None, help="cap on semantic tokens per text segment (50 per second of audio; default: the model's max_sec)"
    )
    audio_prefix: str = setting(AUDIO_DIR, help="folder of the audio files in OUT", cli=False)
    lexicon: Any = setting(None, help="a pronunciation lexicon (pipelines.books.Lexicon)", cli=False)

    def __post_init__(self) -> None:
        cls = type(self)
        check(self.batch_size >= 1, cls, "batch_size", self.batch_size, "must be >= 1")
        check(self.max_row_chars >= 1, cls, "max_row_chars", self.max_row_chars, "must be >= 1")
        if self.max_new_tokens is not None:
            check(self.max_new_tokens >= 1, cls, "max_new_tokens", self.max_new_tokens, "must be >= 1")
        if self.audio_format not in ENCODE_FORMATS:
            raise ConfigError(f"--format {self.audio_format}: not one of {sorted(ENCODE_FORMATS)}")
        if self.sample_rate is not None:
            problem = rate_problem(self.audio_format, self.sample_rate)
            check(problem is None, cls, "sample_rate", self.sample_rate, f"{problem} (--format {self.audio_format})")

    def output_settings(self) -> dict[str, Any]:
        """The settings that change what the job writes (recorded in the job folder, checked on reruns)."""
        from sovits_core.synthesize import SynthesisOptions

        options = SynthesisOptions(max_new_tokens=self.max_new_tokens)
        return {
            "format": self.audio_format,
            "sample_rate": self.sample_rate,
            "model": self.model.model_fingerprint,
            "voices": self.voices,
            "max_row_chars": self.max_row_chars,
            "audio_prefix": self.audio_prefix,
            "options": {k: v for k, v in vars(options).items() if k != "batch_size"},
            "qc": {**self.qc.config.to_dict(), "retries": self.qc.qc_retries, "asr": self.qc.asr_backend},
        }


def _failure_kind(exc: BaseException | None) -> ErrorKind:
    """Kind of a request that ``synthesize`` reported as failed (by exception type)."""
    from sovits_core.text import MissingLanguageSupport, TextError

    if isinstance(exc, MissingLanguageSupport):
        return ErrorKind.ENVIRONMENT_ERROR
    if isinstance(exc, TextError | ValueError):
        return ErrorKind.BAD_TEXT
    return ErrorKind.SYNTHESIS_ERROR  # no exception: the model's output was unusable (e.g. no tokens)


def _phones(lexicon: Any) -> dict[str, dict[str, list[str]]]:
    """The lexicon's phone entries for the frontend: language -> word -> phones."""
    out: dict[str, dict[str, list[str]]] = {}
    for entry in getattr(lexicon, "entries", ()):
        if entry.phones:
            out.setdefault(entry.phones_lang, {})[entry.word] = entry.phones.split()
    return out


class SynthesisStage:
    """Loads the model once; ``stage(batch)`` synthesizes a batch of plan rows (see the module docstring)."""

    def __init__(self, config: SynthesisStageConfig, context: StageContext) -> None:
        from sovits_core.synthesize import SynthesisOptions

        self.config, self.sink = config, context.sink
        self.bundle = config.model.load()
        model_fp = self.bundle.fingerprint
        self.bank = VoiceBank(config.voices, model_fingerprint=model_fp)
        self.options = SynthesisOptions(batch_size=config.batch_size, max_new_tokens=config.max_new_tokens)
        self.batch_budget = config.batch_size
        self.storage = context.storage
        self.lexicon = config.lexicon
        self.phones = _phones(config.lexicon)
        self.qc_config = config.qc.config
        self.qc = self._quality_control() if self.qc_config.active else None
        self.retries = config.qc.qc_retries if self.qc_config.enforce else 0
        self.retry_schema = RETRY_SCHEMA  # requeued (QC) and redone (re-render, --retry-qc-failed) rows carry it
        logger.info("synthesis worker %s ready (model %s on %s)", context.worker, model_fp, self.bundle.device)

    def _quality_control(self) -> Any:
        from pipelines.qc.evaluate import QualityControl

        asr = None
        if self.config.qc.asr_backend:
            from pipelines.qc.asr import load_asr

            asr = load_asr(self.config.qc.asr_backend, self.config.qc.asr_model, device=str(self.bundle.device))
        return QualityControl(self.qc_config, device=str(self.bundle.device), asr=asr)

    def batch_cost(self, row: dict[str, Any]) -> int:
        """Text segments the row will be split into (a row over the limit costs nothing: it fails at once)."""
        from sovits_core.synthesize import split_request_text
        from sovits_core.text import TextError

        if len(row["text"]) > self.config.max_row_chars:
            return 0
        try:
            return max(1, len(split_request_text(row["text"], row["lang"], self.options)))
        except TextError:
            return 1

    def recover(self, kind: ErrorKind) -> None:
        """After an out-of-memory batch: give cached device memory back before the retry."""
        import torch

        if kind is ErrorKind.OUT_OF_MEMORY and self.bundle.device.type == "cuda":
            torch.cuda.empty_cache()

    def __call__(self, batch: pa.Table) -> pa.Table:
        from sovits_core.synthesize import SynthesisRequest, synthesize

        rows = batch.to_pylist()
        results: list[ResultRow | None] = [None] * len(rows)
        requests: list[tuple[int, SynthesisRequest]] = []
        for i, row in enumerate(rows):
            voice, failure = self._voice(row)
            if failure is not None:
                results[i] = failure
                continue
            settings = {k: row[k] for k in ("speed", "top_k", "top_p", "temperature", "repetition_penalty")}
            seed = attempt_seed(row["seed"], int(row.get("qc_attempt") or 0))
            text = self.lexicon.apply(row["text"], row["lang"]) if self.lexicon is not None else row["text"]
            requests.append((i, SynthesisRequest(text, row["lang"], voice, seed=seed, **settings)))
        with pronunciations(self.phones):
            outputs = synthesize(self.bundle, [req for _, req in requests], self.options)
        verdicts = self._judge(rows, requests, outputs)
        retry: dict[int, tuple[int, str]] = {}
        for (i, request), output in zip(requests, outputs, strict=True):
            results[i] = self._keep(rows[i], request.seed, output, verdicts.get(i), retry)
        return self._with_retries(results_table(results), retry)

    def resume(self, plan_row: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
        """A row an earlier run left qc_failed, redone now: its attempts go on where they stopped."""
        return resume_row(plan_row, previous)

    def _judge(self, rows: list[dict[str, Any]], requests: list[Any], outputs: list[Any]) -> dict[int, Any]:
        """QC verdicts of the outputs that have audio, judged in one batch (row index -> verdict)."""
        todo = [(i, out) for (i, _), out in zip(requests, outputs, strict=True) if not out.error]
        if self.qc is None or not todo:
            return {}
        items = [qc_item(out, rows[i]["lang"], voice_stats(self.bank.entry(rows[i]["voice_id"]))) for i, out in todo]
        return {i: verdict for (i, _), verdict in zip(todo, self.qc.judge(items), strict=True)}

    def _with_retries(self, table: pa.Table, retry: dict[int, tuple[int, str]]) -> pa.Table:
        """Add the columns a requeued row carries (its next attempt, its earlier attempts' records)."""
        rows = table.column("row").to_pylist()
        attempts = pa.array([retry.get(r, (None, None))[0] for r in rows], pa.int32())
        records = pa.array([retry.get(r, (None, None))[1] for r in rows], pa.string())
        return table.append_column("qc_attempt", attempts).append_column("qc_history", records)

    def _voice(self, row: dict[str, Any]) -> tuple[VoiceFeatures | None, ResultRow | None]:
        """The row's voice features, or the failed row saying why it cannot be spoken."""
        if len(row["text"]) > self.config.max_row_chars:
            why = (
                f"text has {len(row['text']):,} characters; utterance jobs take at most {self.config.max_row_chars:,} "
                "per row (--max-row-chars). Long-form text belongs in the audiobook mode (python -m jobs.audiobook)."
            )
            return None, self._failed(row, ErrorKind.TEXT_TOO_LONG, why)
        try:
            return self.bank.get(row["voice_id"]), None
        except VoiceBankError as exc:  # the bank's own reason (failed, stale, file missing); storage errors propagate
            return None, self._failed(row, ErrorKind.BAD_VOICE, str(exc))

    def _keep(
        self, row: dict[str, Any], seed: int, output: SynthesisResult, verdict: Any, retry: dict[int, tuple[int, str]]
    ) -> ResultRow:
        """The row's result: stored audio (passed, or QC off / report-only), a retry, or qc_failed."""
        common = self._common(output)
        if output.error:
            return self._failed(row, _failure_kind(output.exception), output.error, **common)
        attempt = int(row.get("qc_attempt") or 0)
        common["take"] = attempt
        first, records = history(row)
        if verdict is not None:
            records.append(attempt_record(attempt, seed, verdict, self.qc_config.mode))
            common.update(qc=qc_column(records[-1], len(records)), qc_attempts=records, time_qc=verdict.seconds)
        if verdict is None or verdict.passed or not self.qc_config.enforce:
            self._drop_quarantine(row, records[:-1])
            return self._store(
                row, output, audio_key(row["id"], self.config.audio_format, self.config.audio_prefix), common
            )
        stored = self._store(row, output, quarantine_key(row["id"], attempt, self.config.audio_format), common)
        if stored.status != STATUS_OK:
            return stored
        if attempt < first + self.retries:
            retry[row["row"]] = (attempt + 1, encode_history(first, records))
            return ResultRow(row=row["row"], id=row["id"], status=STATUS_RETRY)
        return self._qc_failed(row, records, stored, common)

    def _qc_failed(self, row: dict[str, Any], records: list[dict], stored: ResultRow, common: dict) -> ResultRow:
        kept = best(records)
        fmt = self.config.audio_format
        why = (f"failed QC in all {len(records)} attempt(s): {', '.join(kept['failed'])} (best attempt "
               f"{kept['attempt']}); its audio is under {QUARANTINE_DIR}/ for inspection")  # fmt: skip
        logger.warning("row %s (%s) qc_failed: %s", row["row"], row["id"], why)
        common.update(qc=qc_column(kept, len(records)), model_fingerprint=self.bundle.fingerprint)
        duration = stored.duration if kept is records[-1] else None
        uri = self.sink.url(quarantine_key(row["id"], kept["attempt"], fmt))
        return ResultRow.qc_failed(row, audio_uri=uri, error=why, duration=duration, format=fmt,
                                   sample_rate=stored.sample_rate, **common)  # fmt: skip

    def _drop_quarantine(self, row: dict[str, Any], earlier: list[dict[str, Any]]) -> None:
        """A later attempt passed: the earlier attempts' quarantined audio is no longer needed."""
        for record in earlier:
            if not record["passed"] and record["mode"] == "enforce":
                self.storage.delete(quarantine_key(row["id"], record["attempt"], self.config.audio_format),
                                    missing_ok=True)  # fmt: skip

    def _store(self, row: dict[str, Any], output: SynthesisResult, key: str, common: dict[str, Any]) -> ResultRow:
        from sovits_core.audio import resample

        fmt, rate = self.config.audio_format, self.config.sample_rate or output.sample_rate
        try:
            t0 = time.perf_counter()
            data = encode_audio(resample(output.audio, output.sample_rate, rate), rate, fmt)
            t1 = time.perf_counter()
            uri = self.sink.write(key, data)
            t2 = time.perf_counter()
        except AudioEncodeError as exc:
            return self._failed(row, ErrorKind.SYNTHESIS_ERROR, f"the audio cannot be encoded: {exc}", **common)
        except StorageError as exc:
            return self._failed(row, ErrorKind.STORAGE_ERROR, f"{type(exc).__name__}: {exc}", **common)
        duration = len(output.audio) / output.sample_rate
        return ResultRow.ok(row, audio_uri=uri, duration=duration, format=fmt, sample_rate=rate,
                            time_encode=t1 - t0, time_write=t2 - t1, **common)  # fmt: skip

    def _common(self, output: SynthesisResult) -> dict[str, Any]:
        timings = output.timings
        return {
            "model_fingerprint": self.bundle.fingerprint,
            "n_segments": output.n_segments,
            "n_tokens": output.n_tokens,
            "stop_reason": output.stop_reason or None,
            **{f"time_{k}": timings.get(k) for k in ("text", "t2s", "sovits")},
        }

    def _failed(self, row: dict[str, Any], kind: ErrorKind, error: str, **values: Any) -> ResultRow:
        logger.warning("row %s (%s) failed: %s: %s", row["row"], row["id"], kind.value, error)
        values.setdefault("model_fingerprint", self.bundle.fingerprint)
        return ResultRow.failed(row, kind, error, **values)
