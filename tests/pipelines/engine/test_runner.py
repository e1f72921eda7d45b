"""The engine with small modes of its own (no model): resume, retries of environment failures, crashes, settings,
``--force``, batching by cost, progress, signals. The real modes are tested end to end in tests/jobs."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import torch

from manifests.results import ErrorKind, ResultRow, results_table
from pipelines.engine import EngineConfig, Mode, Prepared, StageSpec, run_sharded_job
from pipelines.engine.lock import LOCK_PATH
from pipelines.engine.mode import StageContext
from pipelines.engine.plan import done_shards
from pipelines.engine.worker import ShardWorker, WorkerSpec
from pipelines.storage import Storage


def _rows(n: int) -> pa.Table:
    return pa.table({"row": pa.array(range(n), pa.int64()), "id": [f"r{i}" for i in range(n)],
                     "text": ["x" * (1 + i % 3) for i in range(n)]})  # fmt: skip


class EchoStage:
    """Writes one small file per row; optional faults driven by the config dict."""

    calls: list[list[int]] = []

    def __init__(self, config: dict[str, Any], context: StageContext) -> None:
        self.config, self.sink = config, context.sink
        self.batch_budget = config.get("budget", 1)
        self.faults = dict(config.get("faults", {}))

    def batch_cost(self, row: dict[str, Any]) -> int:
        return len(row["text"])

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        EchoStage.calls.append([r["row"] for r in rows])
        if self.config.get("sleep"):
            time.sleep(self.config["sleep"])
        if self.faults.get("oom_over", 10**9) < len(rows):
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        if any(r["row"] in self.faults.get("always_oom", ()) for r in rows):
            raise MemoryError("injected")
        if self.faults.get("bug"):
            raise KeyError("a bug")
        out = []
        for r in rows:
            if r["row"] in self.faults.get("bad", ()):
                out.append(ResultRow.failed(r, ErrorKind.BAD_TEXT, "cannot speak it"))
                continue
            uri = self.sink.write(f"audio/{r['id']}.txt", r["text"].encode())
            out.append(ResultRow.ok(r, audio_uri=uri, duration=float(len(r["text"]))))
        return results_table(out)


class EchoMode(Mode):
    name = "echo"
    output_prefixes = ("audio",)

    def __init__(self, n: int, **config: Any) -> None:
        self.n, self.config = n, config

    def prepare(self) -> Prepared:
        return Prepared(_rows(self.n), "toy", invalid=results_table([]))

    def stage(self, attempt: str) -> StageSpec:
        return StageSpec(EchoStage, self.config)

    def settings(self) -> dict[str, Any]:
        return {"flavour": self.config.get("flavour", "plain")}


def _engine(out: Path, **kw: Any) -> EngineConfig:
    return EngineConfig(**{"out": str(out), "workers": 0, "rows_per_shard": 4, "progress": False, **kw})


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def test_run_resume_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_sharded_job(EchoMode(10), _engine(out)) == 0
    summary = _summary(out)
    assert (summary["status"], summary["exit_code"], summary["rows"], summary["audio_seconds"]) == ("ok", 0, 10, 19)
    assert done_shards(Storage(out)) == {0, 1, 2} and len(list((out / "audio").iterdir())) == 10
    before = _snapshot(out)
    assert run_sharded_job(EchoMode(10), _engine(out)) == 0
    assert _snapshot(out) == before  # a finished job: nothing rewritten


def test_out_of_memory_batch_is_split_and_its_rows_come_out_ok(tmp_path: Path) -> None:
    EchoStage.calls = []
    out = tmp_path / "out"
    mode = EchoMode(6, budget=100, faults={"oom_over": 1})  # any batch of more than one row runs out of memory
    assert run_sharded_job(mode, _engine(out, rows_per_shard=6)) == 0
    assert _summary(out)["rows_by_status"] == {"ok": 6, "failed": 0}
    assert EchoStage.calls[0] == [0, 1, 2, 3, 4, 5] and [0] in EchoStage.calls and [5] in EchoStage.calls


def test_row_that_keeps_failing_for_the_environment_is_retryable_and_a_rerun_retries_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    mode = EchoMode(4, faults={"always_oom": [2], "bad": [3]})
    assert run_sharded_job(mode, _engine(out, batch_retries=1)) == 3
    summary = _summary(out)
    assert summary["status"] == "incomplete" and summary["retryable_rows"] == 1
    assert summary["failures_by_reason"] == {"bad_text": 1, "out_of_memory": 1}
    assert done_shards(Storage(out)) == set()  # a retryable row keeps the shard open
    assert run_sharded_job(EchoMode(4, faults={"bad": [3]}), _engine(out)) == 3  # environment fixed
    summary = _summary(out)
    assert summary["status"] == "failed_rows" and summary["failures_by_reason"] == {"bad_text": 1}
    assert done_shards(Storage(out)) == {0}


def test_a_bug_in_a_stage_is_a_crash_not_a_failed_row(tmp_path: Path) -> None:
    spec = WorkerSpec(str(tmp_path), "a1", StageSpec(EchoStage, {"faults": {"bug": True}}), results_table([]).schema)
    worker = ShardWorker(spec)
    with pytest.raises(KeyError, match="a bug"):
        worker.run_batch(_rows(2), shard=0)


def test_rows_are_packed_by_cost(tmp_path: Path) -> None:
    spec = WorkerSpec(str(tmp_path), "a1", StageSpec(EchoStage, {"budget": 4}), results_table([]).schema)
    worker = ShardWorker(spec)
    table = pa.table({"row": pa.array(range(5), pa.int64()), "id": list("abcde"),
                      "text": ["xx", "x", "xxxxxxxxxx", "x", "xxx"]})  # fmt: skip
    batches = [b.column("row").to_pylist() for b in worker._batches(table)]
    assert batches == [[0, 1], [2], [3, 4]]  # the long row goes alone; short rows are never held behind it


def test_changed_settings_are_refused_and_force_starts_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    assert run_sharded_job(EchoMode(3), _engine(out)) == 0
    stale = out / "audio" / "stale.txt"
    stale.write_text("left by an older run")
    with caplog.at_level(logging.ERROR):
        assert run_sharded_job(EchoMode(3, flavour="spicy"), _engine(out)) == 2
    assert 'flavour: "plain" -> "spicy"' in caplog.text and "--force" in caplog.text
    assert run_sharded_job(EchoMode(3, flavour="spicy"), _engine(out, force=True)) == 0
    assert not stale.exists() and sorted(p.name for p in (out / "audio").iterdir()) == ["r0.txt", "r1.txt", "r2.txt"]
    assert run_sharded_job(EchoMode(3, flavour="spicy"), _engine(out)) == 0
    with caplog.at_level(logging.ERROR):
        assert run_sharded_job(EchoMode(5, flavour="spicy"), _engine(out)) == 2  # other rows: plan mismatch
    assert "different rows" in caplog.text


def test_progress_lines_come_from_the_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pipelines.engine.progress"):
        assert run_sharded_job(EchoMode(8, sleep=0.05), _engine(tmp_path / "out", progress_seconds=0.01)) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.engine.progress"]
    assert lines and lines[-1].startswith("echo: rows 8/8")
    assert "rows/s" in lines[-1] and "audio s/s" in lines[-1] and "time left" in lines[-1]


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_the_run_releases_the_lock_and_a_rerun_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, signum: int, code: int
) -> None:
    out = tmp_path / "out"
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signum))
    timer.start()
    with caplog.at_level(logging.ERROR):
        assert run_sharded_job(EchoMode(40, sleep=0.1), _engine(out)) == code
    timer.join()
    assert f"stopped by {signal.Signals(signum).name}" in caplog.text and "Traceback" not in caplog.text
    assert not (out / LOCK_PATH).exists()
    assert run_sharded_job(EchoMode(40), _engine(out)) == 0
    assert _summary(out)["rows"] == 40


class RetryStage(EchoStage):
    """Asks once for every even row to be run again (carrying a counter), like QC retries do."""

    retry_schema = pa.schema([pa.field("tries", pa.int32())])

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        EchoStage.calls.append([(r["row"], r.get("tries")) for r in rows])
        out, tries = [], []
        for r in rows:
            if r["row"] % 2 == 0 and not r.get("tries"):
                out.append(ResultRow(row=r["row"], id=r["id"], status="retry"))
                tries.append(1)
            else:
                out.append(ResultRow.ok(r, audio_uri=self.sink.write(f"audio/{r['id']}", b"x"), duration=1.0))
                tries.append(None)
        return results_table(out).append_column("tries", pa.array(tries, pa.int32()))


class RetryMode(EchoMode):
    def stage(self, attempt: str) -> StageSpec:
        return StageSpec(RetryStage, {"budget": 4})


def test_rows_a_stage_hands_back_come_again_with_fresh_rows(tmp_path: Path) -> None:
    EchoStage.calls = []
    out = tmp_path / "out"
    assert run_sharded_job(RetryMode(8), _engine(out, rows_per_shard=8)) == 0
    batches = EchoStage.calls
    assert [row for row, _ in batches[0]] == [0, 1] and batches[0][0][1] is None  # texts cost 1-3: packed by cost
    seconds = [(row, tries) for batch in batches for row, tries in batch if tries == 1]
    assert sorted(row for row, _ in seconds) == [0, 2, 4, 6]  # each even row came back once, carrying its counter
    assert any({t for _, t in batch} == {None, 1} for batch in batches)  # mixed with rows on their first run
    results = {r["row"]: r for r in _table(out / "results.parquet")}
    assert sorted(results) == list(range(8)) and {r["status"] for r in results.values()} == {"ok"}
    with_final = [b for b in batches if any(not (row % 2 == 0 and tries is None) for row, tries in b)]
    assert len(list((out / "_job" / "parts").rglob("*.parquet"))) == len(with_final)  # a part per batch with results


def _table(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
