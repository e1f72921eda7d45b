"""QC counts for ``summary.json``, accumulated shard by shard while results are compacted."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from manifests.results import STATUS_OK, STATUS_QC_FAILED


class QCTotals:
    """Counts the ``qc`` column of compacted results (a compaction add-on; see ``CompactionSpec.addon``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.checked = self.passed = self.first = self.after_retry = self.qc_failed = self.flagged = 0
        self.retries = 0
        self.failed_checks: Counter = Counter()

    def add(self, table: pa.Table) -> None:
        if "qc" not in table.column_names:
            return
        for status, qc in zip(table.column("status").to_pylist(), table.column("qc").to_pylist(), strict=True):
            if qc is None:
                continue
            self.checked += 1
            self.retries += max(0, (qc.get("n_attempts") or 1) - 1)
            self.failed_checks.update(qc.get("failed") or [])
            if status == STATUS_QC_FAILED:
                self.qc_failed += 1
            elif status == STATUS_OK and qc.get("passed"):
                self.passed += 1
                self.first += (qc.get("attempt") or 0) == 0
                self.after_retry += (qc.get("attempt") or 0) > 0
            elif status == STATUS_OK:
                self.flagged += 1  # report-only mode: kept although a check failed

    def result(self) -> dict[str, Any]:
        return {
            "mode": self.config.get("mode", "off"),
            "checked": self.checked,
            "passed": self.passed,
            "passed_first_attempt": self.first,
            "passed_after_retry": self.after_retry,
            "qc_failed": self.qc_failed,
            "flagged": self.flagged,
            "retries": self.retries,
            "failed_checks": dict(sorted(self.failed_checks.items())),
            "thresholds": self.config.get("thresholds", {}),
        }
