"""The run report (pipelines.report): a job folder compacted by the engine, then its report.html checked as a person
and a program would read it: valid HTML, decodable plots, numbers equal to summary.json, escaped data, bounded size."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image

from manifests.qc import QC_TYPE
from manifests.results import MODEL_TIME_COLUMNS, RESULT_SCHEMA, ErrorKind, ResultRow, conform, results_table
from pipelines import report
from pipelines.engine.compaction import CompactionSpec, Totals, build_summary, compact
from pipelines.engine.plan import RESULTS_FILE, RUNS_DIR, ShardPlan, mark_done, part_path, write_plan
from pipelines.qc.summary import QCTotals
from pipelines.report import REPORT_FILE, build_report, relative_link, write_report
from pipelines.storage import Storage


START = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
EVIL_ID = "<script>alert('x')</script>"
THRESHOLDS = {"speaker": {"min": 0.5}, "token_run": {"max": 30}, "level": {"min": -40.0, "max": -3.0},
              "asr": {"max_error": 0.3}}  # fmt: skip
VOID_TAGS = {"meta", "img", "br", "hr", "link", "input"}


# ---------------------------------------------------------------------------------------------------- page reader
class PageReader(HTMLParser):
    """A strict reader of the page: every tag closed in order; collects marked numbers, images, links, sections."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.marked: list[tuple[str, str]] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.sections: list[str] = []
        self.text: list[str] = []
        self._capture: tuple[str, int] | None = None
        self._captured = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag == "a":
            self.links.append(attributes.get("href") or "")
        if tag == "section":
            self.sections.append(attributes.get("id") or "")
        if tag in VOID_TAGS:
            return
        self.stack.append(tag)
        if "data-summary-key" in attributes:
            self._capture, self._captured = (attributes["data-summary-key"], len(self.stack)), ""

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        if self._capture and self._capture[1] == len(self.stack):
            self.marked.append((self._capture[0], self._captured))
            self._capture = None
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._capture:
            self._captured += data


def read_page(page: str) -> PageReader:
    reader = PageReader()
    reader.feed(page)
    reader.close()
    assert page.startswith("<!DOCTYPE html>")
    assert not reader.errors, reader.errors
    assert reader.stack == [], f"unclosed tags: {reader.stack}"
    return reader


def shown_value(text: str) -> Any:
    text = text.strip().replace(",", "")
    if text == "–":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def summary_value(summary: dict[str, Any], key: str) -> Any:
    value: Any = summary
    for part in key.split("."):
        value = value[part]
    return value


def check_marked_numbers(reader: PageReader, summary: dict[str, Any]) -> set[str]:
    """Every marked number equals the summary's; return the marked keys."""
    assert reader.marked
    for key, text in reader.marked:
        expected, shown = summary_value(summary, key), shown_value(text)
        if isinstance(expected, float):
            assert shown == pytest.approx(expected, rel=1e-9, abs=1.5e-3), key
        else:
            assert shown == expected, key
    return {key for key, _ in reader.marked}


def check_images(reader: PageReader) -> None:
    assert reader.images
    for src in reader.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        image.load()
        assert image.format == "PNG"
        assert 200 <= image.width <= 2000 and 80 <= image.height <= 2000, image.size


# ---------------------------------------------------------------------------------------------------- a job folder
def _qc(i: int, passed: bool, failed: list[str] | None = None) -> dict[str, Any]:
    return {"passed": passed, "failed": failed or [], "mode": "enforce", "attempt": 0, "n_attempts": 1 + i % 2,
            "token_longest_run": 3 + i % 7, "tokens_per_phone": 2.0 + (i % 10) / 10, "level_dbfs": -20.0 - i % 9,
            "speaker_similarity": 0.6 + (i % 30) / 100, "asr_text": f"heard {i}", "asr_error_rate": (i % 5) / 20,
            "hit_token_cap": i % 17 == 0}  # fmt: skip


def _result(storage: Storage, plan_row: dict[str, Any], i: int) -> ResultRow:
    stamp = {"shard": i // 20, "attempt": "run1", "worker": f"host{i % 3}:{100 + i % 3}",
             "finished_at": START + dt.timedelta(seconds=11 * i), "time_t2s": 0.5, "time_sovits": 0.25}  # fmt: skip
    if i in (5, 7):
        return ResultRow.failed(plan_row, ErrorKind.BAD_TEXT, "nothing left <b>after</b> normalisation", **stamp)
    if i in (11, 12):
        return ResultRow.failed(plan_row, ErrorKind.OUT_OF_MEMORY, "CUDA out of memory", **stamp)
    if i == 13:
        return ResultRow.failed(plan_row, ErrorKind.INVALID_INPUT, "empty_text: the text is empty", **stamp)
    if i in (20, 21, 40):
        storage.write_bytes(f"quarantine/{i}.wav", b"RIFF")
        return ResultRow.qc_failed(plan_row, audio_uri=storage.url(f"quarantine/{i}.wav"), error="QC: speaker",
                                   duration=1.5, qc=_qc(i, False, ["speaker", "token_run"]), **stamp)  # fmt: skip
    storage.write_bytes(f"audio/{i}.wav", b"RIFF")
    qc = None if i % 6 == 0 else _qc(i, passed=i != 33, failed=["level"] if i == 33 else None)
    return ResultRow.ok(plan_row, audio_uri=storage.url(f"audio/{i}.wav"), duration=1.0 + i / 10, qc=qc, **stamp)


@pytest.fixture
def job(tmp_path: Path) -> tuple[Storage, dict[str, Any]]:
    """A compacted synthesis job folder of 60 rows in 3 shards (4 voices, 3 workers, 11 minutes), its summary."""
    storage = Storage(tmp_path / "job")
    n = 60
    ids = [EVIL_ID if i == 5 else f"utt{i:03d}" for i in range(n)]
    rows = pa.table({"row": pa.array(range(n), pa.int64()), "id": ids, "voice_id": [f"v{i % 4}" for i in range(n)],
                     "text": [f"text <{i}>" for i in range(n)], "lang": ["en"] * n})  # fmt: skip
    plan = write_plan(storage, rows, "manifest.parquet", rows_per_shard=20)
    for shard in range(plan.n_shards):
        plan_rows = rows.slice(shard * 20, 20).to_pylist()
        part = results_table([_result(storage, r, r["row"]) for r in plan_rows])
        buf = io.BytesIO()
        pq.write_table(part, buf)
        storage.write_bytes(part_path(shard, "run1", shard * 20), buf.getvalue())
        mark_done(storage, shard, {"rows": 20})
    qc_addon = ("qc", lambda: QCTotals({"mode": "enforce", "thresholds": THRESHOLDS}))
    spec = CompactionSpec(RESULT_SCHEMA, "synthesize", MODEL_TIME_COLUMNS, addons=(qc_addon,))
    summary, _ = compact(storage, plan, {}, 660.0, spec)
    return storage, summary


def summary_of(tmp_path: Path, table: pa.Table, mode: str, wall: float) -> dict[str, Any]:
    """summary.json of ``table`` as compaction makes it (its Totals and build_summary)."""
    storage = Storage(tmp_path / mode)
    storage.write_bytes(f"{RUNS_DIR}/run.json", json.dumps({"wall_seconds": wall}).encode())
    totals = Totals(MODEL_TIME_COLUMNS if "time_t2s" in table.column_names else ())
    totals.add(table)
    plan = ShardPlan("manifest.parquet", "f" * 16, table.num_rows, 1000, -(-table.num_rows // 1000), 0.0)
    return build_summary(storage, plan, totals, mode)


# ---------------------------------------------------------------------------------------------------- tests
def test_report_of_a_compacted_job(job: tuple[Storage, dict[str, Any]]) -> None:
    storage, summary = job
    url = write_report(storage, summary)
    assert url == storage.url(REPORT_FILE) and report.RESULTS_FILE == RESULTS_FILE
    page = storage.read_text(REPORT_FILE)
    reader = read_page(page)
    assert reader.sections == ["job", "counts", "throughput", "distributions", "problems", "voices", "workers"]
    check_images(reader)
    keys = check_marked_numbers(reader, summary)
    wanted = {"rows", "audio_seconds", "audio_hours", "wall_seconds", "real_time_factor", "exit_code"}
    wanted |= {f"rows_by_status.{s}" for s in summary["rows_by_status"]}
    wanted |= {f"failures_by_reason.{k}" for k in summary["failures_by_reason"]}
    wanted |= {f"invalid_by_check.{c}" for c in summary["invalid_by_check"]}
    wanted |= {f"qc.{k}" for k in summary["qc"] if k not in ("mode", "failed_checks", "thresholds")}
    wanted |= {f"qc.failed_checks.{c}" for c in summary["qc"]["failed_checks"]}
    assert wanted <= keys, wanted - keys
    assert summary["rows_by_status"]["qc_failed"] == 3 and summary["failures_by_reason"]["out_of_memory"] == 2
    assert "disagree" not in page


def test_audio_links_are_relative_and_resolve(job: tuple[Storage, dict[str, Any]], tmp_path: Path) -> None:
    storage, summary = job
    reader = read_page(Path(write_report(storage, summary).removeprefix("file://")).read_text())
    assert sorted(reader.links) == ["audio/33.wav", "quarantine/20.wav", "quarantine/21.wav", "quarantine/40.wav"]
    assert all((tmp_path / "job" / link).is_file() for link in reader.links)


def test_data_strings_are_escaped(job: tuple[Storage, dict[str, Any]]) -> None:
    storage, summary = job
    page = Path(write_report(storage, summary).removeprefix("file://")).read_text()
    assert "<script" not in page and "<b>after" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "nothing left &lt;b&gt;after&lt;/b&gt; normalisation" in page
    assert "text &lt;7&gt;" in page  # texts of listed rows are read from their row groups, with their scores:
    assert "text &lt;20&gt; → heard: heard 20" in page and "token_longest_run=" in page


def test_links_only_for_uris_a_browser_opens(tmp_path: Path) -> None:
    uris = ["javascript:alert(1)", "s3://bucket/a.wav", "https://host/b c.wav", "file:///job/audio/x.wav"]
    rows = [
        ResultRow.failed({"row": i, "id": f"r{i}"}, ErrorKind.BAD_TEXT, "x", audio_uri=u) for i, u in enumerate(uris)
    ]
    table = results_table(rows)
    reader = read_page(
        build_report(table, summary_of(tmp_path, table, "synthesize", 1.0), audio_base=relative_link("file:///job"))
    )
    assert reader.links == ["https://host/b c.wav", "audio/x.wav"]
    assert relative_link("s3://b/out/")("s3://b/out/audio/a#1.wav") == "audio/a%231.wav"


def test_qc_mode_is_announced(job: tuple[Storage, dict[str, Any]]) -> None:
    storage, summary = job
    results = pq.read_table(storage.root_path + "/results.parquet")
    report_mode = build_report(results, {**summary, "qc": {**summary["qc"], "mode": "report"}})
    assert "report-only mode" in report_mode and "rows were kept even when checks failed" in report_mode
    enforced = build_report(results, summary)
    assert "report-only" not in enforced and "quarantined as <code>qc_failed</code>" in enforced
    assert "speaker.min 0.5" in enforced and "level.min -40, level.max -3" in enforced  # thresholds by score
    partial = build_report(results, {**summary, "qc": {"mode": "report"}})  # missing keys: still a page
    check_images(read_page(partial))
    assert "report-only mode" in partial


def test_precompute_results_give_a_page(tmp_path: Path) -> None:
    n = 12
    table = pa.table({
        "row": pa.array(range(n), pa.int64()), "id": [f"voice{i}" for i in range(n)],
        "status": ["ok"] * 10 + ["failed"] * 2, "error_kind": [None] * 10 + ["bad_audio"] * 2,
        "error": [None] * 10 + ["clip is silent"] * 2, "shard": pa.array([i // 4 for i in range(n)], pa.int64()),
        "attempt": ["run1"] * n, "worker": [f"w{i % 2}" for i in range(n)],
        "finished_at": pa.array([START + dt.timedelta(seconds=40 * i) for i in range(n)], pa.timestamp("us", "UTC")),
        "n_clips": pa.array([2] * n, pa.int32()), "ref_seconds": [5.0] * n, "file": [f"voices/v{i}" for i in range(n)],
    })  # fmt: skip
    summary = summary_of(tmp_path, table, "precompute_voices", wall=30.0)
    reader = read_page(build_report(table, summary))
    assert reader.sections == ["job", "counts", "throughput", "problems", "workers"]
    check_images(reader)
    keys = check_marked_numbers(reader, summary)
    assert {"rows", "rows_by_status.ok", "rows_by_status.failed", "failures_by_reason.bad_audio"} <= keys
    assert "audio_seconds" not in keys and "qc.checked" not in keys


def test_empty_results_and_a_stale_summary(tmp_path: Path) -> None:
    empty = results_table([])
    summary = summary_of(tmp_path, empty, "synthesize", 0.0)
    check_marked_numbers(read_page(build_report(empty, summary)), summary)
    table = results_table([ResultRow.ok({"row": 0, "id": "a"}, audio_uri="s3://b/a.wav", duration=1.0)])
    stale = {**summary_of(tmp_path, table, "synthesize", 1.0), "rows": 2}
    page = build_report(table, stale)
    assert "disagree" in page and "rows: 1 in results.parquet, 2 in summary.json" in page
    assert "s3://b/a.wav" not in read_page(page).links  # a browser cannot open s3://: shown, not linked


def _big_table(n: int, seed: int = 0) -> pa.Table:
    """``n`` rows in RESULT_SCHEMA, built column-wise: 90% ok, 5% failed, 5% qc_failed, qc on 80% of rows."""
    rng = np.random.default_rng(seed)
    draw = rng.random(n)
    status = np.where(draw < 0.9, "ok", np.where(draw < 0.95, "failed", "qc_failed"))
    kind = np.where(status == "ok", None, np.where(status == "qc_failed", "qc_failed",
                                                   np.where(draw < 0.93, "bad_text", "out_of_memory")))  # fmt: skip
    has_qc = rng.random(n) < 0.8
    failed = pa.array([["speaker"] if s == "qc_failed" else [] for s in status], pa.list_(pa.string()))
    scores = {"passed": pa.array(status != "qc_failed"), "failed": failed,
              "tokens_per_phone": pa.array(rng.normal(2.5, 0.3, n)),
              "speaker_similarity": pa.array(rng.normal(0.75, 0.08, n)),
              "token_longest_run": pa.array(rng.integers(1, 40, n).astype(np.int32)),
              "level_dbfs": pa.array(rng.normal(-20, 4, n))}  # fmt: skip
    qc = pa.StructArray.from_arrays([scores.get(f.name, pa.nulls(n, f.type)) for f in QC_TYPE], fields=list(QC_TYPE),
                                    mask=pa.array(~has_qc))  # fmt: skip
    finished = START.timestamp() * 1e6 + np.sort(rng.uniform(0, 3 * 3600e6, n))
    columns = {
        "row": pa.array(np.arange(n)), "id": pa.array([f"utt{i:07d}" for i in range(n)]),
        "voice_id": pa.array(np.char.add("v", rng.integers(0, 300, n).astype(str))), "status": pa.array(status),
        "error_kind": pa.array(kind), "error": pa.array(np.where(status == "ok", None, "why it failed")),
        "audio_uri": pa.array(np.char.add("s3://bucket/out/audio/", np.arange(n).astype(str))),
        "duration": pa.array(np.where(status == "failed", np.nan, rng.lognormal(1.0, 0.4, n)), from_pandas=True),
        "qc": qc, "worker": pa.array(np.char.add("host:", rng.integers(0, 16, n).astype(str))),
        "finished_at": pa.array(finished.astype(np.int64), pa.timestamp("us", "UTC")),
        "time_t2s": pa.array(rng.uniform(0.1, 0.3, n)),
    }  # fmt: skip
    return conform(pa.table(columns), RESULT_SCHEMA)


def test_two_hundred_thousand_rows_are_fast_and_small(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table = _big_table(200_000)
    summary = {**summary_of(tmp_path, table, "synthesize", wall=3 * 3600.0), "qc": qc_summary_big(table)}
    t0 = time.perf_counter()
    page = build_report(table, summary)
    seconds = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nreport of {table.num_rows:,} rows: {seconds:.2f} s, {len(page) / 1e6:.2f} MB")
    reader = read_page(page)
    check_images(reader)
    check_marked_numbers(reader, summary)
    assert seconds < 20 and len(page) < 3_000_000
    assert "more not shown" in page  # ~20k problem rows, 500 listed
    assert page.count("<td>failed</td>") > 50 and page.count("<td>qc_failed</td>") > 50  # each group gets a share


def qc_summary_big(table: pa.Table) -> dict[str, Any]:
    qc = table.column("qc")
    checked = len(qc) - qc.null_count
    n_qc_failed = int(pc.sum(pc.equal(table.column("status"), "qc_failed")).as_py())
    return {"mode": "enforce", "checked": checked, "qc_failed": n_qc_failed, "thresholds": THRESHOLDS}
