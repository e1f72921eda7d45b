"""One fsspec-backed `Storage` rooted at a URI; every byte the pipelines read or write goes through it.

A `Storage` is built from any fsspec URL: a local path, ``file://``, ``s3://`` (s3fs), ``memory://``, or any other
installed protocol. Code addresses objects by POSIX paths *relative to the root*; a relative path may not leave the
root (``..`` segments, absolute paths, URLs and NUL bytes raise `UnsafePathError`).

S3 configuration comes from the standard AWS sources (environment, ``~/.aws/config`` and credentials files, instance
roles) through botocore. A custom endpoint (MinIO, moto, Ceph...) is taken from the ``endpoint_url`` storage option,
else ``FSSPEC_S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` read when the `Storage` is built.
Credentials are never logged or written: `repr(storage)` and every error message name only the URI.

Atomic writes (`Storage.write_bytes`), so that a reader never sees half a file:
  * local disk: the bytes go to a hidden temporary file in the target folder, are fsync'ed, then ``os.replace``-d
    over the target (a POSIX rename within one file system is atomic);
  * object stores whose PUT is atomic (S3, GCS, Azure Blob, memory): one PUT through ``fs.pipe_file``. S3 makes an
    object visible only once its PUT (or, for bodies over ~100 MB, its CompleteMultipartUpload) succeeds, so readers
    see the old or the new object, never a part. A temporary key + copy would add a second request and a server-side
    copy without adding atomicity (S3 has no rename; "move" is copy + delete);
  * any other protocol: upload to a temporary key, then ``fs.mv`` it over the target (atomic only as far as the
    backend's move is; best effort).

Exclusive create (`Storage.put_if_absent`, for lock files): local disk writes a temporary file and hard-links it to
the target (``link`` fails if the target exists, and the linked file is complete), falling back to ``O_EXCL``; S3 uses
a conditional PUT with ``If-None-Match: *`` (supported by AWS S3 since 2024, MinIO and moto); other backends use
fsspec's ``mode="create"``, which some implement as exists-then-write (best effort, racy). Caveat: if a create
succeeds on the server but its response is lost and the retry then finds the object, the call returns False; lock
users should compare the object's content with what they wrote.

Transient failures (connection resets, timeouts, HTTP 5xx, throttling) are retried with bounded exponential backoff
(`RetryPolicy`); not-found and permission errors are raised at once as `StorageNotFound` / `StoragePermissionError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import uuid
from collections.abc import Callable
from typing import IO, Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

from pipelines.storage_errors import (
    RetryPolicy,
    StorageError,
    StorageNotFound,
    StoragePermissionError,
    UnsafePathError,
    call_with_retry,
    classify_error,
)


__all__ = [
    "RetryPolicy",
    "Storage",
    "StorageError",
    "StorageNotFound",
    "StoragePermissionError",
    "UnsafePathError",
    "call_with_retry",
    "classify_error",
    "get_storage",
    "split_url",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")
_ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
_S3_ENDPOINT_ENV = ("FSSPEC_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _with_env_options(root: str, options: dict[str, Any]) -> dict[str, Any]:
    """Add the S3 endpoint from the environment when the caller gave none (fsspec reads its env only at import)."""
    protocol, _ = fsspec.core.split_protocol(root)
    if protocol not in ("s3", "s3a"):
        return options
    client_kwargs = options.get("client_kwargs") or {}
    if "endpoint_url" in options or "endpoint_url" in client_kwargs:
        return options
    for name in _S3_ENDPOINT_ENV:
        if os.environ.get(name):
            return {**options, "endpoint_url": os.environ[name]}
    return options


def clean_relpath(rel: str) -> str:
    """Normalise a relative POSIX path ("a//b/./c" -> "a/b/c"); refuse anything that could leave the root.

    Raises:
        UnsafePathError: absolute path, URL, ``..`` segment, backslash, NUL byte, or not a string.
    """
    if not isinstance(rel, str):
        raise UnsafePathError(f"storage path must be a str, got {type(rel).__name__}: {rel!r}")
    if "\x00" in rel or "\\" in rel:
        raise UnsafePathError(f"storage path {rel!r} contains a NUL byte or a backslash")
    if rel.startswith("/") or "://" in rel or "::" in rel or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePathError(f"storage path {rel!r} must be relative to the storage root (no '/', URL or drive)")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"storage path {rel!r} may not contain '..' (it would leave the storage root)")
    return "/".join(parts)


class Storage:
    """A folder in any fsspec file system; all paths given to methods are relative to it.

    Args:
        root: fsspec URL or local path of the root folder (need not exist yet).
        fs: an already built file system to use instead of resolving `root`'s protocol (its options then win).
        retry_policy: bounds of the retry loop for transient errors.
        **storage_options: passed to the fsspec file system (e.g. ``endpoint_url``, ``anon``, ``key``/``secret``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fs: fsspec.AbstractFileSystem | None = None,
        retry_policy: RetryPolicy | None = None,
        **storage_options: Any,
    ) -> None:
        root = os.fspath(root)
        if fs is None:
            fs, root_path = fsspec.core.url_to_fs(root, **_with_env_options(root, storage_options))
        else:
            root_path = fs._strip_protocol(root)
        self.fs: fsspec.AbstractFileSystem = fs
        self.root_path: str = root_path.rstrip("/") or "/"
        self.retry_policy = retry_policy or RetryPolicy()
        self.is_local = isinstance(fs, LocalFileSystem)

    # ------------------------------------------------------------------ naming
    def __repr__(self) -> str:
        return f"Storage({self.url()!r})"

    def _full(self, rel: str) -> str:
        rel = clean_relpath(rel)
        if not rel:
            return self.root_path
        return f"{self.root_path.rstrip('/')}/{rel}"

    def _rel_of(self, full: str) -> str:
        full = self.fs._strip_protocol(full)
        prefix = self.root_path.rstrip("/") + "/"
        return full[len(prefix) :] if full.startswith(prefix) else full

    def url(self, rel: str = "") -> str:
        """Full URI of `rel` (e.g. ``s3://bucket/bank/index.parquet``, ``file:///data/bank/index.parquet``)."""
        return self.fs.unstrip_protocol(self._full(rel))

    def child(self, rel: str) -> Storage:
        """A `Storage` rooted at the sub-folder `rel`, sharing this file system and retry policy."""
        return Storage(self._full(rel), fs=self.fs, retry_policy=self.retry_policy)

    def _call(self, op: str, rel: str, fn: Callable[[], T]) -> T:
        return call_with_retry(op, self.url(rel), fn, self.retry_policy)

    # ------------------------------------------------------------------ reads
    def open(self, rel: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        """Open a file object (not atomic for writes: use `write_bytes` for that). Parent folders are created."""
        full = self._full(rel)
        if self.is_local and any(c in mode for c in "wax"):
            os.makedirs(posixpath.dirname(full), exist_ok=True)
        return self._call(f"open({mode})", rel, lambda: self.fs.open(full, mode, **kwargs))

    def read_bytes(self, rel: str) -> bytes:
        """Whole content of the file `rel`."""
        full = self._full(rel)
        return self._call("read", rel, lambda: self.fs.cat_file(full))

    def read_text(self, rel: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(rel).decode(encoding)

    def info(self, rel: str) -> dict[str, Any]:
        """fsspec metadata of `rel` (size, type, mtime / ETag...)."""
        full = self._full(rel)

        def _info() -> dict[str, Any]:
            self.fs.invalidate_cache(full)
            return self.fs.info(full)

        return self._call("info", rel, _info)

    def exists(self, rel: str) -> bool:
        """True when `rel` is an existing file or folder (transient errors are retried, not read as "absent")."""
        try:
            self.info(rel)
        except StorageNotFound:
            return False
        return True

    def list(self, rel: str = "", *, recursive: bool = False) -> list[str]:
        """Sorted relative paths of the files under folder `rel` (direct children unless `recursive`)."""
        full = self._full(rel)

        def _list() -> list[str]:
            self.fs.invalidate_cache(full)
            if recursive:
                return self.fs.find(full, withdirs=False)
            return [e["name"] for e in self.fs.ls(full, detail=True) if e.get("type") != "directory"]

        try:
            names = self._call("list", rel, _list)
        except StorageNotFound:
            return []
        return sorted(self._rel_of(n) for n in names)

    def glob(self, pattern: str) -> list[str]:
        """Sorted relative paths matching the glob `pattern` (relative to the root)."""
        full = self._full(pattern)
        self.fs.invalidate_cache()
        return sorted(self._rel_of(n) for n in self._call("glob", pattern, lambda: self.fs.glob(full)))

    # ------------------------------------------------------------------ writes
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write `data` to `rel` atomically (see the module docstring for how, per backend)."""
        full = self._full(rel)
        if not clean_relpath(rel):
            raise UnsafePathError(f"cannot write to the storage root itself ({self.url()})")
        if self.is_local:
            self._call("write", rel, lambda: _atomic_local_write(full, data))
        elif set(_protocols(self.fs)) & _ATOMIC_PUT_PROTOCOLS:
            self._call("write", rel, lambda: self.fs.pipe_file(full, data))
        else:
            tmp = _temp_sibling(full)
            self._call("write", rel, lambda: self.fs.pipe_file(tmp, data))
            self._call("commit", rel, lambda: self.fs.mv(tmp, full))

    def write_text(self, rel: str, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(rel, text.encode(encoding))

    def put_if_absent(self, rel: str, data: bytes) -> bool:
        """Create `rel` with `data` only if it does not exist yet; True if this call created it.

        Meant for lock files: exactly one of several concurrent callers gets True (on S3 through a conditional PUT;
        see the module docstring for the guarantees per backend).
        """
        full = self._full(rel)
        if self.is_local:
            return self._call("create", rel, lambda: _exclusive_local_write(full, data))

        def _create() -> bool:
            try:
                self.fs.pipe_file(full, data, mode="create")
            except FileExistsError:
                return False
            return True

        return self._call("create", rel, _create)

    def delete(self, rel: str, *, recursive: bool = False, missing_ok: bool = False) -> None:
        """Delete the file (or, with `recursive`, the folder) `rel`."""
        full = self._full(rel)
        if not clean_relpath(rel):
            raise UnsafePathError(f"refusing to delete the storage root itself ({self.url()})")
        if not self.exists(rel):  # object stores delete absent keys silently: check, to behave like a disk
            if missing_ok:
                return
            raise StorageNotFound(f"delete: {self.url(rel)} does not exist")
        try:
            self._call("delete", rel, lambda: self.fs.rm(full, recursive=recursive))
        except StorageNotFound:
            if not missing_ok:
                raise


def _temp_sibling(full: str) -> str:
    head, tail = posixpath.split(full)
    return posixpath.join(head, f".{tail}.tmp-{uuid.uuid4().hex[:12]}")


def _atomic_local_write(full: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(full), exist_ok=True)
    tmp = _temp_sibling(full)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, full)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _exclusive_local_write(full: str, data: bytes) -> bool:
    os.makedirs(os.path.dirname(full), exist_ok=True)
    tmp = _temp_sibling(full)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, full)
        return True
    except FileExistsError:
        return False
    except OSError:  # file system without hard links: O_EXCL create (a reader may briefly see a partial file)
        return _exclusive_create_excl(full, data)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _exclusive_create_excl(full: str, data: bytes) -> bool:
    try:
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return True


def get_storage(x: Any, **storage_options: Any) -> Storage:
    """Build a `Storage` from a URL/path, an existing `Storage` (returned as is), ``(url, options)`` or ``(url, fs)``."""
    if isinstance(x, Storage):
        return x
    if isinstance(x, tuple) and len(x) == 2:
        url, extra = x
        if isinstance(extra, fsspec.AbstractFileSystem):
            return Storage(url, fs=extra)
        return Storage(url, **{**dict(extra), **storage_options})
    if isinstance(x, str | os.PathLike):
        return Storage(x, **storage_options)
    raise TypeError(f"get_storage: expected a URL, path, Storage or (url, options) tuple, got {type(x).__name__}")


def split_url(url: str) -> tuple[str, str]:
    """Split a file URL into (parent folder URL, file name): ``s3://b/x/y.wav`` -> (``s3://b/x``, ``y.wav``)."""
    raw = os.fspath(url)
    if not raw:
        raise UnsafePathError("cannot split an empty URL")
    scheme, sep, path = raw.partition("://")
    if not sep:
        scheme, path = "", os.path.abspath(raw)
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name or (sep and not parent):
        raise UnsafePathError(f"cannot split {raw!r} into a folder and a file name")
    parent = parent or "/"
    return (f"{scheme}://{parent}" if sep else parent), name


def read_url(url: str, **storage_options: Any) -> bytes:
    """Bytes of the file at a full URL or local path (with the usual retries and errors)."""
    parent, name = split_url(url)
    return Storage(parent, **storage_options).read_bytes(name)
