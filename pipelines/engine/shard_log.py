"""Per-shard log files: every log record emitted while a shard runs is kept and uploaded next to the job.

``with shard_log(storage, "_job/logs/00003.20261123T101500-ab12cd.log"):`` attaches a handler to the root logger
for the duration of the block and writes what it captured to the storage in a ``finally`` — also when the shard
fails — so a user can read a worker's story without access to the Ray cluster's log files.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.storage import Storage


logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def shard_log_path(job_dir: str, shard: int, attempt: str) -> str:
    """Relative key of a shard's log for one run (attempt)."""
    return f"{job_dir}/logs/{shard:05d}.{attempt}.log"


@contextmanager
def shard_log(storage: Storage, path: str, level: int = logging.INFO) -> Iterator[None]:
    """Capture log records of this process into ``path`` (written atomically when the block ends)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    previous_level = root.level
    quieted = []
    if root.level == logging.NOTSET or root.level > level:
        for other in root.handlers:  # the console keeps the level the user chose; only the shard log gets more
            if other.level < previous_level:
                quieted.append((other, other.level))
                other.setLevel(previous_level)
        root.setLevel(level)
    root.addHandler(handler)
    try:
        yield
    except Exception:
        logger.exception("shard failed")
        raise
    except BaseException as exc:  # stopped from outside (a signal): no traceback, the run says so itself
        logger.warning("shard stopped (%s)", type(exc).__name__)
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for other, other_level in quieted:
            other.setLevel(other_level)
        try:
            storage.write_bytes(path, buffer.getvalue().encode("utf-8"))
        except Exception as exc:  # a log upload must never turn a finished shard into a failed one
            logger.warning("could not write shard log %s: %s", path, exc)
