"""Process exit for the job entry points.

With torch and pyarrow (threaded Parquet reads) in one process, interpreter shutdown sometimes aborts in native
static destructors ("terminate called without an active exception", exit 134) after all work is done. Cron and
schedulers read the exit code, so the entry points flush everything and leave with ``os._exit(code)``, which skips
those destructors. Nothing is lost: every output is already committed to storage before ``main`` returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


def exit_process(code: int) -> None:
    """Flush logs and standard streams, then end the process with ``code`` without running native destructors."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
