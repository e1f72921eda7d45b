"""A job lock in the output folder, so that two runs never write the same output at once.

The lock is ``OUT/_job/lock.json``, created with ``Storage.put_if_absent`` (an exclusive create on local disk, a
conditional PUT on S3). It records host, pid, process start time, start time and a heartbeat that a background
thread refreshes every ``heartbeat_s`` seconds while the job runs.

When the lock exists, the holder is judged:

* **alive**: the run is refused (:class:`LockHeld`);
* **dead for sure**: same host and its process is gone (or the pid now belongs to a younger process). The lock is
  taken over automatically: nothing can still be writing;
* **stale**: the heartbeat is older than ``stale_after_s`` (a driver on another machine that stopped beating). It is
  reported (:class:`StaleLock`) and taken over only with ``break_stale=True`` (``--break-stale-lock``): a driver
  on another host might be alive behind a network partition, so a human decides.

A takeover first claims ``_job/lock-takeover/{old token}`` with ``put_if_absent`` so that of several runs breaking
the same stale lock exactly one wins, then overwrites the lock. The heartbeat thread checks on every beat that the
lock still carries its token and sets :attr:`JobLock.lost` otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace

from pipelines.engine.plan import JOB_DIR, JsonRecord
from pipelines.storage import Storage, StorageError, StorageNotFound


logger = logging.getLogger(__name__)

LOCK_PATH = f"{JOB_DIR}/lock.json"
TAKEOVER_DIR = f"{JOB_DIR}/lock-takeover"


@dataclass(frozen=True)
class LockInfo(JsonRecord):
    """Content of the lock file."""

    token: str
    host: str
    pid: int
    pid_started: float | None  # process start (seconds since boot) to tell a reused pid apart; Linux only
    started_at: float
    heartbeat_at: float
    command: str

    @classmethod
    def from_json(cls, data: bytes) -> LockInfo:
        """Parse a lock file; ValueError when it is not a lock written by this program (corrupt, truncated)."""
        try:
            return super().from_json(data)
        except (ValueError, TypeError) as exc:  # bad JSON, not an object, missing or unknown keys
            raise ValueError(f"not a valid lock file ({exc})") from exc

    def describe(self, now: float) -> str:
        return (
            f"pid {self.pid} on {self.host}, started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.started_at))}, "
            f"last heartbeat {now - self.heartbeat_at:.0f} s ago"
        )


class LockHeld(RuntimeError):
    """Another run holds the job lock."""

    def __init__(self, message: str, holder: LockInfo | None) -> None:
        super().__init__(message)
        self.holder = holder


class StaleLock(LockHeld):
    """The job lock looks abandoned but cannot be proven dead; rerun with --break-stale-lock to take it over."""


class CorruptLock(LockHeld):
    """The lock file cannot be read (truncated, edited by hand); rerun with --break-stale-lock to replace it."""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/{pid}/stat`` after the command name (Linux), or None when unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()
    except OSError:
        return None


def _process_start(pid: int) -> float | None:
    """Start time of ``pid`` in seconds since boot (Linux /proc), or None when unknown."""
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) / os.sysconf("SC_CLK_TCK") if fields else None
    except (ValueError, IndexError):
        return None


def _pid_alive(pid: int, started: float | None) -> bool:
    """Whether ``pid`` on this host is still the process that took the lock (zombies and reused pids are dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields and fields[0] in ("Z", "X"):  # exited, waiting to be reaped
        return False
    now_started = _process_start(pid)
    return started is None or now_started is None or abs(now_started - started) < 1.0


def judge(info: LockInfo, now: float, stale_after_s: float) -> tuple[str, str]:
    """Classify a lock holder: ``("alive" | "dead" | "stale", explanation)``."""
    if info.host == socket.gethostname() and not _pid_alive(info.pid, info.pid_started):
        return "dead", f"process {info.pid} on this host ({info.host}) is gone"
    age = now - info.heartbeat_at
    if age > stale_after_s:
        return "stale", f"its last heartbeat was {age:.0f} s ago (stale after {stale_after_s:.0f} s)"
    return "alive", "its heartbeat is fresh"


class JobLock:
    """Exclusive lock on a job's output folder, with a heartbeat thread (use as a context manager).

    Args:
        storage: the job's output folder.
        stale_after_s: heartbeat age after which a lock counts as stale.
        heartbeat_s: seconds between heartbeats.
        break_stale: take over a stale lock (otherwise :class:`StaleLock` is raised).
    """

    def __init__(
        self, storage: Storage, *, stale_after_s: float = 600.0, heartbeat_s: float = 30.0, break_stale: bool = False
    ) -> None:
        if heartbeat_s <= 0 or stale_after_s <= heartbeat_s:
            raise ValueError("need 0 < heartbeat_s < stale_after_s")
        self.storage = storage
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.break_stale = break_stale
        now = time.time()
        self.info = LockInfo(
            uuid.uuid4().hex,
            socket.gethostname(),
            os.getpid(),
            _process_start(os.getpid()),
            now,
            now,
            " ".join(sys.argv)[:500],
        )
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockHeld` / :class:`StaleLock`."""
        for _ in range(5):
            if self.storage.put_if_absent(LOCK_PATH, self.info.to_json()):
                break
            try:
                data = self.storage.read_bytes(LOCK_PATH)
            except StorageNotFound:
                continue  # released between our create and our read: try again
            try:
                holder = LockInfo.from_json(data)
            except ValueError as exc:
                if self._take_over_unreadable(data, exc):
                    break
                continue
            if self._take_over(holder):
                break
        else:
            raise StorageError(f"could not create or read the lock {self.storage.url(LOCK_PATH)}")
        logger.info("took the job lock %s", self.storage.url(LOCK_PATH))
        self._thread = threading.Thread(target=self._beat, name="job-lock-heartbeat", daemon=True)
        self._thread.start()

    def _take_over(self, holder: LockInfo) -> bool:
        now = time.time()
        verdict, why = judge(holder, now, self.stale_after_s)
        where = self.storage.url(LOCK_PATH)
        if verdict == "alive":
            raise LockHeld(f"another run holds {where} ({holder.describe(now)}); {why}", holder)
        if verdict == "stale" and not self.break_stale:
            raise StaleLock(
                f"the lock {where} looks stale ({holder.describe(now)}): {why}. If that run is really "
                "gone, rerun with --break-stale-lock to take it over.",
                holder,
            )
        if not self.storage.put_if_absent(f"{TAKEOVER_DIR}/{holder.token}", self.info.to_json()):
            raise LockHeld(f"another run is taking over the lock {where} right now", holder)
        logger.warning("taking over the job lock %s: %s", where, why)
        self.storage.write_bytes(LOCK_PATH, self.info.to_json())
        return True

    def _take_over_unreadable(self, data: bytes, exc: ValueError) -> bool:
        where = self.storage.url(LOCK_PATH)
        if not self.break_stale:
            raise CorruptLock(
                f"the lock {where} is unreadable ({exc}). If no other run uses this folder, rerun with "
                "--break-stale-lock to replace it.",
                None,
            )
        claim = f"{TAKEOVER_DIR}/unreadable-{hashlib.sha256(data).hexdigest()[:16]}"
        if not self.storage.put_if_absent(claim, self.info.to_json()):
            raise LockHeld(f"another run is taking over the lock {where} right now", None)
        logger.warning("replacing the unreadable job lock %s: %s", where, exc)
        self.storage.write_bytes(LOCK_PATH, self.info.to_json())
        return True

    def _owned(self) -> bool:
        try:
            return LockInfo.from_json(self.storage.read_bytes(LOCK_PATH)).token == self.info.token
        except StorageNotFound:
            return False

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self._owned():
                    logger.error("lost the job lock %s to another run", self.storage.url(LOCK_PATH))
                    self.lost.set()
                    return
                self.info = replace(self.info, heartbeat_at=time.time())
                self.storage.write_bytes(LOCK_PATH, self.info.to_json())
            except (StorageError, ValueError) as exc:  # keep beating; a stale heartbeat is only a report
                logger.warning("job lock heartbeat failed: %s", exc)

    def release(self) -> None:
        """Stop the heartbeat and delete the lock (only if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            if self._owned():
                self.storage.delete(LOCK_PATH, missing_ok=True)
        except (StorageError, ValueError) as exc:
            logger.warning("could not release the job lock: %s", exc)
