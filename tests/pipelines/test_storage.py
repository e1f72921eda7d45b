"""Storage contract, run against a local folder and against moto's S3 server through s3fs (`storage_url`)."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from pipelines.storage import (
    RetryPolicy,
    Storage,
    StorageError,
    StorageNotFound,
    StoragePermissionError,
    UnsafePathError,
    classify_error,
    get_storage,
    read_url,
    split_url,
)


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.002)


@pytest.fixture
def storage(storage_url: str) -> Storage:
    return Storage(storage_url, retry_policy=FAST_RETRY)


def _count_calls(monkeypatch: pytest.MonkeyPatch, storage: Storage, method: str, errors: list[BaseException]) -> list:
    """Make ``storage.fs.<method>`` raise `errors` in turn before delegating; return the list of call args."""
    real = getattr(storage.fs, method)
    calls: list = []

    def fake(*args, **kwargs):
        calls.append(args)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return real(*args, **kwargs)

    monkeypatch.setattr(storage.fs, method, fake)
    return calls


def test_roundtrip_listing_and_urls(storage: Storage, storage_url: str) -> None:
    storage.write_bytes("a/b/c.bin", b"\x00\x01payload")
    storage.write_text("a/top.txt", "hello")
    storage.write_bytes("z.txt", b"z")
    assert storage.read_bytes("a/b/c.bin") == b"\x00\x01payload"
    assert storage.read_text("a//./top.txt") == "hello"  # normalised relative path
    assert storage.exists("a/b/c.bin") and storage.exists("a") and not storage.exists("a/nope")
    assert storage.list("a") == ["a/top.txt"]
    assert storage.list(recursive=True) == ["a/b/c.bin", "a/top.txt", "z.txt"]
    assert storage.list("missing-folder") == []
    assert storage.glob("a/*.txt") == ["a/top.txt"]
    assert storage.url("a/top.txt").endswith("root/a/top.txt")
    assert "://" in storage.url("a/top.txt")
    assert read_url(storage.url("a/top.txt")) == b"hello"
    child = storage.child("a/b")
    assert child.read_bytes("c.bin") == b"\x00\x01payload"
    assert child.url() == storage.url("a/b")
    assert get_storage(storage) is storage
    assert get_storage(storage_url).read_bytes("z.txt") == b"z"
    with storage.open("a/top.txt") as fh:
        assert fh.read() == b"hello"


def test_delete(storage: Storage) -> None:
    storage.write_bytes("d/x", b"1")
    storage.delete("d/x")
    assert not storage.exists("d/x")
    with pytest.raises(StorageNotFound):
        storage.delete("d/x")
    storage.delete("d/x", missing_ok=True)
    with pytest.raises(UnsafePathError):
        storage.delete("")


def test_atomic_write_readers_never_see_partial_content(storage: Storage) -> None:
    """A reader polling while a writer replaces a 2 MB object only ever sees one of the complete versions."""
    versions = [bytes([i]) * (2 << 20) for i in range(3)]
    storage.write_bytes("big.bin", versions[0])
    stop, seen, bad = threading.Event(), set(), []

    def reader() -> None:
        while not stop.is_set():
            data = storage.read_bytes("big.bin")
            if data not in versions:
                bad.append(len(data))
            seen.add(data[:1])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(8):
            storage.write_bytes("big.bin", versions[n % 3])
    finally:
        stop.set()
        thread.join()
    assert not bad, f"reader saw partial objects of sizes {bad}"
    assert len(seen) >= 1
    assert storage.list() == ["big.bin"]  # no temporary files left behind


def test_failed_local_write_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = Storage(tmp_path, retry_policy=FAST_RETRY)
    storage.write_bytes("f.txt", b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match="f.txt"):
        storage.write_bytes("f.txt", b"new")
    assert storage.read_bytes("f.txt") == b"old"
    assert sorted(os.listdir(tmp_path)) == ["f.txt"]


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("reset by peer"), TimeoutError("read timed out"), OSError(errno.EBUSY, "SlowDown")],
)
def test_transient_errors_are_retried(storage: Storage, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    storage.write_bytes("r.txt", b"data")
    calls = _count_calls(monkeypatch, storage, "cat_file", [error, error])
    assert storage.read_bytes("r.txt") == b"data"
    assert len(calls) == 3


def test_retries_are_bounded(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_calls(monkeypatch, storage, "pipe_file", [ConnectionError("down")] * 10)
    monkeypatch.setattr(storage, "is_local", False)  # exercise the object-store path on both backends
    with pytest.raises(StorageError, match="after 4 attempts") as info:
        storage.write_bytes("w.txt", b"x")
    assert storage.url("w.txt") in str(info.value)
    assert len(calls) == FAST_RETRY.max_attempts


def test_not_found_and_permission_errors_are_not_retried(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_calls(monkeypatch, storage, "cat_file", [])
    with pytest.raises(StorageNotFound) as info:
        storage.read_bytes("no/such/file.wav")
    assert storage.url("no/such/file.wav") in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert len(calls) == 1
    monkeypatch.undo()
    calls = _count_calls(monkeypatch, storage, "cat_file", [PermissionError("Access Denied")] * 5)
    with pytest.raises(StoragePermissionError, match="permission denied"):
        storage.read_bytes("secret.bin")
    assert len(calls) == 1


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "a/..", "/etc/passwd", "s3://other/x", "a\\b", "a\x00b", "C:x"])
def test_paths_may_not_escape_the_root(storage: Storage, bad: str) -> None:
    with pytest.raises(UnsafePathError):
        storage.read_bytes(bad)
    with pytest.raises(UnsafePathError):
        storage.write_bytes(bad, b"x")
    with pytest.raises(UnsafePathError):
        storage.child(bad)
    assert storage.list(recursive=True) == []


def test_put_if_absent_exactly_one_winner(storage: Storage) -> None:
    assert storage.put_if_absent("locks/a.lock", b"first")
    assert not storage.put_if_absent("locks/a.lock", b"second")
    assert storage.read_bytes("locks/a.lock") == b"first"
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def contender(n: int) -> None:
        barrier.wait()
        results.append(storage.put_if_absent("locks/race.lock", f"owner-{n}".encode()))

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert storage.read_bytes("locks/race.lock").startswith(b"owner-")
    assert storage.list("locks") == ["locks/a.lock", "locks/race.lock"]


def test_memory_protocol_and_split_url() -> None:
    storage = Storage("memory://sovits-test-mem")
    storage.write_bytes("x/y.bin", b"m")
    assert storage.read_bytes("x/y.bin") == b"m"
    assert storage.put_if_absent("x/lock", b"1") and not storage.put_if_absent("x/lock", b"2")
    assert split_url("s3://bucket/dir/clip.wav") == ("s3://bucket/dir", "clip.wav")
    assert split_url("/data/clip.wav") == ("/data", "clip.wav")
    with pytest.raises(UnsafePathError):
        split_url("s3://")


class _FakeClientError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_FakeClientError(503, "SlowDown"), "transient"),
        (_FakeClientError(500, "InternalError"), "transient"),
        (_FakeClientError(429, "TooManyRequests"), "transient"),
        (_FakeClientError(404, "NoSuchKey"), "not_found"),
        (_FakeClientError(403, "AccessDenied"), "permission"),
        (_FakeClientError(400, "InvalidArgument"), "fatal"),
        (type("EndpointConnectionError", (Exception,), {})("no route"), "transient"),
        (OSError(errno.EREMOTEIO, "remote"), "transient"),
        (ValueError("bad"), "fatal"),
    ],
)
def test_classify_error(exc: BaseException, kind: str) -> None:
    assert classify_error(exc) == kind
    wrapped = OSError("wrapper")
    wrapped.__cause__ = exc
    assert classify_error(wrapped) == kind


def test_repr_never_shows_credentials(s3_bucket: str) -> None:
    storage = Storage(s3_bucket, key="AKIAFAKEKEY", secret="very-secret-value")
    assert "secret" not in repr(storage) and "AKIA" not in repr(storage)
    with pytest.raises(StorageNotFound) as info:
        storage.read_bytes("absent")
    assert "very-secret-value" not in str(info.value)
