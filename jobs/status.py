"""Report a job's outcome from its ``summary.json``, for schedulers that only see "the driver exited".

    python -m jobs.status --out OUT_URL

``ray job submit`` and a KubeRay ``RayJob`` report a driver as succeeded or failed, so they cannot tell "some rows
failed" (exit 3) from "invalid input" (exit 2). Every job records ``status`` and ``exit_code`` in
``OUT/summary.json``; this command prints one line with them and exits with that code (1 when the folder holds no
summary: the job never reached compaction).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

from jobs.cli import configure_logging
from pipelines.engine.compaction import EXIT_FATAL
from pipelines.engine.plan import SUMMARY_FILE
from pipelines.storage import StorageError, get_storage


logger = logging.getLogger("jobs.status")


def status_line(summary: dict) -> str:
    """``synthesize: failed_rows (exit 3): 9,998 ok, 2 failed (bad_text 2); 12.410 h of audio``."""
    rows = summary.get("rows_by_status", {})
    reasons = ", ".join(f"{k} {v}" for k, v in summary.get("failures_by_reason", {}).items())
    counts = ", ".join(f"{n:,} {status}" for status, n in rows.items())
    return (
        f"{summary.get('mode', 'job')}: {summary.get('status')} (exit {summary.get('exit_code')}): {counts}"
        f"{f' ({reasons})' if reasons else ''}; {summary.get('audio_hours', 0):.3f} h of audio"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the job's output folder URL")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    try:
        summary = json.loads(get_storage(args.out).read_bytes(SUMMARY_FILE))
    except (StorageError, ValueError) as exc:
        logger.error("no readable %s in %s: %s", SUMMARY_FILE, args.out, exc)
        return EXIT_FATAL
    logger.info("%s", status_line(summary))
    return int(summary.get("exit_code", EXIT_FATAL))


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
