"""Row-level progress: workers add to a board as batches finish; the driver shows a bar or steady log lines.

In a pool run the :class:`ProgressBoard` is a small Ray actor the workers call without waiting; in a run inside the
driver process it is a plain object. The driver polls it about once a second and feeds :class:`Progress`, which
draws a tqdm bar on a terminal, or else logs one line every ``every_s`` seconds: rows done, rows per second, audio
hours, audio seconds per second and the time left.
"""

from __future__ import annotations

import logging
import sys
import time


logger = logging.getLogger(__name__)


class ProgressBoard:
    """Counters that workers add to (rows finished, of which failed, audio seconds)."""

    def __init__(self) -> None:
        self.rows = 0
        self.failed = 0
        self.audio_seconds = 0.0

    def add(self, n_rows: int, n_failed: int, audio_seconds: float) -> None:
        self.rows += n_rows
        self.failed += n_failed
        self.audio_seconds += audio_seconds

    def snapshot(self) -> tuple[int, int, float]:
        return self.rows, self.failed, self.audio_seconds


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """Driver-side display of a run's progress.

    Args:
        label: the job's name, shown on every line.
        total_rows: rows in the plan.
        done_rows: rows already finished before this run.
        bar: a tqdm bar (else log lines).
        every_s: seconds between log lines.
        audio: False for jobs whose rows make no audio (the lines then leave the audio figures out).
    """

    def __init__(
        self, label: str, total_rows: int, done_rows: int, bar: bool, every_s: float = 30.0, audio: bool = True
    ) -> None:
        self.label, self.total, self.done_before, self.show_audio = label, total_rows, done_rows, audio
        self.logged_rows = -1
        self.rows = self.failed = 0
        self.audio = 0.0
        self.started = self.last_log = time.perf_counter()
        self.every_s = every_s
        self.bar = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total_rows, initial=done_rows, unit="row", dynamic_ncols=True, file=sys.stderr)

    def update(self, rows: int, failed: int, audio_seconds: float) -> None:
        """Set this run's totals so far (rows finished, failed, audio seconds)."""
        if self.bar is not None and rows > self.rows:
            self.bar.update(rows - self.rows)
        self.rows, self.failed, self.audio = rows, failed, audio_seconds
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix(audio_h=f"{self.audio / 3600:.3f}", failed=self.failed, refresh=False)
        elif now - self.last_log >= self.every_s:
            self._log(now)

    def _log(self, now: float) -> None:
        self.last_log, self.logged_rows = now, self.rows
        logger.info("%s", self.line())

    def line(self) -> str:
        """One progress line: rows, rate, audio, failures, time left."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.rows / elapsed
        left = self.total - self.done_before - self.rows
        eta = _duration(left / rate) if rate > 0 and left > 0 else "-"
        audio = f"audio {self.audio / 3600:.3f} h ({self.audio / elapsed:.2f} audio s/s), " if self.show_audio else ""
        rows = f"rows {self.done_before + self.rows:,}/{self.total:,} ({rate:.2f} rows/s)"
        return f"{self.label}: {rows}, {audio}failed {self.failed}, time left {eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.rows and self.rows != self.logged_rows:
            self._log(time.perf_counter())
