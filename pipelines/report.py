"""The run report: ``OUT/report.html``, one self-contained page a person reads after a run.

The page has no external files and needs no JavaScript: inline CSS, plots embedded as base64 PNG. Its size is
bounded whatever the number of rows: plots are drawn from binned arrays and every table stops at
:data:`MAX_TABLE_ROWS` rows with a line saying how many were left out. The numbers and figures are computed in
:mod:`pipelines.report_plots`; this module reads the results and writes the HTML.

Sections, each present only when its data exists (the voice precompute job has no ``duration`` and no ``qc``):
job; rows by status, failures by reason, QC counts; throughput; distributions of duration and QC scores with their
thresholds; failed, quarantined and flagged rows with links to their audio; per-voice and per-worker tables.

Every number that ``summary.json`` also holds carries ``data-summary-key="<dotted key>"``. Row counts and audio
seconds are recomputed from ``results.parquet`` (a stale summary shows as a warning at the top); the rest comes from
the summary. Every string that comes from data is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.results import FINAL_KINDS, STATUS_OK
from pipelines import report_plots as rp
from pipelines.report_html import _clip, _e, _fields, _img, _is_number, _num, _section, _table, _td, chapters_section
from pipelines.storage import Storage


logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
RESULTS_FILE = "results.parquet"  # pipelines.engine.plan's, not imported from there: the engine imports this module
TABLE_COLUMNS = ("row", "voice_id", "status", "error_kind", "error", "duration", "worker", "finished_at")
QC_COLUMNS = ("passed", "failed", "speaker_similarity", *rp.FLAG_SCORES)  # the rest: one column at a time
MAX_TABLE_ROWS = 500
MAX_ERRORS, MAX_TEXT_CHARS = 300, 160  # characters of an error, a text shown
_LINK_SCHEMES = ("http:", "https:", "file:")

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1250px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}th{background:#f3f3f3}.muted{color:#777}
th,td{border:1px solid #ddd;padding:.2em .5em;vertical-align:top;text-align:left}img{max-width:100%}h3{font-size:1em}
td.n{text-align:right;font-variant-numeric:tabular-nums}.badge{padding:.1em .5em;border-radius:.3em;color:#fff}
.ok{background:#3a923a}.failed_rows{background:#e67e22}.incomplete{background:#c0392b}.other{background:#777}
.note,.warn{padding:.5em .8em;border-left:4px solid #e6a700;background:#fff6dd}.grid{display:flex;flex-wrap:wrap}
.warn{border-color:#c0392b;background:#fde8e6}h4{font-size:.95em}.grid{gap:.6em}
"""


# ---------------------------------------------------------------------------------------------------- API
def write_report(storage: Storage, summary: Mapping[str, Any], *, title: str | None = None) -> str:
    """Build the job's report from its ``results.parquet`` and write ``report.html`` atomically; return its URL.

    Memory stays small: only the columns the page needs are read, QC scores one column at a time, and ids, audio
    URIs, texts and scores of the listed rows from the row groups that hold them.

    Args:
        storage: the job's output folder (holds ``results.parquet``).
        summary: the job's ``summary.json`` document.
        title: the page's title (default: names the mode).
    """
    with storage.open(RESULTS_FILE, "rb") as fh:
        parquet = pq.ParquetFile(fh)
        results = parquet.read(columns=_wanted_columns(parquet.schema_arrow))
        details = rp.read_details(parquet, rp.pick_problems(results, MAX_TABLE_ROWS)[0])
        found = rp.distributions(rp.file_values(parquet), _thresholds(summary))
    link = relative_link(storage.url())
    page = build_report(results, summary, audio_base=link, title=title, details=details, distributions=found)
    storage.write_bytes(REPORT_FILE, page.encode("utf-8"))
    logger.info("wrote %s (%.0f kB)", storage.url(REPORT_FILE), len(page) / 1e3)
    return storage.url(REPORT_FILE)


def build_report(
    results: pa.Table,
    summary: Mapping[str, Any],
    *,
    audio_base: Callable[[str], str] | None = None,
    title: str | None = None,
    details: rp.Details | None = None,
    distributions: list[rp.Distribution] | None = None,
) -> str:
    """The report page (HTML) of a job's results table and summary.

    Args:
        results: the job's results (any subset of ``RESULT_SCHEMA``'s columns with ``status``, ``error_kind``
            and ``error``; ``qc`` may hold a subset of its fields).
        summary: the job's ``summary.json`` document.
        audio_base: maps an ``audio_uri`` to the link the page shows (default: the URI itself).
        title: the page's title (default: names the mode).
        details: ``row`` -> the ``report_plots.DETAIL_COLUMNS`` of the listed rows, for a table read without them.
        distributions: the histograms, when drawn from elsewhere (default: from ``results``).
    """
    counts = rp.Counts.of(results)
    title = title or f"sovits-batch report: {summary.get('mode', 'job')}"
    qc = summary.get("qc") if isinstance(summary.get("qc"), Mapping) else None
    found = (
        rp.distributions(rp.table_values(results), _thresholds(summary)) if distributions is None else distributions
    )
    sections = [
        _header(summary),
        _warnings(counts.mismatches(summary)),
        _counts_section(counts, summary, qc),
        _throughput_section(results, counts, summary),
        _distributions_section(found, rp.flag_counts(results)),
        _problems_section(results, audio_base or (lambda uri: uri), details or {}),
        chapters_section(summary, audio_base or (lambda uri: uri)),
        _voices_section(results),
        _workers_section(results),
    ]
    body = "\n".join(s for s in sections if s)
    built = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head>\n<body>\n<h1>{_e(title)}</h1>\n{body}\n"
        f'<p class="muted">report built {built}</p>\n</body>\n</html>\n'
    )


def relative_link(root_url: str) -> Callable[[str], str]:
    """Maps a URI under ``root_url`` (the report's folder) to a relative link, so a copied folder keeps its links."""
    prefix = root_url.rstrip("/") + "/"

    def link(uri: str) -> str:
        return urllib.parse.quote(uri[len(prefix) :], safe="/") if uri.startswith(prefix) else uri

    return link


# ---------------------------------------------------------------------------------------------------- reading
def _thresholds(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    qc = summary.get("qc")
    return (qc.get("thresholds") or {}) if isinstance(qc, Mapping) else {}


def _wanted_columns(schema: pa.Schema) -> list[str]:
    """The columns (and ``qc`` sub-fields) of the table the page is built from that the file has."""
    return [name for name in (*TABLE_COLUMNS, *(f"qc.{n}" for n in QC_COLUMNS)) if rp.has_column(schema, name)]


# ---------------------------------------------------------------------------------------------------- HTML helpers
def _when(value: dt.datetime | None) -> str:
    return "–" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


# ---------------------------------------------------------------------------------------------------- job and counts
def _header(summary: Mapping[str, Any]) -> str:
    status = str(summary.get("status", "unknown"))
    badge = status if status in ("ok", "failed_rows", "incomplete") else "other"
    fingerprints = ", ".join(map(str, (summary.get("model_fingerprints") or [])[:20])) or "–"
    return _section("job", "Job", [_fields([
        ("mode", _td(summary.get("mode", "–"))),
        ("status", f'<td><span class="badge {badge}">{_e(status)}</span></td>'),
        ("exit code", _td(summary.get("exit_code"), "exit_code")),
        ("manifest", _td(summary.get("manifest", "–"))),
        ("plan fingerprint", _td(summary.get("plan_fingerprint", "–"))),
        ("shards", _td(summary.get("n_shards"), "n_shards")),
        ("runs", _td(summary.get("runs"), "runs")),
        ("model fingerprints", _td(fingerprints)),
        ("updated at", _td(summary.get("updated_at", "–"))),
    ])])  # fmt: skip


def _warnings(problems: list[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(p)}</li>" for p in problems)
    return f'<div class="warn">results.parquet and summary.json disagree (a stale summary?):<ul>{items}</ul></div>'


def _counts_section(counts: rp.Counts, summary: Mapping[str, Any], qc: Mapping[str, Any] | None) -> str:
    by_status = {s: 0 for s in summary.get("rows_by_status") or {}} | counts.by_status
    statuses = sorted(by_status, key=lambda s: (rp.STATUS_ORDER.get(s, 3) if s != STATUS_OK else -1, s))
    share = (lambda n: f"{100 * n / counts.rows:.2f}%") if counts.rows else (lambda n: "–")
    parts = [
        f'<p>rows: <strong data-summary-key="rows">{_num(counts.rows)}</strong>; left for a rerun (retryable '
        f'failures): <span data-summary-key="retryable_rows">{_num(summary.get("retryable_rows"))}</span></p>',
        _table(["status", "rows", "share"],
               [[_td(s), _td(by_status[s], f"rows_by_status.{s}"), _td(share(by_status[s]))] for s in statuses]),
        _img(rp.bar_chart(statuses, [by_status[s] for s in statuses], "rows by status"), "rows by status"),
    ]  # fmt: skip
    if counts.by_kind:
        kinds = sorted(counts.by_kind, key=lambda k: (-counts.by_kind[k], k))
        rows = [[_td(k), _td(counts.by_kind[k], f"failures_by_reason.{k}"), _td(share(counts.by_kind[k])),
                 _td("final: not retried" if k in FINAL_KINDS else "retryable: retried")] for k in kinds]  # fmt: skip
        parts += ["<h3>Failures by reason</h3>", _table(["error kind", "rows", "share", "on a rerun"], rows)]
    if counts.invalid_by_check:
        rows = [[_td(c), _td(n, f"invalid_by_check.{c}")] for c, n in counts.invalid_by_check.items()]
        parts += ["<h3>Invalid input rows by check</h3>", _table(["check", "rows"], rows)]
    if qc is not None:
        parts.append(_qc_counts(qc))
    return _section("counts", "Rows", parts)


_QC_NOTES = {
    "report": "QC ran in <strong>report-only mode</strong>: rows were kept even when checks failed (such rows are "
    "counted as flagged and listed below, not retried or quarantined).",
    "enforce": "QC was enforced: a row failing a check was retried, then quarantined as <code>qc_failed</code>.",
    "off": "QC was off: no checks ran.",
}
_QC_COUNTS = ("checked", "passed", "passed_first_attempt", "passed_after_retry", "qc_failed", "flagged", "retries")


def _qc_counts(qc: Mapping[str, Any]) -> str:
    mode = qc.get("mode")
    parts = ["<h3>Quality control</h3>", f'<p class="note">{_QC_NOTES.get(mode, f"QC mode: {_e(mode)}")}</p>']
    rows = [[_td(k), _td(qc[k], f"qc.{k}")] for k in _QC_COUNTS if k in qc]
    parts.append(_table(["count", "rows"], rows) if rows else "")
    failed, thresholds = qc.get("failed_checks") or {}, qc.get("thresholds") or {}
    checks = sorted(set(failed) | set(thresholds), key=lambda c: (-failed.get(c, 0), c))
    counted = "failed_checks" in qc
    rows = [[_td(c), _td(failed.get(c, 0) if counted else None, f"qc.failed_checks.{c}" if c in failed else None),
             _td(_limits(thresholds.get(c)))] for c in checks]  # fmt: skip
    parts.append(f"<h4>Checks</h4>\n{_table(['check', 'rows failing', 'thresholds'], rows)}" if rows else "")
    return "\n".join(p for p in parts if p)


def _limits(limits: Any) -> str:
    if isinstance(limits, Mapping):
        return ", ".join(f"{k} {v}" for k, v in limits.items()) or "–"
    return "–" if limits is None else str(limits)


# ---------------------------------------------------------------------------------------------------- throughput
_SPEED_KEYS = (("real-time factor (wall s per audio s)", "real_time_factor"), ("wall seconds", "wall_seconds"),
               ("audio seconds per wall second", "audio_seconds_per_wall_second"),
               ("model seconds", "model_seconds"))  # fmt: skip


def _throughput_section(results: pa.Table, counts: rp.Counts, summary: Mapping[str, Any]) -> str:
    pairs = [(label, _td(summary[key], key)) for label, key in _SPEED_KEYS if key in summary]
    if counts.audio_seconds is not None:
        pairs += [("audio seconds", _td(round(counts.audio_seconds, 3), "audio_seconds")),
                  ("audio hours", _td(round(counts.audio_seconds / 3600, 4), "audio_hours"))]  # fmt: skip
    wall = summary.get("wall_seconds")
    if _is_number(wall) and wall > 0:
        pairs.append(("rows per wall second", _td(counts.rows / wall, digits=3)))
    image = rp.throughput_image(results)
    if not pairs and image is None:
        return ""
    chart = _img(image, "throughput over the run") if image else ""
    return _section("throughput", "Throughput", [_fields(pairs) if pairs else "", chart])


# ---------------------------------------------------------------------------------------------------- distributions
def _distributions_section(found: list[rp.Distribution], flags: dict[str, int]) -> str:
    if not found and not flags:
        return ""
    rows = [
        [_td(d.name), _td(d.n), *(_td(q, digits=4) for q in d.quantiles), _td(_lines(d.thresholds))] for d in found
    ]
    head = ["value", "n", "min", "p5", "median", "p95", "max", "thresholds"]
    flag_rows = [[_td(name), _td(n)] for name, n in flags.items()]
    return _section("distributions", "Distributions", [
        '<p class="muted">dashed red lines: the QC thresholds that judge the value.</p>' if found else "",
        f'<div class="grid">{"".join(_img(d.image, f"distribution of {d.name}") for d in found)}</div>',
        _table(head, rows) if rows else "",
        f"<h3>Flags</h3>\n{_table(['flag', 'rows true'], flag_rows)}" if flags else "",
    ])  # fmt: skip


def _lines(thresholds: tuple[tuple[str, float], ...]) -> str:
    return ", ".join(f"{label} {value:g}" for label, value in thresholds) or "–"


# ---------------------------------------------------------------------------------------------------- problem rows
def _audio_link(uri: str | None, audio_base: Callable[[str], str]) -> str:
    if not uri:
        return "<td>–</td>"
    href = audio_base(uri)
    scheme = href.split("/", 1)[0]
    if ":" in scheme and not href.startswith(_LINK_SCHEMES):
        return f"<td>{_e(href)}</td>"  # s3://... cannot be opened by a browser; no javascript: either
    return f'<td><a href="{_e(href)}">{_e(urllib.parse.unquote(href.rsplit("/", 1)[-1]))}</a></td>'


def _key_scores(qc: Mapping[str, Any] | None, duration: float | None) -> str:
    qc = qc or {}
    names = [rp.CHECK_SCORES.get(c) for c in qc.get("failed") or []] + ["speaker_similarity"]
    shown = [f"{n}={qc[n]:.4g}" if isinstance(qc[n], float) else f"{n}={qc[n]}"
             for n in dict.fromkeys(names) if n and qc.get(n) is not None]  # fmt: skip
    return "; ".join(([f"duration={duration:.2f}s"] if duration is not None else []) + shown) or "–"


def _problem_cells(row: dict[str, Any], audio_base: Callable[[str], str]) -> list[str]:
    qc = row.get("qc") or {}
    asr_text = qc.get("asr_text")
    heard = f" → heard: {_clip(asr_text, MAX_TEXT_CHARS)}" if asr_text else ""
    status = "ok (flagged)" if row["status"] == STATUS_OK else row["status"]
    cells = [row.get("id"), row.get("voice_id"), status, row.get("error_kind"), _clip(row.get("error"), MAX_ERRORS),
             ", ".join(qc.get("failed") or []), _key_scores(qc, row.get("duration")),
             _clip(row.get("text"), MAX_TEXT_CHARS) + heard]  # fmt: skip
    return [*(_td(cell or "–") for cell in cells), _audio_link(row.get("audio_uri"), audio_base)]


def _problems_section(results: pa.Table, audio_base: Callable[[str], str], details: rp.Details) -> str:
    positions, n_total = rp.pick_problems(results, MAX_TABLE_ROWS)
    if not n_total:
        return ""
    rows = [{**r, **details.get(r.get("row"), {})} for r in results.take(pa.array(positions)).to_pylist()]
    head = ["id", "voice", "status", "error kind", "error", "failed checks", "key scores", "text", "audio"]
    return _section("problems", "Failed, quarantined and flagged rows", [
        f'<p class="muted">{n_total:,} rows are not ok or failed a QC check; when more than {MAX_TABLE_ROWS} '
        "exist, each (status, error kind) group gets a fair share of the rows shown. Audio links are relative to "
        "this page when the audio lies in the job folder.</p>",
        _table(head, [_problem_cells(r, audio_base) for r in rows], n_total),
    ])  # fmt: skip


# ---------------------------------------------------------------------------------------------------- breakdowns
_VOICE_COLUMNS = (("voice", "voice_id", None), ("rows", "rows", None), ("ok", "ok", None), ("failed", "failed", None),
                  ("qc_failed", "qc_failed", None), ("audio hours", "audio_hours", 4),
                  ("mean speaker similarity", "speaker_similarity", 3))  # fmt: skip
_WORKER_COLUMNS = (("worker", "worker", None), ("rows", "rows", None), ("audio seconds", "audio_seconds", 1),
                   ("first finished (UTC)", "first", None), ("last finished (UTC)", "last", None),
                   ("rows per minute", "rows_per_minute", 1))  # fmt: skip


def _breakdown(items: list[dict[str, Any]], n_total: int, columns: tuple[tuple[str, str, int | None], ...]) -> str:
    """A table of ``items`` by (heading, key, float digits) ``columns``."""
    cells = [[_td(_when(v) if isinstance(v := item[key], dt.datetime) else v, digits=d) for _, key, d in columns]
             for item in items]  # fmt: skip
    return _table([heading for heading, _, _ in columns], cells, n_total)


def _voices_section(results: pa.Table) -> str:
    if "voice_id" not in results.column_names or not results.num_rows:
        return ""
    table = _breakdown(*rp.voice_breakdown(results, MAX_TABLE_ROWS), _VOICE_COLUMNS)
    return _section("voices", "Per voice", ['<p class="muted">most failed and quarantined rows first.</p>', table])


def _workers_section(results: pa.Table) -> str:
    if not {"worker", "finished_at"} <= set(results.column_names) or not results.num_rows:
        return ""
    table = _breakdown(*rp.worker_breakdown(results, MAX_TABLE_ROWS), _WORKER_COLUMNS)
    return _section("workers", "Per worker", [table])
