"""From synthesized segments to a finished book: chapters stitched as soon as they are complete, captions, the
timeline, the M4B.

:class:`BookBuilder` lives in the job's driver. As shards finish (``shard_done``) it learns which segments have a
final result; a chapter whose every segment is done is stitched at once on a CPU task (a Ray task with no GPU while
the pool runs, a thread otherwise), so the synthesis actors never wait for stitching. ``finish`` stitches what is
left, writes each chapter's captions (WebVTT and SRT), ``timeline.parquet`` and ``book.m4b``.

A chapter is stitched again only when its segments changed (a re-render): its state file
``_job/chapters/{index:03d}.json`` records a fingerprint of the segment takes it was made from, so a rerun leaves
every other chapter byte for byte as it was.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from manifests.results import STATUS_OK, STATUS_QC_FAILED
from pipelines.audiobook.captions import cues_from_timings, to_srt, to_webvtt
from pipelines.audiobook.master import MasterPreset, render_chapter
from pipelines.audiobook.stitch import Piece
from pipelines.storage import Storage, get_storage


logger = logging.getLogger(__name__)

CHAPTER_STATE = "_job/chapters/{:03d}.json"
TIMELINE_FILE = "timeline.parquet"
M4B_FILE = "book.m4b"
_SLUG = re.compile(r"[^A-Za-z0-9]+")

TIMELINE_SCHEMA = pa.schema(
    [
        pa.field("chapter", pa.int32()),
        pa.field("chapter_title", pa.string()),
        pa.field("segment", pa.int32()),
        pa.field("id", pa.string()),
        pa.field("text", pa.string()),
        pa.field("start", pa.float64()),  # seconds in the chapter file
        pa.field("end", pa.float64()),
        pa.field("voice_id", pa.string()),
        pa.field("status", pa.string()),
        pa.field("take", pa.int32()),
        pa.field("speaker_similarity", pa.float64()),
        pa.field("qc_failed_checks", pa.list_(pa.string())),
        pa.field("audio_key", pa.string()),
        pa.field("chapter_key", pa.string()),
    ]
)


@dataclass(frozen=True)
class SegmentPlan:
    """One planned segment of a chapter (from the plan rows)."""

    id: str
    segment: int
    text: str
    voice_id: str
    boundary: str
    pause_after: float


@dataclass(frozen=True)
class ChapterPlan:
    index: int
    title: str
    segments: tuple[SegmentPlan, ...]

    def key(self, fmt: str) -> str:
        slug = _SLUG.sub("-", self.title).strip("-").lower()[:40] or "chapter"
        return f"chapters/{self.index:03d}-{slug}.{fmt}"


def chapter_plans(rows: pa.Table, titles: dict[int, str]) -> list[ChapterPlan]:
    """The chapters of the plan rows, in book order."""
    by_chapter: dict[int, list[SegmentPlan]] = {}
    for r in rows.select(["id", "chapter", "segment", "text", "voice_id", "boundary", "pause_after"]).to_pylist():
        by_chapter.setdefault(r["chapter"], []).append(
            SegmentPlan(r["id"], r["segment"], r["text"], r["voice_id"], r["boundary"], r["pause_after"])
        )
    return [ChapterPlan(c, titles.get(c, f"Chapter {c}"), tuple(s)) for c, s in sorted(by_chapter.items())]


def _relative(storage: Storage, url: str) -> str:
    root = storage.url().rstrip("/") + "/"
    if not url.startswith(root):
        raise ValueError(f"segment audio {url} is not under the job folder {root}")
    return url[len(root) :]


def stitch_chapter(job_url: str, chapter: ChapterPlan, keys: dict[str, str], preset: MasterPreset) -> dict[str, Any]:
    """Render one chapter (a CPU task): stitch its segments, encode, check, publish; return its state."""
    started_at, started = time.time(), time.perf_counter()
    storage = get_storage(job_url)
    pieces: list[Piece] = []
    for seg in chapter.segments:
        pieces.append(Piece.audio(keys[seg.id], seg.boundary, seg.text))  # type: ignore[arg-type]
        if seg.pause_after > 0:
            pieces.append(Piece.pause(seg.pause_after))
    out = render_chapter(storage, pieces, chapter.key(preset.format), preset)
    audio = [t for t in out.stitch.timings if t.kind == "audio"]
    captions = cues_from_timings(out.stitch.timings)
    base = f"captions/{chapter.index:03d}"
    storage.write_text(f"{base}.vtt", to_webvtt(captions))
    storage.write_text(f"{base}.srt", to_srt(captions))
    return {
        "index": chapter.index,
        "title": chapter.title,
        "key": out.key,
        "duration_s": out.stitch.duration_s,
        "timings": [[seg.id, t.start_s, t.end_s] for seg, t in zip(chapter.segments, audio, strict=True)],
        "loudness_lufs": out.stitch.loudness_after_lufs,
        "true_peak_dbtp": out.stitch.true_peak_dbtp,
        "compliance": out.report.to_dict() if out.report is not None else None,
        "captions": [f"{base}.vtt", f"{base}.srt"],
        "seconds": round(time.perf_counter() - started, 3),  # wall seconds of the task (benchmarks/audiobook.py)
        "started_at": started_at,  # epoch seconds: task start / end (stitch overlap with synthesis)
        "finished_at": time.time(),
    }


def _fingerprint(chapter: ChapterPlan, results: dict[str, dict[str, Any]], preset: MasterPreset) -> str:
    parts = [[s.id, s.text, s.boundary, s.pause_after, results[s.id].get("audio_uri"), results[s.id].get("take"),
              results[s.id].get("attempt")] for s in chapter.segments]  # fmt: skip
    doc = {"segments": parts, "title": chapter.title, "preset": repr(preset)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


class BookBuilder:
    """Chapters stitched as they complete, then the book's outputs (see the module docstring)."""

    def __init__(self, storage: Storage, chapters: list[ChapterPlan], preset: MasterPreset) -> None:
        self.storage, self.chapters, self.preset = storage, chapters, preset
        self.results: dict[str, dict[str, Any]] = {}
        self.pending: dict[int, Any] = {}  # chapter -> future / Ray ref of its stitch task
        self.done: dict[int, dict[str, Any]] = {}
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None

    # ---------------------------------------------------------------------------------------------- as shards finish
    def add_results(self, rows: list[dict[str, Any]]) -> None:
        """Learn segment results (latest per row) and start the chapters that are now complete."""
        for row in rows:
            self.results[row["id"]] = row
        for chapter in self.chapters:
            if chapter.index not in self.pending and chapter.index not in self.done and self._ready(chapter):
                self._submit(chapter)

    def _ready(self, chapter: ChapterPlan) -> bool:
        return all(self.results.get(s.id, {}).get("status") in (STATUS_OK, STATUS_QC_FAILED) for s in chapter.segments)

    def _keys(self, chapter: ChapterPlan) -> dict[str, str]:
        return {s.id: _relative(self.storage, self.results[s.id]["audio_uri"]) for s in chapter.segments}

    def _current(self, chapter: ChapterPlan) -> dict[str, Any] | None:
        """The chapter's state when it is up to date with its segments (nothing to redo)."""
        try:
            state = json.loads(self.storage.read_bytes(CHAPTER_STATE.format(chapter.index)))
        except Exception:  # noqa: BLE001 - absent or unreadable: stitch again
            return None
        fresh = state.get("fingerprint") == _fingerprint(chapter, self.results, self.preset)
        return state if fresh and self.storage.exists(state["key"]) else None

    def _submit(self, chapter: ChapterPlan) -> None:
        state = self._current(chapter)
        if state is not None:
            self.done[chapter.index] = state
            return
        args = (self.storage.url(), chapter, self._keys(chapter), self.preset)
        import ray

        if ray.is_initialized():
            task = ray.remote(num_cpus=1, num_gpus=0, max_retries=2)(stitch_chapter)
            self.pending[chapter.index] = task.remote(*args)
        else:
            if self._threads is None:
                self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="stitch")
            self.pending[chapter.index] = self._threads.submit(stitch_chapter, *args)
        logger.info("chapter %d (%s) complete: stitching", chapter.index, chapter.title)

    def wait(self) -> None:
        """Collect every running stitch task (call before the pool's Ray goes away)."""
        for index in sorted(self.pending):
            ref = self.pending.pop(index)
            if hasattr(ref, "result"):
                state = ref.result()
            else:
                import ray

                state = ray.get(ref)
            chapter = next(c for c in self.chapters if c.index == index)
            state["fingerprint"] = _fingerprint(chapter, self.results, self.preset)
            self.storage.write_text(CHAPTER_STATE.format(index), json.dumps(state, indent=1))
            self.done[index] = state
            logger.info("chapter %d: %s (%.1f s)", index, state["key"], state["duration_s"])
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None

    # ---------------------------------------------------------------------------------------------- at the end
    def finish(self, results: list[dict[str, Any]], metadata: Any, build_m4b: bool) -> dict[str, Any]:
        """Stitch what is left, write the timeline and the M4B; return the book's summary."""
        self.add_results(results)
        self.wait()
        self._timeline()
        incomplete = [c for c in self.chapters if c.index not in self.done]
        m4b = self._m4b(metadata) if build_m4b and not incomplete and self.done else None
        return self._summary(incomplete, m4b)

    def _timeline(self) -> None:
        rows = []
        for chapter in self.chapters:
            state = self.done.get(chapter.index, {})
            timing = {t[0]: t[1:] for t in state.get("timings", [])}
            for seg in chapter.segments:
                result = self.results.get(seg.id, {})
                qc = result.get("qc") or {}
                start, end = timing.get(seg.id, (None, None))
                rows.append({"chapter": chapter.index, "chapter_title": chapter.title, "segment": seg.segment,
                             "id": seg.id, "text": seg.text, "start": start, "end": end, "voice_id": seg.voice_id,
                             "status": result.get("status"), "take": result.get("take"),
                             "speaker_similarity": qc.get("speaker_similarity"), "qc_failed_checks": qc.get("failed"),
                             "audio_key": result.get("audio_uri"), "chapter_key": state.get("key")})  # fmt: skip
        from manifests.common import table_to_bytes

        table = pa.Table.from_pylist(rows, schema=TIMELINE_SCHEMA)
        data = table_to_bytes(table)
        if not (self.storage.exists(TIMELINE_FILE) and self.storage.read_bytes(TIMELINE_FILE) == data):
            self.storage.write_bytes(TIMELINE_FILE, data)

    def _m4b(self, metadata: Any) -> str | None:
        """Build ``book.m4b`` from the chapter files (again only when a chapter changed)."""
        from pipelines.audiobook.m4b import build_m4b
        from pipelines.publish import publish_file

        marker = "_job/m4b.json"
        fingerprint = hashlib.sha256(json.dumps([self.done[i]["fingerprint"] for i in sorted(self.done)]).encode())
        try:
            fresh = json.loads(self.storage.read_bytes(marker)).get("fingerprint") == fingerprint.hexdigest()
        except Exception:  # noqa: BLE001 - absent: build it
            fresh = False
        if fresh and self.storage.exists(M4B_FILE):
            return M4B_FILE
        folder = Path(tempfile.mkdtemp(prefix="sovits-m4b-"))
        try:
            sources = []
            for index in sorted(self.done):
                state = self.done[index]
                local = folder / Path(state["key"]).name
                local.write_bytes(self.storage.read_bytes(state["key"]))
                sources.append((state["title"], local))
            build_m4b(sources, metadata, folder / M4B_FILE)
            publish_file(self.storage, M4B_FILE, folder / M4B_FILE)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.storage.write_text(marker, json.dumps({"fingerprint": fingerprint.hexdigest()}))
        return M4B_FILE

    def _summary(self, incomplete: list[ChapterPlan], m4b: str | None) -> dict[str, Any]:
        chapters = []
        for chapter in self.chapters:
            state = self.done.get(chapter.index)
            missing = [s.id for s in chapter.segments if self.results.get(s.id, {}).get("status") not in
                       (STATUS_OK, STATUS_QC_FAILED)]  # fmt: skip
            review = [s.id for s in chapter.segments if self.results.get(s.id, {}).get("status") == STATUS_QC_FAILED]
            compliance = (state or {}).get("compliance")
            chapters.append({"index": chapter.index, "title": chapter.title, "key": (state or {}).get("key"),
                             "duration_s": (state or {}).get("duration_s"), "segments": len(chapter.segments),
                             "missing_segments": missing, "review_segments": review,
                             "compliance": None if compliance is None else {"passed": compliance["passed"],
                             "failed": [r["rule"] for r in compliance["rules"] if r["passed"] is False]}})  # fmt: skip
        hours = sum(c["duration_s"] or 0.0 for c in chapters) / 3600
        return {"chapters": chapters, "m4b": m4b, "hours": round(hours, 4), "incomplete": [c.index for c in incomplete],
                "master": self.preset.name, "format": self.preset.format}  # fmt: skip


def preset_for(name: str, fmt: str | None) -> MasterPreset:
    """The mastering preset with the chapter format asked for (bit rates: mp3 128k, opus 64k, m4a 96k)."""
    from pipelines.audiobook.master import get_preset

    preset = get_preset(name)
    if fmt is None or fmt == preset.format:
        return preset
    bit_rates = {"mp3": 128_000, "opus": 64_000, "m4a": 96_000, "flac": None}
    return replace(preset, format=fmt, bit_rate=bit_rates[fmt])
