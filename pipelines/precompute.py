"""Precompute stage: one voices-manifest row -> `VoiceFeatures` file in the bank + one bank-index row.

`PrecomputeStage` is a plain class (Ray-agnostic): it loads the model once in ``__init__`` and handles one
`VoiceTask` per call, so tests call it directly and ``jobs.precompute_voices`` hands it to `run_actor_pool`.

Fingerprints. A voice's features depend on the model, the bytes of each clip (in order, with its weight), the
transcript, its language and the feature format. `voice_fingerprint` hashes exactly these; the job compares it with
the bank index to skip up-to-date voices. Clip *content* is hashed (not URIs or mtimes), so moving a clip does not
recompute a voice and touching a file without changing it does not either. A missing clip hashes to a fixed marker, so
a voice whose clip is missing fails once and is retried when the clip appears.

Failure policy. Data problems (missing, corrupt, silent, too short, clipped, NaN clips; a transcript without
phonemes) become a row with ``status="error"`` and the reason, with a fingerprint, so an unchanged bad voice is not
retried every run. Infrastructure problems (storage outage, permission denied) become an error row with a null
fingerprint, retried next run. Anything else (e.g. CUDA OOM) raises, and the pool reports it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from manifests.bank import STATUS_ERROR, STATUS_OK, voice_file
from manifests.voices import VoiceSpec
from pipelines.audio_io import AudioDecodeError, decode_audio
from pipelines.storage import Storage, StorageError, StorageNotFound, get_storage, split_url


logger = logging.getLogger(__name__)

__all__ = [
    "MISSING_CLIP",
    "PrecomputePlan",
    "PrecomputeStage",
    "PrecomputeStageConfig",
    "VoiceTask",
    "clip_digest",
    "default_cache_dir",
    "error_row",
    "model_fingerprint",
    "plan_precompute",
    "resolve_clip_url",
    "voice_fingerprint",
]

FINGERPRINT_VERSION = 1
MISSING_CLIP = "missing"


def default_cache_dir() -> str:
    """Node-local folder for model copies: ``$SOVITS_CACHE_DIR`` or ``~/.cache/sovits-batch``."""
    return os.environ.get("SOVITS_CACHE_DIR") or str(Path.home() / ".cache" / "sovits-batch")


@dataclass(frozen=True)
class VoiceTask:
    """One voice to compute: its manifest row and the resolved clip URLs (same order as ``voice.ref_audio``)."""

    voice: VoiceSpec
    clip_urls: tuple[str, ...]


@dataclass(frozen=True)
class PrecomputeStageConfig:
    """Args:
    model_dir: local folder or URL of the model folder (fetched once into `cache_dir` when remote).
    bank_url: root of the voice bank (feature files are written under ``voices/``).
    cache_dir: node-local cache for remote model folders.
    device: torch device ("cuda", "cpu"; None = CUDA when available).
    dtype: "float16", "float32"...; None = fp16 on CUDA, fp32 on CPU.
    """

    model_dir: str
    bank_url: str
    cache_dir: str = ""
    device: str | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        if not self.model_dir or not self.bank_url:
            raise ValueError("PrecomputeStageConfig needs model_dir and bank_url")


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


def model_fingerprint(local_model_dir: str | Path) -> str:
    """The fingerprint `load_bundle` gives this model folder, computed without loading the networks."""
    from sovits_core.bundle import model_fingerprint as fingerprint

    return fingerprint(local_model_dir)


def local_model_dir(model_dir: str, cache_dir: str) -> Path:
    """Local folder of the model: the path itself, or a cached copy of a remote folder."""
    return get_storage(model_dir).local_copy("", cache_dir or default_cache_dir())


def error_row(voice: VoiceSpec, reason: str, fingerprint: str | None, model_fp: str | None) -> dict[str, Any]:
    """A bank-index row recording why `voice` could not be computed."""
    return {
        "voice_id": voice.voice_id,
        "file": None,
        "fingerprint": fingerprint,
        "model_fingerprint": model_fp,
        "sha256": None,
        "n_clips": voice.n_clips,
        "ref_seconds": None,
        "status": STATUS_ERROR,
        "error": reason,
        "warnings": [],
        "created_at": datetime.now(timezone.utc),
    }


class _ClipReader:
    """Reads clip URLs through one `Storage` per folder (fsspec file systems are reused)."""

    def __init__(self) -> None:
        self._folders: dict[str, Storage] = {}

    def read(self, url: str) -> bytes:
        parent, name = split_url(url)
        if parent not in self._folders:
            self._folders[parent] = Storage(parent)
        return self._folders[parent].read_bytes(name)


class _VoiceFailure(Exception):
    """Internal: a voice failed; `fingerprint` is None for infrastructure failures (retry next run)."""

    def __init__(self, reason: str, fingerprint: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fingerprint = fingerprint


class PrecomputeStage:
    """Turns `VoiceTask`s into bank files + index rows. Loads the model once.

    Args:
        config: where the model and the bank are.
        bundle: an already loaded `TTSBundle` (tests); when None it is loaded from ``config.model_dir``.
    """

    def __init__(self, config: PrecomputeStageConfig, bundle: Any | None = None) -> None:
        self.config = config
        if bundle is None:
            from sovits_core.bundle import load_bundle

            local = local_model_dir(config.model_dir, config.cache_dir)
            bundle = load_bundle(local, device=config.device, dtype=config.dtype)
        self.bundle = bundle
        self.bank = get_storage(config.bank_url)
        self.clips = _ClipReader()

    def __call__(self, task: VoiceTask) -> dict[str, Any]:
        """Compute one voice, write its feature file, return its index row (never raises for bad data)."""
        voice, started = task.voice, time.perf_counter()
        try:
            row = self._compute(task)
        except _VoiceFailure as failure:
            logger.warning("voice %s failed: %s", voice.voice_id, failure.reason)
            return error_row(voice, failure.reason, failure.fingerprint, self.bundle.fingerprint)
        logger.info(
            "voice %s: %.1f s of reference, %.2f s", voice.voice_id, row["ref_seconds"], time.perf_counter() - started
        )
        return row

    def _read_clips(self, task: VoiceTask) -> list[bytes | None]:
        """Bytes of each clip (None when missing); infrastructure errors abort the voice without fingerprint."""
        blobs: list[bytes | None] = []
        for i, url in enumerate(task.clip_urls):
            try:
                blobs.append(self.clips.read(url))
            except StorageNotFound:
                blobs.append(None)
            except StorageError as exc:
                raise _VoiceFailure(f"clip {i} ({url}): cannot read: {exc}", None) from exc
        return blobs

    def _compute(self, task: VoiceTask) -> dict[str, Any]:
        from sovits_core.voice import ReferenceClip, build_voice_features

        voice = task.voice
        blobs = self._read_clips(task)
        digests = [clip_digest(b) if b is not None else MISSING_CLIP for b in blobs]
        fingerprint = voice_fingerprint(self.bundle.fingerprint, digests, voice)
        clips = []
        for i, (url, blob, weight) in enumerate(zip(task.clip_urls, blobs, voice.weights, strict=True)):
            if blob is None:
                raise _VoiceFailure(f"clip {i} ({url}): file not found", fingerprint)
            try:
                wav, sr = decode_audio(blob, url)
            except AudioDecodeError as exc:
                raise _VoiceFailure(f"clip {i}: {exc}", fingerprint) from exc
            clips.append(ReferenceClip(wav, sr, weight))
        try:
            features = build_voice_features(self.bundle, clips, voice.ref_text, voice.ref_lang)
        except ValueError as exc:  # ClipError, TextError, empty phonemes: data problems
            index = getattr(exc, "clip_index", None)
            where = f" ({task.clip_urls[index]})" if index is not None and index < len(task.clip_urls) else ""
            raise _VoiceFailure(f"{exc}{where}", fingerprint) from exc
        return self._store(voice, features, fingerprint)

    def _store(self, voice: VoiceSpec, features: Any, fingerprint: str) -> dict[str, Any]:
        data = features.to_bytes()
        rel = voice_file(voice.voice_id)
        try:
            self.bank.write_bytes(rel, data)
        except StorageError as exc:
            raise _VoiceFailure(f"cannot write {self.bank.url(rel)}: {exc}", None) from exc
        return {
            "voice_id": voice.voice_id,
            "file": rel,
            "fingerprint": fingerprint,
            "model_fingerprint": features.model_fingerprint,
            "sha256": hashlib.sha256(data).hexdigest(),
            "n_clips": voice.n_clips,
            "ref_seconds": float(features.ref_seconds),
            "status": STATUS_OK,
            "error": None,
            "warnings": list(features.warnings),
            "created_at": datetime.now(timezone.utc),
        }


@dataclass
class PrecomputePlan:
    """What a run has to do: `tasks` to compute; `up_to_date` voice ids whose index rows stay as they are."""

    tasks: list[VoiceTask]
    up_to_date: list[str]


def _digest_or_marker(reader: _ClipReader, url: str) -> str | None:
    """Content digest of a clip; MISSING_CLIP when absent; None when it cannot be read now (retry)."""
    try:
        return clip_digest(reader.read(url))
    except StorageNotFound:
        return MISSING_CLIP
    except StorageError as exc:
        logger.warning("cannot read %s while planning: %s", url, exc)
        return None


def plan_precompute(
    voices: list[VoiceSpec],
    manifest_folder: str,
    previous: list[dict[str, Any]],
    existing_files: set[str],
    model_fp: str,
    *,
    force: bool = False,
    n_threads: int = 16,
) -> PrecomputePlan:
    """Decide which voices need computing by comparing fingerprints with the previous bank index.

    A voice is up to date when its previous row has the same (non-null) fingerprint and, for an "ok" row, its feature
    file still exists. Clip bytes are read (in `n_threads` threads) only to hash them.

    Args:
        voices: validated manifest rows.
        manifest_folder: URL/path the manifest's relative clip references resolve against.
        previous: rows of the current bank index.
        existing_files: bank-relative paths of the feature files present now.
        model_fp: `model_fingerprint` of the model to use.
        force: recompute everything.
    """
    tasks = [VoiceTask(v, tuple(resolve_clip_url(manifest_folder, ref) for ref in v.ref_audio)) for v in voices]
    if force:
        return PrecomputePlan(tasks, [])
    reader = _ClipReader()
    urls = sorted({url for task in tasks for url in task.clip_urls})
    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
        digests = dict(zip(urls, pool.map(lambda url: _digest_or_marker(reader, url), urls), strict=True))
    by_id = {row["voice_id"]: row for row in previous}
    todo, fresh = [], []
    for task in tasks:
        clip_digests = [digests[url] for url in task.clip_urls]
        row = by_id.get(task.voice.voice_id)
        fp = None if None in clip_digests else voice_fingerprint(model_fp, clip_digests, task.voice)
        current = row is not None and fp is not None and row["fingerprint"] == fp
        if current and (row["status"] != STATUS_OK or row["file"] in existing_files):
            fresh.append(task.voice.voice_id)
        else:
            todo.append(task)
    return PrecomputePlan(todo, fresh)
