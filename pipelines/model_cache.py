"""The node-local model cache shared by every job: remote model folders are downloaded once, by content.

``local_model(url)`` returns a local folder for a model folder URL. A local path is used where it is. A remote
folder (S3, GCS, HTTP...) is copied into ``CACHE/models/<fingerprint>/``, named by the model's content fingerprint
(:func:`sovits_core.bundle.model_fingerprint`); ``CACHE/refs/<listing key>`` maps a listing (relative names, sizes,
ETags or mtimes — not the URL) to that fingerprint, so a node that runs several jobs, or the same model under two
URLs, downloads it once. Downloads go to a staging folder renamed into place: concurrent processes may both
download, but each sees a complete copy.

``fingerprint(local_dir)`` is the model fingerprint, cached under a key of the files' names, sizes and mtimes, so
the ~2 GB of real weights are hashed once per node, not in every worker. :func:`check_model` loads the checkpoints
on the driver (``weights_only``, as the workers will) so a bad model folder is refused before Ray starts.

The cache folder is ``$SOVITS_CACHE_DIR``, else ``~/.cache/sovits-batch``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec

from pipelines.engine.flags import ConfigError, setting
from pipelines.storage import Storage, StorageNotFound, call_with_retry


if TYPE_CHECKING:
    from sovits_core.bundle import TTSBundle


logger = logging.getLogger(__name__)

MODELS_DIR, REFS_DIR, FINGERPRINTS_DIR = "models", "refs", "fingerprints"


def default_cache_dir() -> str:
    """Node-local cache folder: ``$SOVITS_CACHE_DIR`` or ``~/.cache/sovits-batch``."""
    return os.environ.get("SOVITS_CACHE_DIR") or str(Path.home() / ".cache" / "sovits-batch")


DTYPES = ("auto", "float32", "fp32", "float16", "fp16", "bfloat16", "bf16")


@dataclass(frozen=True)
class ModelConfig:
    """Which model a stage loads, and where and how (a section of every model-using stage's config)."""

    model_dir: str = setting(help="model folder, local or remote (gpt.ckpt, sovits.pth, chinese-hubert-base/, ...)")
    model_cache: str = setting(
        help="node-local cache for copies of remote model folders (shared by every job)",
        factory=default_cache_dir,
        aliases=("--cache-dir",),
    )
    device: str | None = setting(None, help="torch device for the model (default: CUDA if visible, else CPU)")
    dtype: str | None = setting(None, help="model dtype (default: fp16 on CUDA, fp32 on CPU)", choices=DTYPES)
    model_fingerprint: str | None = setting(None, help="the model's fingerprint (computed by the driver)", cli=False)

    def __post_init__(self) -> None:
        if not self.model_dir:
            raise ConfigError("--model-dir: a model folder is required")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ConfigError(f"--dtype {self.dtype}: not one of {list(DTYPES)}")

    def prepared(self) -> ModelConfig:
        """On the driver: the model folder fetched, checked (exit 2 when it cannot load) and fingerprinted."""
        local = local_model(self.model_dir, self.model_cache)
        check_model(local)
        return replace(self, model_fingerprint=fingerprint(local, self.model_cache))

    def load(self) -> TTSBundle:
        """On a worker: the bundle, from the node-local cache, with the driver's fingerprint (no re-hash)."""
        from sovits_core.bundle import load_bundle

        local = local_model(self.model_dir, self.model_cache)
        model_fp = self.model_fingerprint or fingerprint(local, self.model_cache)
        return load_bundle(local, device=self.device, dtype=self.dtype, fingerprint=model_fp)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fingerprint(local_dir: str | Path, cache_dir: str | None = None) -> str:
    """The model fingerprint of a local model folder, from the cache when its files' sizes and mtimes are unchanged."""
    from sovits_core.bundle import model_fingerprint

    root = Path(local_dir).resolve()
    stats = [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in _files(root)]
    key = hashlib.sha256(json.dumps([str(root), stats]).encode()).hexdigest()[:32]
    entry = Path(cache_dir or default_cache_dir()) / FINGERPRINTS_DIR / f"{key}.json"
    cached = _read_json(entry)
    if isinstance(cached, dict) and cached.get("fingerprint"):
        return cached["fingerprint"]
    value = model_fingerprint(root)
    try:
        _write_json(entry, {"fingerprint": value, "folder": str(root)})
    except OSError as exc:  # a read-only home folder only costs a re-hash next time
        logger.warning("cannot cache the model fingerprint in %s: %s", entry.parent, exc)
    return value


def _listing(fs: fsspec.AbstractFileSystem, full: str) -> tuple[dict[str, Any], str]:
    """Remote files under ``full`` and a key of their relative names, sizes and ETags (or mtimes)."""
    entries = fs.find(full, withdirs=False, detail=True)
    if not entries:
        raise StorageNotFound(f"model folder {fs.unstrip_protocol(full)} is empty or does not exist")
    digest = hashlib.sha256()
    prefix = full.rstrip("/") + "/"
    for name in sorted(entries):
        entry = entries[name]
        stamp = entry.get("ETag") or entry.get("etag") or entry.get("mtime") or entry.get("LastModified") or ""
        digest.update(f"\n{name[len(prefix) :]}|{entry.get('size')}|{stamp}".encode())
    return entries, digest.hexdigest()[:32]


def _download(fs: fsspec.AbstractFileSystem, full: str, entries: dict[str, Any], cache: Path) -> Path:
    from sovits_core.bundle import model_fingerprint

    staging = cache / MODELS_DIR / f".tmp-{uuid.uuid4().hex[:12]}"
    prefix = full.rstrip("/") + "/"
    try:
        for remote in sorted(entries):
            dest = staging / remote[len(prefix) :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote, str(dest))
        final = cache / MODELS_DIR / model_fingerprint(staging)
        try:
            os.rename(staging, final)
        except OSError:
            if not final.is_dir():  # lost a race to a complete copy: fine; anything else: an error
                raise
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def local_model(url: str, cache_dir: str | None = None) -> Path:
    """A local folder holding the model folder at ``url`` (downloaded once per node and content; see above)."""
    storage = Storage(url)
    if storage.is_local:
        if not os.path.isdir(storage.root_path):
            raise StorageNotFound(f"model folder {url} does not exist")
        return Path(storage.root_path)
    cache = Path(cache_dir or default_cache_dir())
    entries, key = call_with_retry("list", url, lambda: _listing(storage.fs, storage.root_path), storage.retry_policy)
    ref = _read_json(cache / REFS_DIR / f"{key}.json")
    if isinstance(ref, dict) and (cache / MODELS_DIR / str(ref.get("fingerprint"))).is_dir():
        return cache / MODELS_DIR / ref["fingerprint"]
    logger.info("downloading model folder %s into %s", url, cache / MODELS_DIR)
    folder = call_with_retry(
        "download", url, lambda: _download(storage.fs, storage.root_path, entries, cache), storage.retry_policy
    )
    _write_json(cache / REFS_DIR / f"{key}.json", {"fingerprint": folder.name, "url": url})
    logger.info("cached %s -> %s", url, folder)
    return folder


def check_model(local_dir: Path) -> None:
    """Load the model folder's checkpoints as the workers will (``weights_only``) and check its two HF folders.

    Raises:
        ModelDirError: a part is missing. CheckpointError: a checkpoint cannot be read (names the file and why).
        ModelFolderError: a transformers folder is incomplete.
    """
    from sovits_core.bundle import find_model_files
    from sovits_core.checkpoint import load_gpt, load_sovits
    from sovits_core.ssl import check_model_folder

    files = find_model_files(local_dir)
    load_gpt(files["gpt"])
    load_sovits(files["sovits"])
    for name in ("hubert", "roberta"):
        check_model_folder(files[name])
