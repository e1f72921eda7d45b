"""The numbers and figures of the run report (:mod:`pipelines.report`): results table in, plain values and PNGs out.

Everything here works on whole Arrow columns (counts, group-bys, percentiles, histograms), so it stays fast and
bounded for millions of rows; no HTML is made here. Figures are drawn with matplotlib's Agg canvas, without pyplot:
each is a :class:`matplotlib.figure.Figure` on its own canvas, so a report changes no global matplotlib state and
works in any process. Each figure has a fixed size whatever the number of rows (arrays are binned first).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from manifests.qc import QC_SCORE_FIELDS
from manifests.results import STATUS_FAILED, STATUS_OK, STATUS_QC_FAILED


DPI = 90
HIST_BINS = 60
MAX_TIME_BINS = 1500  # throughput bins: wider than a minute once a run spans more than ~a day
BIN_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 360, 720, 1440)
OUTLIER_QUANTILES = (0.1, 99.9)  # histograms of more than OUTLIER_MIN_VALUES values clip to this percentile range
OUTLIER_MIN_VALUES = 1000
STATUS_COLORS = {STATUS_OK: "#3a923a", STATUS_FAILED: "#c0392b", STATUS_QC_FAILED: "#e67e22"}
BAR_COLOR, LINE_COLOR = "#5b7db1", "#c0392b"
STATUS_ORDER = {STATUS_FAILED: 0, STATUS_QC_FAILED: 1, STATUS_OK: 2}  # order of the listed problem rows

# score -> the (check, threshold key) pairs of summary["qc"]["thresholds"] that judge it
SCORE_THRESHOLDS: dict[str, tuple[tuple[str, str], ...]] = {
    "token_longest_run": (("token_run", "max"),), "token_longest_loop": (("token_loop", "max"),),
    "token_top_share": (("token_share", "max"),), "token_rate_ratio": (("token_rate", "min"), ("token_rate", "max")),
    "clipped_share": (("clipping", "max"),), "level_dbfs": (("level", "min"), ("level", "max")),
    "lead_silence": (("lead_silence", "max"),), "trail_silence": (("trail_silence", "max"),),
    "longest_pause": (("internal_silence", "max"),), "speech_ratio": (("speech_ratio", "min"),),
    "end_level_db": (("abrupt_end", "max"),), "longest_repeat": (("audio_repeat", "max"),),
    "duration_rate_ratio": (("duration_rate", "min"), ("duration_rate", "max")),
    "speaker_similarity": (("speaker", "min"),), "asr_error_rate": (("asr", "max_error"),),
}  # fmt: skip
CHECK_SCORES = {check: score for score, pairs in SCORE_THRESHOLDS.items() for check, _ in pairs}
CHECK_SCORES.update(token_cap="hit_token_cap", nonfinite="nonfinite")  # check -> the score it judges
NUMERIC_SCORES = tuple(f.name for f in QC_SCORE_FIELDS if pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
FLAG_SCORES = tuple(f.name for f in QC_SCORE_FIELDS if pa.types.is_boolean(f.type))
FIRST_DISTRIBUTIONS = ("duration", "qc.tokens_per_phone", "qc.speaker_similarity")
DISTRIBUTIONS = (*FIRST_DISTRIBUTIONS, *(f"qc.{s}" for s in NUMERIC_SCORES if f"qc.{s}" not in FIRST_DISTRIBUTIONS))

QC_DETAILS = ("passed", "failed", *NUMERIC_SCORES, *FLAG_SCORES, "asr_text")
DETAIL_COLUMNS = ("id", "audio_uri", "text", *(f"qc.{name}" for name in QC_DETAILS))  # of the listed rows only
Details = Mapping[int, Mapping[str, Any]]  # row -> DETAIL_COLUMNS of a listed row (qc: a dict of its QC_DETAILS)
ValuesOf = Callable[[str], np.ndarray]  # column or "qc.<field>" name -> its finite values (empty when absent)


# ---------------------------------------------------------------------------------------------------- columns
def has_column(schema: pa.Schema, name: str) -> bool:
    """Whether ``schema`` has the top-level column or ``qc.<field>`` sub-field ``name``."""
    if name.startswith("qc."):
        qc = schema.field("qc").type if "qc" in schema.names else None
        return qc is not None and pa.types.is_struct(qc) and qc.get_field_index(name[3:]) >= 0
    return name in schema.names


def column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    """A top-level column or a ``qc.<field>`` sub-field; None when the table lacks it."""
    if not has_column(table.schema, name):
        return None
    return pc.struct_field(table.column("qc"), name[3:]) if name.startswith("qc.") else table.column(name)


def finite(values: pa.ChunkedArray | None) -> np.ndarray:
    """Finite float64 values of a numeric column (nulls dropped); empty when the column is absent."""
    array = np.zeros(0) if values is None else pc.cast(values, pa.float64()).to_numpy()
    return array[np.isfinite(array)]


def is_value(values: pa.ChunkedArray, value: Any) -> pa.ChunkedArray:
    """Boolean mask: ``values == value`` (null counts as false)."""
    return pc.fill_null(pc.equal(values, value), False)


def _value_counts(values: pa.ChunkedArray) -> dict[str, int]:
    pairs = pc.value_counts(values).to_pylist()
    return dict(sorted((p["values"], p["counts"]) for p in pairs if p["values"]))


# ---------------------------------------------------------------------------------------------------- reading
def read_details(parquet: pq.ParquetFile, positions: np.ndarray) -> dict[int, dict[str, Any]]:
    """``row`` -> :data:`DETAIL_COLUMNS` of the rows at ``positions``, reading only the row groups that hold them."""
    schema = parquet.schema_arrow
    columns = [name for name in DETAIL_COLUMNS if has_column(schema, name)]
    if not columns or not len(positions) or "row" not in schema.names:
        return {}
    bounds = np.cumsum([0, *(parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups))])
    groups = np.searchsorted(bounds, positions, side="right") - 1
    details = {}
    for group in np.unique(groups):
        part = parquet.read_row_group(int(group), columns=["row", *columns])
        for row in part.take(pa.array(positions[groups == group] - bounds[group])).to_pylist():
            details[row.pop("row")] = row
    return details


def table_values(table: pa.Table) -> ValuesOf:
    """Finite values of a column of ``table``."""
    return lambda name: finite(column(table, name))


def file_values(parquet: pq.ParquetFile) -> ValuesOf:
    """Finite values of a column of a Parquet file, read one column at a time (memory: one column)."""
    schema = parquet.schema_arrow
    return lambda name: finite(column(parquet.read(columns=[name]), name)) if has_column(schema, name) else np.zeros(0)


# ---------------------------------------------------------------------------------------------------- counts
@dataclass(frozen=True)
class Counts:
    """What ``summary.json`` counts, recomputed from the results table the way compaction counts."""

    rows: int
    by_status: dict[str, int]
    by_kind: dict[str, int]  # failures by reason (error kind)
    invalid_by_check: dict[str, int]
    audio_seconds: float | None  # None: the table has no duration column

    @classmethod
    def of(cls, table: pa.Table) -> Counts:
        invalid = table.filter(is_value(table.column("error_kind"), "invalid_input"))
        checks = pc.list_element(pc.split_pattern(pc.fill_null(invalid.column("error"), ""), ":", max_splits=1), 0)
        duration = column(table, "duration")
        audio = None if duration is None else float(pc.sum(duration).as_py() or 0.0)
        by_status, by_kind = (_value_counts(table.column(name)) for name in ("status", "error_kind"))
        return cls(table.num_rows, by_status, by_kind, _value_counts(checks), audio)

    def mismatches(self, summary: Mapping[str, Any]) -> list[str]:
        """Where ``summary`` disagrees with these counts (empty: they agree)."""
        problems = []
        if "rows" in summary and summary["rows"] != self.rows:
            problems.append(f"rows: {self.rows} in results.parquet, {summary['rows']} in summary.json")
        for key, mine in (("rows_by_status", self.by_status), ("failures_by_reason", self.by_kind)):
            theirs = summary.get(key) or {}
            for name in sorted(set(mine) | set(theirs)):
                if mine.get(name, 0) != theirs.get(name, 0):
                    problems.append(f"{key}.{name}: {mine.get(name, 0)} in results.parquet, {theirs.get(name, 0)}")
        audio = summary.get("audio_seconds")
        if self.audio_seconds is not None and audio is not None and abs(self.audio_seconds - audio) > 0.01:
            problems.append(f"audio_seconds: {self.audio_seconds:.3f} in results.parquet, {audio}")
        return problems


def flag_counts(table: pa.Table) -> dict[str, int]:
    """Rows whose boolean QC flag (``hit_token_cap``, ``nonfinite``) is true, for the flags that have values."""
    flags = {n: c for n in FLAG_SCORES if (c := column(table, f"qc.{n}")) is not None and c.null_count < len(c)}
    return {name: int(pc.sum(pc.cast(values, pa.int64())).as_py() or 0) for name, values in flags.items()}


# ---------------------------------------------------------------------------------------------------- problem rows
def _fair_quotas(sizes: Sequence[int], cap: int) -> list[int]:
    """How many of each group to take so that at most ``cap`` are taken and small groups are taken whole."""
    quotas, left = [0] * len(sizes), cap
    for done, i in enumerate(sorted(range(len(sizes)), key=sizes.__getitem__)):
        quotas[i] = min(sizes[i], left // (len(sizes) - done))
        left -= quotas[i]
    return quotas


def pick_problems(table: pa.Table, cap: int) -> tuple[np.ndarray, int]:
    """Positions of the problem rows (not ``ok``, or ``ok`` but failing a QC check: report-only QC) the page lists.

    Returns up to ``cap`` positions shared fairly between (status, error kind) groups, in page order (failed, then
    quarantined, then flagged rows; by error kind; by position), and the number of problem rows.
    """
    mask = pc.invert(is_value(table.column("status"), STATUS_OK))
    if (passed := column(table, "qc.passed")) is not None:
        mask = pc.or_(mask, is_value(passed, False))
    positions = np.flatnonzero(mask.to_numpy())
    if not len(positions):
        return positions, 0
    picked = table.select(["status", "error_kind"]).take(pa.array(positions))
    keys = pc.binary_join_element_wise(picked.column("status"), pc.fill_null(picked.column("error_kind"), ""), "\t")
    encoded = pc.dictionary_encode(keys.combine_chunks())
    codes, names = encoded.indices.to_numpy(), encoded.dictionary.to_pylist()
    groups = [np.flatnonzero(codes == g) for g in range(len(names))]
    quotas = _fair_quotas([len(g) for g in groups], cap)
    order = sorted(range(len(names)), key=lambda g: (STATUS_ORDER.get(names[g].split("\t")[0], 3), names[g]))
    return positions[np.concatenate([groups[g][: quotas[g]] for g in order])], len(positions)


# ---------------------------------------------------------------------------------------------------- breakdowns
def _floats_or_nulls(table: pa.Table, name: str) -> pa.ChunkedArray:
    values = column(table, name)
    return pa.chunked_array([pa.nulls(table.num_rows, pa.float64())]) if values is None else values


def voice_breakdown(table: pa.Table, cap: int) -> tuple[list[dict[str, Any]], int]:
    """Up to ``cap`` voices (dicts: ``voice_id``, ``rows``, ``ok``, ``failed``, ``qc_failed``, ``audio_hours``,
    ``speaker_similarity``, the mean), the most failed and quarantined rows first; and the number of voices."""
    status = table.column("status")
    flags = {s: pc.cast(is_value(status, s), pa.int64()) for s in (STATUS_OK, STATUS_FAILED, STATUS_QC_FAILED)}
    parts = pa.table({"voice_id": table.column("voice_id"), **flags,
                      "audio_seconds": pc.cast(_floats_or_nulls(table, "duration"), pa.float64()),
                      "speaker_similarity": _floats_or_nulls(table, "qc.speaker_similarity")})  # fmt: skip
    grouped = parts.group_by("voice_id").aggregate(
        [(STATUS_OK, "count"), *((s, "sum") for s in flags), ("audio_seconds", "sum"), ("speaker_similarity", "mean")]
    )
    bad = pc.add(grouped.column(f"{STATUS_FAILED}_sum"), grouped.column(f"{STATUS_QC_FAILED}_sum"))
    grouped = grouped.append_column("_bad", bad).sort_by([("_bad", "descending"), ("ok_count", "descending")])
    rows = [
        {"voice_id": r["voice_id"] or "(none)", "rows": r["ok_count"], **{s: r[f"{s}_sum"] for s in flags},
         "audio_hours": None if r["audio_seconds_sum"] is None else r["audio_seconds_sum"] / 3600,
         "speaker_similarity": r["speaker_similarity_mean"]}
        for r in grouped.slice(0, cap).to_pylist()
    ]  # fmt: skip
    return rows, grouped.num_rows


def worker_breakdown(table: pa.Table, cap: int) -> tuple[list[dict[str, Any]], int]:
    """Up to ``cap`` workers (dicts: ``worker``, ``rows``, ``audio_seconds``, ``first`` and ``last`` finish time,
    ``rows_per_minute`` between them), by first finish; and the number of workers."""
    parts = pa.table({"worker": table.column("worker"), "status": table.column("status"),
                      "audio_seconds": pc.cast(_floats_or_nulls(table, "duration"), pa.float64()),
                      "finished_at": table.column("finished_at")})  # fmt: skip
    aggregates = [("status", "count"), ("audio_seconds", "sum"), ("finished_at", "min"), ("finished_at", "max")]
    grouped = parts.group_by("worker").aggregate(aggregates).sort_by("finished_at_min")
    rows = []
    for r in grouped.slice(0, cap).to_pylist():
        first, last = r["finished_at_min"], r["finished_at_max"]
        minutes = (last - first).total_seconds() / 60 if first and last else 0.0
        per_minute = r["status_count"] / minutes if minutes else None
        rows.append({"worker": r["worker"] or "(none)", "rows": r["status_count"], "first": first, "last": last,
                     "audio_seconds": r["audio_seconds_sum"], "rows_per_minute": per_minute})  # fmt: skip
    return rows, grouped.num_rows


# ---------------------------------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class Distribution:
    """One histogram of the page: a column's finite values, summarised, with the QC thresholds that judge them."""

    name: str
    n: int
    quantiles: tuple[float, float, float, float, float]  # min, p5, median, p95, max
    thresholds: tuple[tuple[str, float], ...]  # ("check.key", value)
    image: str  # PNG data URI


def score_thresholds(score: str, thresholds: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """The numeric thresholds of ``summary["qc"]["thresholds"]`` that judge ``score`` (missing keys skipped)."""
    lines = []
    for check, key in SCORE_THRESHOLDS.get(score, ()):
        limits = thresholds.get(check)
        value = limits.get(key) if isinstance(limits, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
            lines.append((f"{check}.{key}", float(value)))
    return tuple(lines)


def distributions(values_of: ValuesOf, thresholds: Mapping[str, Any]) -> list[Distribution]:
    """Histograms of ``duration`` and every numeric QC score that has values, in :data:`DISTRIBUTIONS` order."""
    found = []
    for name in DISTRIBUTIONS:
        values = values_of(name)
        if not len(values):
            continue
        short = name.removeprefix("qc.")
        lines = score_thresholds(short, thresholds)
        quantiles = (values.min(), *np.percentile(values, [5, 50, 95]), values.max())
        image = histogram(values, short, lines)
        found.append(Distribution(short, len(values), tuple(float(q) for q in quantiles), lines, image))
    return found


def throughput_image(table: pa.Table) -> str | None:
    """The throughput figure from ``finished_at`` (and ``duration``), or None when no row has a finish time."""
    finished = column(table, "finished_at")
    if finished is None or finished.null_count == len(finished):
        return None
    valid = pc.is_valid(finished)
    finished_us = pc.cast(finished.filter(valid), pa.int64()).to_numpy()
    duration = column(table, "duration")
    audio = None if duration is None else pc.cast(duration.filter(valid), pa.float64()).to_numpy()
    return throughput_chart(finished_us, audio)


# ---------------------------------------------------------------------------------------------------- figures
def data_uri(fig: Figure) -> str:
    """``data:image/png;base64,...`` of ``fig`` rendered by the Agg canvas."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plain(label: str) -> str:
    """A data string made safe for matplotlib text (``$`` would start mathtext)."""
    return str(label).replace("$", r"\$")


def bar_chart(labels: Sequence[str], counts: Sequence[int], title: str) -> str:
    """Horizontal bars of row counts (statuses in their colour), each labelled with its count; one bar per label."""
    fig = Figure(figsize=(6.0, 0.9 + 0.32 * len(labels)), layout="tight")
    ax = fig.add_subplot()
    positions = np.arange(len(labels))
    bars = ax.barh(positions, counts, color=[STATUS_COLORS.get(label, BAR_COLOR) for label in labels])
    ax.set_yticks(positions, [plain(label) for label in labels])
    ax.invert_yaxis()
    ax.bar_label(bars, labels=[f"{int(c):,}" for c in counts], padding=3, fontsize=8)
    ax.margins(x=0.18)
    ax.set_xlabel("rows")
    ax.set_title(plain(title), fontsize=10)
    return data_uri(fig)


def bin_minutes(span_minutes: float) -> int:
    """Width in minutes of the throughput bins: one minute unless the run spans MAX_TIME_BINS minutes or more."""
    for width in BIN_MINUTES:
        if span_minutes / width < MAX_TIME_BINS:
            return width
    return int(np.ceil(span_minutes / MAX_TIME_BINS / 1440)) * 1440


def throughput_chart(finished_us: np.ndarray, audio_seconds: np.ndarray | None) -> str:
    """Rows (and audio seconds) finished per minute of wall time.

    Args:
        finished_us: (n,) int64 finish times, microseconds since the epoch (UTC); n > 0.
        audio_seconds: (n,) seconds of audio of each row (NaN where none), or None to draw rows only.
    """
    start = int(finished_us.min())
    minutes = (finished_us - start) / 60e6
    width = bin_minutes(float(minutes.max()))
    index = (minutes // width).astype(np.int64)
    n_bins = int(index.max()) + 1
    edges = np.arange(n_bins + 1) * width
    panels = [("rows / min", np.bincount(index, minlength=n_bins) / width)]
    if audio_seconds is not None:
        audio = np.bincount(index, weights=np.nan_to_num(audio_seconds), minlength=n_bins) / width
        panels.append(("audio s / min", audio))
    fig = Figure(figsize=(8.5, 0.6 + 1.9 * len(panels)), layout="tight")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    scale, unit = (60.0, "hours") if edges[-1] > 600 else (1.0, "minutes")
    for ax, (label, values) in zip(axes, panels, strict=True):
        ax.stairs(values, edges / scale, fill=True, color=BAR_COLOR, alpha=0.85)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    began = dt.datetime.fromtimestamp(start / 1e6, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    axes[-1].set_xlabel(f"{unit} since {began} UTC (bins of {width} min)")
    axes[0].set_title("throughput over the run", fontsize=10)
    return data_uri(fig)


def _value_range(values: np.ndarray, thresholds: Sequence[float]) -> tuple[float, float]:
    if len(values) > OUTLIER_MIN_VALUES:
        lo, hi = (float(q) for q in np.percentile(values, OUTLIER_QUANTILES))
    else:
        lo, hi = float(values.min()), float(values.max())
    lo, hi = min([lo, *thresholds]), max([hi, *thresholds])
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)


def _bins(values: np.ndarray, lo: float, hi: float) -> np.ndarray | int:
    """Integer-centred bins for integer scores of a small range, else HIST_BINS equal bins."""
    if hi - lo <= HIST_BINS and np.all(np.mod(values[:10_000], 1) == 0):
        return np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0)
    return HIST_BINS


def histogram(values: np.ndarray, title: str, thresholds: Sequence[tuple[str, float]] = ()) -> str:
    """Histogram of finite ``values`` with each threshold drawn as a dashed vertical line.

    Beyond OUTLIER_MIN_VALUES values the range is the 0.1-99.9th percentile (widened to the thresholds); values
    outside it are drawn in the edge bins and counted in the title.

    Args:
        values: (n,) finite floats, n > 0. title: what they are.
        thresholds: (label, value) pairs, e.g. ``("speaker.min", 0.5)``.
    """
    lo, hi = _value_range(values, [value for _, value in thresholds])
    n_out = int(np.count_nonzero((values < lo) | (values > hi)))
    fig = Figure(figsize=(4.7, 2.7), layout="tight")
    ax = fig.add_subplot()
    ax.hist(np.clip(values, lo, hi), bins=_bins(values, lo, hi), range=(lo, hi), color=BAR_COLOR)
    for label, value in thresholds:
        ax.axvline(value, color=LINE_COLOR, linestyle="--", linewidth=1.2, label=f"{plain(label)} = {value:g}")
    if thresholds:
        ax.legend(fontsize=7, loc="best")
    note = f", {n_out:,} outlier{'s' if n_out > 1 else ''} in the edge bins" if n_out else ""
    ax.set_title(f"{plain(title)} (n={len(values):,}{note})", fontsize=9)
    ax.set_ylabel("rows", fontsize=8)
    ax.tick_params(labelsize=8)
    return data_uri(fig)
