"""The synthesis stage: one shard of utterance rows in, audio files and result parts out (Ray-agnostic).

A :class:`SynthesisStage` is built once per worker (it loads the model bundle, opens the voice bank and the output
folder) and is then called with shard numbers. For each shard it

1. reads the shard's rows from the plan and skips rows an earlier attempt already finished (their part exists);
2. synthesizes the rest in batches of ``batch_size`` rows (voices mixed freely) with ``sovits_core.synthesize``;
3. writes each row's audio atomically to ``audio/{id}.{ext}``, then the batch's result part (after its audio);
4. writes the shard's completion marker once every row has a final result.

Rows whose failure may go away on a retry (voice could not be loaded, audio could not be written) do not count as
final: the shard then gets no marker and the next run retries just those rows.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.results import STATUS_FAILED, STATUS_OK, conform, results_table
from pipelines.audio_io import ENCODE_FORMATS, encode_audio
from pipelines.shard_log import shard_log, shard_log_path
from pipelines.shards import JOB_DIR, list_parts, mark_done, part_path, read_marker, read_shard
from pipelines.storage import Storage, StorageError, get_storage
from pipelines.voice_bank import VoiceBank, VoiceBankError


logger = logging.getLogger(__name__)

AUDIO_DIR = "audio"
FINAL_ERROR_KINDS = frozenset({"synthesis_error", "invalid_input"})  # retrying cannot change these
# Errors of the worker's environment, not of the row (a missing optional language package): retried on rerun.
ENVIRONMENT_ERRORS = ("MissingLanguageSupport",)


def audio_key(utterance_id: str, fmt: str) -> str:
    """Deterministic key of a row's audio file (ids are validated safe for keys)."""
    return f"{AUDIO_DIR}/{utterance_id}.{fmt}"


@dataclass(frozen=True)
class SynthesisConfig:
    """Everything a worker needs; pickled to every Ray actor.

    Args:
        out: output folder URL (audio, parts, markers).
        model_dir: model folder, local or remote (copied once per node into ``model_cache``).
        voices: voice bank URL.
        attempt: id of the job run (stamped on rows and part names).
        audio_format: ``wav``, ``flac``, ``ogg`` or ``mp3``.
        sample_rate: output rate; None keeps the model's 32 kHz.
        batch_size: rows per ``synthesize`` call (and per result part).
        force: redo rows even when an earlier run finished them.
        device: torch device for the bundle (None: CUDA when visible, else CPU).
        dtype: bundle dtype (None: fp16 on CUDA, fp32 on CPU).
        model_cache: node-local folder for remote model copies.
        max_new_tokens: cap on semantic tokens per text segment (50 per second of audio); None: the model's max_sec.
    """

    out: str
    model_dir: str
    voices: str
    attempt: str
    audio_format: str = "wav"
    sample_rate: int | None = None
    batch_size: int = 8
    force: bool = False
    device: str | None = None
    dtype: str | None = None
    model_cache: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(), "sovits-batch-models"))
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.audio_format not in ENCODE_FORMATS:
            raise ValueError(f"audio format {self.audio_format!r} is not one of {sorted(ENCODE_FORMATS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.sample_rate is not None and not 8000 <= self.sample_rate <= 192000:
            raise ValueError(f"sample_rate {self.sample_rate} outside [8000, 192000]")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class ShardOutcome:
    """Counters of one shard task, returned to the driver (small: no audio, no rows)."""

    shard: int
    n_rows: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_retryable: int = 0  # rows left for a later run (voice/write errors)
    n_skipped: int = 0  # rows an earlier attempt had finished
    audio_seconds: float = 0.0
    model_seconds: float = 0.0  # inside sovits_core.synthesize
    wall_seconds: float = 0.0  # whole task, including reads, encoding and writes
    started_at: float = 0.0  # epoch seconds: task start / end on the worker (for utilisation figures)
    finished_at: float = 0.0
    worker: str = ""
    attempt: str = ""
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SynthesisStage:
    """Loads the model once; ``stage(shard)`` processes one shard (see module docstring)."""

    def __init__(self, config: SynthesisConfig) -> None:
        from sovits_core.bundle import load_bundle
        from sovits_core.synthesize import SynthesisOptions

        self.config = config
        self.storage = get_storage(config.out)
        local_model = Storage(config.model_dir).local_copy("", config.model_cache)
        self.bundle = load_bundle(local_model, device=config.device, dtype=config.dtype)
        self.bank = VoiceBank(config.voices, model_fingerprint=self.bundle.fingerprint)
        self.options = SynthesisOptions(batch_size=config.batch_size, max_new_tokens=config.max_new_tokens)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        logger.info(
            "synthesis worker %s ready (model %s on %s)", self.worker, self.bundle.fingerprint, self.bundle.device
        )

    def __call__(self, shard: int) -> ShardOutcome:
        marker = read_marker(self.storage, shard)
        if marker is not None and (not self.config.force or marker.get("attempt") == self.config.attempt):
            return ShardOutcome(**{k: v for k, v in marker.items() if k in ShardOutcome.__dataclass_fields__})
        with shard_log(self.storage, shard_log_path(JOB_DIR, shard, self.config.attempt)):
            logger.info("shard %05d: attempt %s on %s", shard, self.config.attempt, self.worker)
            outcome = self._run_shard(shard)
            logger.info("shard %05d: %s", shard, outcome.to_dict())
        return outcome

    def _run_shard(self, shard: int) -> ShardOutcome:
        started = time.perf_counter()
        outcome = ShardOutcome(shard, worker=self.worker, attempt=self.config.attempt, started_at=time.time())
        rows = read_shard(self.storage, shard).to_pylist()
        finished = self._finished_rows(shard)
        todo = [row for row in rows if row["row"] not in finished]
        outcome.n_rows, outcome.n_skipped = len(rows), len(rows) - len(todo)
        for start in range(0, len(todo), self.config.batch_size):
            batch = todo[start : start + self.config.batch_size]
            results, model_seconds = self.process_batch(batch, shard)
            self.storage.write_bytes(part_path(shard, self.config.attempt, batch[0]["row"]), _parquet(results))
            _count(outcome, results, model_seconds)
        outcome.complete = outcome.n_retryable == 0
        outcome.wall_seconds = time.perf_counter() - started
        outcome.finished_at = time.time()
        if outcome.complete:
            mark_done(self.storage, shard, outcome.to_dict())
        return outcome

    def _finished_rows(self, shard: int) -> set[int]:
        """Manifest rows of ``shard`` with a final result in an existing part (this attempt only under force)."""
        finished: set[int] = set()
        for rel in list_parts(self.storage, shard):
            if self.config.force and not rel.rpartition("/")[2].startswith(self.config.attempt + "-"):
                continue
            table = conform(pq.read_table(io.BytesIO(self.storage.read_bytes(rel))))
            for row, status, kind in zip(
                *(table.column(c).to_pylist() for c in ("row", "status", "error_kind")), strict=True
            ):
                if status == STATUS_OK or kind in FINAL_ERROR_KINDS:
                    finished.add(row)
        return finished

    def process_batch(self, rows: list[dict[str, Any]], shard: int) -> tuple[pa.Table, float]:
        """Synthesize and store ``rows``; return their result rows and the seconds spent in the model."""
        from sovits_core.synthesize import SynthesisRequest

        requests, results = [], [None] * len(rows)
        for i, row in enumerate(rows):
            try:
                voice = self.bank.get(row["voice_id"])
            except (VoiceBankError, StorageError) as exc:
                results[i] = self._failed(row, shard, "voice_error", str(exc))
                continue
            settings = {k: row[k] for k in ("seed", "speed", "top_k", "top_p", "temperature", "repetition_penalty")}
            requests.append((i, SynthesisRequest(text=row["text"], lang=row["lang"], voice=voice, **settings)))
        model_started = time.perf_counter()
        outputs = self._synthesize([req for _, req in requests])
        model_seconds = time.perf_counter() - model_started
        for (i, _), output in zip(requests, outputs, strict=True):
            results[i] = self._store(rows[i], shard, output)
        return results_table(results), model_seconds

    def _synthesize(self, requests: list[Any]) -> list[Any]:
        """``synthesize`` on a batch; a batch that raises is split until the failing request is isolated."""
        from sovits_core.synthesize import SynthesisResult, synthesize

        if not requests:
            return []
        try:
            return synthesize(self.bundle, requests, self.options)
        except Exception as exc:  # model crash on some input: isolate it rather than fail the batch
            if len(requests) == 1:
                logger.exception("synthesis raised for one request")
                return [
                    SynthesisResult(
                        audio=_empty(), sample_rate=self.bundle.sample_rate, error=f"{type(exc).__name__}: {exc}"
                    )
                ]
            half = len(requests) // 2
            return self._synthesize(requests[:half]) + self._synthesize(requests[half:])

    def _store(self, row: dict[str, Any], shard: int, output: Any) -> dict[str, Any]:
        if output.error:
            kind = "environment_error" if output.error.startswith(ENVIRONMENT_ERRORS) else "synthesis_error"
            return self._failed(row, shard, kind, output.error, output)
        from sovits_core.audio import resample

        fmt, rate = self.config.audio_format, self.config.sample_rate or output.sample_rate
        try:
            t0 = time.perf_counter()
            data = encode_audio(resample(output.audio, output.sample_rate, rate), rate, fmt)
            t1 = time.perf_counter()
            self.storage.write_bytes(audio_key(row["id"], fmt), data)
            t2 = time.perf_counter()
        except (ValueError, StorageError) as exc:
            return self._failed(row, shard, "write_error", f"{type(exc).__name__}: {exc}", output)
        return {
            **self._base(row, shard, output),
            "status": STATUS_OK,
            "audio_uri": self.storage.url(audio_key(row["id"], fmt)),
            "format": fmt,
            "duration": len(output.audio) / output.sample_rate,
            "sample_rate": rate,
            "time_encode": t1 - t0,
            "time_write": t2 - t1,
        }

    def _base(self, row: dict[str, Any], shard: int, output: Any = None) -> dict[str, Any]:
        timings = output.timings if output is not None else {}
        return {
            **{k: row[k] for k in ("row", "id", "voice_id", "text", "lang", "seed")},
            "model_fingerprint": self.bundle.fingerprint,
            "n_segments": getattr(output, "n_segments", None),
            "n_tokens": getattr(output, "n_tokens", None),
            "stop_reason": getattr(output, "stop_reason", None) or None,
            **{f"time_{k}": timings.get(k) for k in ("text", "t2s", "sovits")},
            "shard": shard,
            "attempt": self.config.attempt,
            "worker": self.worker,
            "finished_at": dt.datetime.now(dt.timezone.utc),
        }

    def _failed(self, row: dict[str, Any], shard: int, kind: str, error: str, output: Any = None) -> dict[str, Any]:
        logger.warning("row %s (%s) failed: %s: %s", row["row"], row["id"], kind, error)
        return {**self._base(row, shard, output), "status": STATUS_FAILED, "error_kind": kind, "error": error}


def _count(outcome: ShardOutcome, results: pa.Table, model_seconds: float) -> None:
    outcome.model_seconds += model_seconds
    for status, kind, duration in zip(
        *(results.column(c).to_pylist() for c in ("status", "error_kind", "duration")), strict=True
    ):
        if status == STATUS_OK:
            outcome.n_ok += 1
            outcome.audio_seconds += duration
        elif kind in FINAL_ERROR_KINDS:
            outcome.n_failed += 1
        else:
            outcome.n_retryable += 1


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _empty() -> Any:
    import numpy as np

    return np.zeros(0, dtype=np.float32)
