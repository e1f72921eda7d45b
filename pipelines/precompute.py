"""Precompute stage: voices-manifest rows -> `VoiceFeatures` files in the bank + one result row per voice.

`PrecomputeStage` is a plain class (Ray-agnostic) built once per worker (it loads the model); the engine calls it
with batches of plan rows (one row per voice to compute, :data:`VOICE_TASK_SCHEMA`) and the precompute job merges
its result rows into the bank's ``index.parquet``.

Fingerprints. A voice's features depend on the model, the bytes of each clip (in order, with its weight), the
transcript, its language and the feature format. `voice_fingerprint` hashes exactly these; the job compares it with
the bank index to skip up-to-date voices. Clip *content* is hashed (not URIs or mtimes), so moving a clip does not
recompute a voice and touching a file without changing it does not either. A missing clip hashes to a fixed marker,
so a voice whose clip is missing fails once and is retried when the clip appears.

Failure policy. Data problems (missing, corrupt, silent, too short, clipped, NaN, DC-offset clips; a transcript
without phonemes) become a failed row with a final kind and the voice's fingerprint, so an unchanged bad voice is not
retried every run. Storage problems become a failed row with a retryable kind and no fingerprint, retried next run.
Anything else (e.g. out of memory) raises, and the engine retries the batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import posixpath
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from manifests.bank import STATUS_OK, TASK_COMPUTE, TASK_QC_STATS, VOICE_RESULT_SCHEMA, VoiceResultRow, voice_file
from manifests.results import ErrorKind, rows_table
from manifests.voices import VoiceSpec
from pipelines.audio_io import AudioDecodeError, decode_audio
from pipelines.engine.mode import StageContext
from pipelines.model_cache import ModelConfig
from pipelines.qc.voice_stats import SPEAKER_MODEL, VoiceQCStats
from pipelines.storage import Storage, StorageError, StorageNotFound, split_url


if TYPE_CHECKING:
    from sovits_core.bundle import TTSBundle
    from sovits_core.voice import VoiceFeatures


logger = logging.getLogger(__name__)

FINGERPRINT_VERSION = 1
MISSING_CLIP = "missing"

VOICE_TASK_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("ref_audio", pa.list_(pa.string()), nullable=False),  # as written in the manifest
        pa.field("clip_urls", pa.list_(pa.string()), nullable=False),  # resolved against the manifest's folder
        pa.field("weight", pa.list_(pa.float64())),
        pa.field("ref_text", pa.string()),
        pa.field("ref_lang", pa.string(), nullable=False),
        pa.field("planned_fingerprint", pa.string()),  # what the planner expects (a changed model or clip: new plan)
        pa.field("task", pa.string()),  # "compute", or "qc_stats": only add the QC figures of an up-to-date voice
    ]
)


@dataclass(frozen=True)
class VoiceTask:
    """One voice to compute: its manifest row and the resolved clip URLs (same order as ``voice.ref_audio``)."""

    voice: VoiceSpec
    clip_urls: tuple[str, ...]
    planned_fingerprint: str | None = None
    task: str = TASK_COMPUTE

    def to_row(self, row: int) -> dict[str, Any]:
        v = self.voice
        return {"row": row, "id": v.voice_id, "ref_audio": list(v.ref_audio), "clip_urls": list(self.clip_urls),
                "weight": None if v.weight is None else list(v.weight), "ref_text": v.ref_text,
                "ref_lang": v.ref_lang, "planned_fingerprint": self.planned_fingerprint, "task": self.task}  # fmt: skip

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> VoiceTask:
        weight = None if row["weight"] is None else tuple(row["weight"])
        voice = VoiceSpec(row["id"], tuple(row["ref_audio"]), row["ref_text"], row["ref_lang"], weight)
        return cls(voice, tuple(row["clip_urls"]), row.get("planned_fingerprint"), row.get("task") or TASK_COMPUTE)


def tasks_table(tasks: list[VoiceTask]) -> pa.Table:
    """Plan rows of the voices to compute (``row`` numbers them in manifest order)."""
    return pa.Table.from_pylist([t.to_row(i) for i, t in enumerate(tasks)], schema=VOICE_TASK_SCHEMA)


def resolve_clip_url(base_url: str, ref: str) -> str:
    """Resolve a manifest's clip reference against the manifest's folder URL.

    Absolute references (``s3://...``, ``file://...``, ``/abs/path``) are returned as they are; relative ones are
    joined to `base_url` and normalised (``..`` is allowed: a manifest may point at a sibling folder).
    """
    if "://" in ref or "::" in ref or ref.startswith("/"):
        return ref
    if "://" in base_url:
        scheme, _, path = base_url.partition("://")
        return f"{scheme}://{posixpath.normpath(posixpath.join(path, ref))}"
    return os.path.normpath(os.path.join(base_url, ref))


def clip_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def voice_fingerprint(model_fp: str, digests: list[str] | tuple[str, ...], voice: VoiceSpec) -> str:
    """SHA-256 (hex) of everything a voice's features depend on; see the module docstring."""
    from sovits_core.voice import FORMAT_VERSION

    payload = {
        "v": FINGERPRINT_VERSION,
        "format": FORMAT_VERSION,
        "model": model_fp,
        "clips": [[d, w] for d, w in zip(digests, voice.weights, strict=True)],
        "ref_text": voice.ref_text,
        "ref_lang": voice.ref_lang,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ClipReader:
    """Reads clip URLs through one `Storage` per folder (fsspec file systems are reused)."""

    def __init__(self) -> None:
        self._folders: dict[str, Storage] = {}

    def read(self, url: str) -> bytes:
        parent, name = split_url(url)
        if parent not in self._folders:
            self._folders[parent] = Storage(parent)
        return self._folders[parent].read_bytes(name)


class _VoiceFailure(Exception):
    """Internal: a voice failed with ``kind``; ``fingerprint`` is kept for final kinds only."""

    def __init__(self, kind: ErrorKind, reason: str, fingerprint: str | None) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.fingerprint = kind, reason, fingerprint


@dataclass(frozen=True)
class PrecomputeStageConfig:
    """What a precompute worker needs: the model (the bank is the job's output folder)."""

    model: ModelConfig


class PrecomputeStage:
    """Turns plan rows (voices) into bank files + result rows. Loads the model once.

    Args:
        config: the model to load.
        context: the engine's context (its storage is the bank).
        bundle: an already loaded `TTSBundle` (tests); when None it is loaded from ``config.model``.
    """

    batch_budget = 1  # one voice per call: voices are independent and each is a whole model pass

    def __init__(self, config: PrecomputeStageConfig, context: StageContext, bundle: TTSBundle | None = None) -> None:
        self.config = config
        self.bundle = bundle if bundle is not None else config.model.load()
        self.bank = context.storage
        self.sink = context.sink
        self.clips = ClipReader()
        self.stats = VoiceQCStats()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return rows_table([self.compute(row["row"], VoiceTask.from_row(row)) for row in batch.to_pylist()],
                          VOICE_RESULT_SCHEMA)  # fmt: skip

    def compute(self, row: int, task: VoiceTask) -> VoiceResultRow:
        """Compute one voice, write its feature file, return its result row (never raises for bad data)."""
        voice, started = task.voice, time.perf_counter()
        try:
            result = self._compute(row, task)
        except _VoiceFailure as failure:
            logger.warning("voice %s failed: %s", voice.voice_id, failure.reason)
            return VoiceResultRow.failed(row, voice.voice_id, voice.n_clips, failure.kind, failure.reason,
                                         fingerprint=failure.fingerprint,
                                         model_fingerprint=self.bundle.fingerprint)  # fmt: skip
        logger.info("voice %s: %.1f s of reference, %.2f s", voice.voice_id, result.ref_seconds,
                    time.perf_counter() - started)  # fmt: skip
        return result

    def _read_clips(self, task: VoiceTask) -> list[bytes | None]:
        """Bytes of each clip (None when missing); storage errors abort the voice without fingerprint."""
        blobs: list[bytes | None] = []
        for i, url in enumerate(task.clip_urls):
            try:
                blobs.append(self.clips.read(url))
            except StorageNotFound:
                blobs.append(None)
            except StorageError as exc:
                raise _VoiceFailure(ErrorKind.STORAGE_ERROR, f"clip {i} ({url}): cannot read: {exc}", None) from exc
        return blobs

    def _decode(self, task: VoiceTask) -> tuple[list[Any], str]:
        """The voice's clips decoded, and the voice's fingerprint (from the clips' bytes)."""
        from sovits_core.voice import ReferenceClip

        voice = task.voice
        blobs = self._read_clips(task)
        digests = [clip_digest(b) if b is not None else MISSING_CLIP for b in blobs]
        fingerprint = voice_fingerprint(self.bundle.fingerprint, digests, voice)
        clips = []
        for i, (url, blob, weight) in enumerate(zip(task.clip_urls, blobs, voice.weights, strict=True)):
            if blob is None:
                raise _VoiceFailure(ErrorKind.BAD_AUDIO, f"clip {i} ({url}): file not found", fingerprint)
            try:
                wav, sr = decode_audio(blob, url)
            except AudioDecodeError as exc:
                raise _VoiceFailure(ErrorKind.BAD_AUDIO, f"clip {i}: {exc}", fingerprint) from exc
            clips.append(ReferenceClip(wav, sr, weight))
        return clips, fingerprint

    def _compute(self, row: int, task: VoiceTask) -> VoiceResultRow:
        from sovits_core.text import TextError
        from sovits_core.voice import VoiceFeatures, build_voice_features

        voice = task.voice
        clips, fingerprint = self._decode(task)
        if task.task == TASK_QC_STATS:  # an up-to-date voice of an older bank: add its QC figures, nothing else
            features = VoiceFeatures.from_bytes(self.bank.read_bytes(voice_file(voice.voice_id)))
            return VoiceResultRow.ok(row, voice.voice_id, voice.n_clips, task=TASK_QC_STATS,
                                     **self.stats.of(clips, features))  # fmt: skip
        try:
            features = build_voice_features(self.bundle, clips, voice.ref_text, voice.ref_lang)
        except ValueError as exc:  # ClipError, TextError, empty phonemes: data problems
            index = getattr(exc, "clip_index", None)
            where = f" ({task.clip_urls[index]})" if index is not None and index < len(task.clip_urls) else ""
            kind = ErrorKind.BAD_TEXT if isinstance(exc, TextError) else ErrorKind.BAD_AUDIO
            raise _VoiceFailure(kind, f"{exc}{where}", fingerprint) from exc
        return self._store(row, voice, features, fingerprint, self.stats.of(clips, features))

    def _store(
        self, row: int, voice: VoiceSpec, features: VoiceFeatures, fingerprint: str, qc_stats: dict[str, Any]
    ) -> VoiceResultRow:
        data = features.to_bytes()
        rel = voice_file(voice.voice_id)
        try:
            self.sink.write(rel, data)
        except StorageError as exc:
            raise _VoiceFailure(ErrorKind.STORAGE_ERROR, f"cannot write {self.bank.url(rel)}: {exc}", None) from exc
        return VoiceResultRow.ok(
            row, voice.voice_id, voice.n_clips, file=rel, fingerprint=fingerprint,
            model_fingerprint=features.model_fingerprint, sha256=hashlib.sha256(data).hexdigest(),
            ref_seconds=float(features.ref_seconds), warnings=list(features.warnings), **qc_stats,
        )  # fmt: skip


@dataclass
class PrecomputePlan:
    """What a run has to do: `tasks` to compute; `up_to_date` voice ids whose index rows stay as they are."""

    tasks: list[VoiceTask]
    up_to_date: list[str]


class ClipDigests:
    """Content digests of clips, read once per URL (in threads): MISSING_CLIP when absent, None when unreadable."""

    def __init__(self, n_threads: int = 16) -> None:
        self.n_threads = n_threads
        self.reader = ClipReader()
        self.known: dict[str, str | None] = {}

    def _digest(self, url: str) -> str | None:
        try:
            return clip_digest(self.reader.read(url))
        except StorageNotFound:
            return MISSING_CLIP
        except StorageError as exc:
            logger.warning("cannot read %s while planning: %s", url, exc)
            return None

    def of(self, urls: list[str]) -> dict[str, str | None]:
        todo = sorted({u for u in urls if self.known.get(u) is None})
        with ThreadPoolExecutor(max_workers=max(1, self.n_threads)) as pool:
            self.known.update(zip(todo, pool.map(self._digest, todo), strict=True))
        return {u: self.known[u] for u in urls}


def plan_precompute(
    voices: list[VoiceSpec],
    manifest_folder: str,
    previous: list[dict[str, Any]],
    existing_files: set[str],
    model_fp: str,
    *,
    force: bool = False,
    digests: ClipDigests | None = None,
) -> PrecomputePlan:
    """Decide which voices need computing by comparing fingerprints with the previous bank index.

    A voice is up to date when its previous row has the same (non-null) fingerprint and, for an "ok" row, its feature
    file still exists. Clip bytes are read only to hash them (once per URL and `digests` object).

    Args:
        voices: validated manifest rows.
        manifest_folder: URL/path the manifest's relative clip references resolve against.
        previous: rows of the current bank index.
        existing_files: bank-relative paths of the feature files present now.
        model_fp: the model's fingerprint.
        force: recompute everything.
        digests: clip digests already read (a second planning in one run reads nothing again).
    """
    tasks = [VoiceTask(v, tuple(resolve_clip_url(manifest_folder, ref) for ref in v.ref_audio)) for v in voices]
    known = (digests or ClipDigests()).of([url for task in tasks for url in task.clip_urls])
    by_id = {row["voice_id"]: row for row in previous}
    todo, fresh = [], []
    for task in tasks:
        clip_digests = [known[url] for url in task.clip_urls]
        row = by_id.get(task.voice.voice_id)
        fp = None if None in clip_digests else voice_fingerprint(model_fp, clip_digests, task.voice)
        current = row is not None and fp is not None and row["fingerprint"] == fp
        if not force and current and (row["status"] != STATUS_OK or row["file"] in existing_files):
            if row["status"] == STATUS_OK and row.get("speaker_model") != SPEAKER_MODEL:
                todo.append(dataclasses.replace(task, planned_fingerprint=fp, task=TASK_QC_STATS))
            else:
                fresh.append(task.voice.voice_id)
        else:
            todo.append(dataclasses.replace(task, planned_fingerprint=fp))
    return PrecomputePlan(todo, fresh)
