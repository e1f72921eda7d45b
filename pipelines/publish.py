"""Upload a finished local file (a chapter, a book) into a `Storage` so that no reader ever sees part of it.

`publish_file` picks, per backend, the cheapest way that is still all-or-nothing:

* up to ``in_memory_max`` bytes (64 MiB by default: a chapter at 192 kbps is ~1.4 MB/min): one
  `Storage.write_bytes`, which is atomic on every backend (temporary file + ``os.replace`` locally, one PUT on
  object stores);
* larger files on S3 / GCS / Azure: streamed in ``chunk_bytes`` pieces through ``Storage.open(rel, "wb")`` straight
  to the final key. These stores publish an object only when its upload completes (S3: CompleteMultipartUpload,
  GCS: the last chunk of a resumable upload, Azure: the block-list commit), so readers see the old object or the
  new one, never a part. On an error the upload is *discarded* (the multipart upload aborted), never completed:
  fsspec's ``__exit__`` would commit a half-written file, so the file object is not used as a context manager;
* larger files on a local disk: streamed into a hidden temporary sibling (``.name.tmp-…``, same folder, so the same
  file system), flushed and fsync'ed, then renamed over the target (POSIX rename is atomic);
* any other backend (``memory://`` included, whose open-for-write shows the bytes while they are written): streamed
  into a temporary sibling key, then moved over the target with the file system's ``mv`` (atomic as far as that
  backend's move is: a single dictionary store for ``memory://``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import IO

from pipelines.storage import Storage


__all__ = ["publish_file"]

logger = logging.getLogger(__name__)

_ATOMIC_UPLOAD_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def publish_file(
    storage: Storage,
    rel: str,
    path: str | os.PathLike[str],
    *,
    chunk_bytes: int = 8 << 20,
    in_memory_max: int = 64 << 20,
) -> None:
    """Copy the local file ``path`` to ``rel`` in ``storage``, all or nothing (see the module docstring).

    Args:
        storage: the destination.
        rel: the destination key, relative to the storage root.
        path: the local file.
        chunk_bytes: read/upload piece size when streaming.
        in_memory_max: files up to this size go up in one `Storage.write_bytes`.
    """
    path = Path(path)
    size = path.stat().st_size
    if size <= in_memory_max:
        storage.write_bytes(rel, path.read_bytes())
    elif _protocols(storage) & _ATOMIC_UPLOAD_PROTOCOLS:
        _stream(storage, rel, path, chunk_bytes)
    else:
        _stream_and_rename(storage, rel, path, chunk_bytes)
    logger.info("published %s (%d bytes)", storage.url(rel), size)


def _protocols(storage: Storage) -> set[str]:
    proto = storage.fs.protocol
    return {proto} if isinstance(proto, str) else set(proto)


def _stream(storage: Storage, rel: str, path: Path, chunk_bytes: int) -> None:
    """Write into ``rel`` through one file object; commit on success, discard on any error."""
    fh = storage.open(rel, "wb")
    try:
        with path.open("rb") as src:
            while chunk := src.read(chunk_bytes):
                fh.write(chunk)
            if storage.is_local:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(Exception):
            _discard(fh, storage.is_local)
        raise
    fh.close()


def _discard(fh: IO[bytes], is_local: bool) -> None:
    """Abandon a write: abort the object store's upload (never complete it), or close a local temporary file."""
    discard = getattr(fh, "discard", None)
    if is_local or not callable(discard):
        fh.close()
        return
    discard()
    fh.closed = True  # so that garbage collection does not try to finish (commit) the upload


def _stream_and_rename(storage: Storage, rel: str, path: Path, chunk_bytes: int) -> None:
    head, _, name = rel.rpartition("/")
    tmp = f"{head}/.{name}.tmp-{uuid.uuid4().hex[:12]}" if head else f".{name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        _stream(storage, tmp, path, chunk_bytes)
        storage.fs.mv(storage.url(tmp), storage.url(rel))
    except BaseException:
        with contextlib.suppress(Exception):
            storage.delete(tmp, missing_ok=True)
        raise
