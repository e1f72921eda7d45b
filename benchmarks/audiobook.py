"""Throughput, stitching cost, stitching memory and actor idle time of the audiobook job (jobs.audiobook render).

    python benchmarks/audiobook.py [--words 50000] [--chapters 20] [--max-new-tokens 20] [--json out.json]

A generated English Markdown book (deterministic sentences from word lists, ~``--chapters`` chapters, paragraphs
of 3-6 sentences, ``--words`` words) is rendered by the real job, ``jobs.audiobook.main(["render", ...])``, with
the tiny random model, ``--workers 1`` on embedded Ray, ``--qc off``, ``--rows-per-shard 64`` (the audiobook
default) and a small ``--max-new-tokens`` (so synthesizing thousands of sentences stays affordable on a CPU: every
segment is a fraction of a second of noise). Reported:

1. **segments/s**: plan rows over the synthesis wall time (first shard task start to last shard task end, from the
   completion markers ``_job/done/*.json``) and over the whole ``main()`` call (Ray start, model load, book
   parsing, stitching of the last chapter, M4B and compaction included);
2. **stitching + encoding seconds per audio hour**: the chapter tasks' own wall seconds (``"seconds"`` of each
   ``_job/chapters/NNN.json``) over the hours of stitched chapter audio; checked against the target
   <= 2 % of the *full-size* model's synthesis time per audio hour, measured in the same run: a full-size random
   model (``make_model(..., "full")``) synthesizes ``--full-sentences`` sentences of the book in one batch with
   ``--full-max-new-tokens`` (its random GPT runs every sentence to that cap), time = text + t2s + sovits of the
   results' timings, audio = samples / 32000;
3. **stitching peak memory**: the longest and the shortest chapter re-stitched with
   ``pipelines.audiobook.master.render_chapter`` from the job's segments, each in a fresh child process: peak RSS
   growth over the child's baseline (Linux ``VmHWM`` after resetting it) and, in a second pass, the peak of
   Python/numpy allocations under ``tracemalloc``; per audio hour of that chapter;
4. **synthesis actors waiting for the stitcher** (target 0): per worker, the gaps between consecutive shard tasks
   (markers' ``started_at`` / ``finished_at``) as a share of the actor's span (first task start to last task end),
   and how much of that idle time overlapped a running stitch task (``started_at`` / ``finished_at`` of the
   chapter states); chapters stitched while synthesis was still running vs after it.

The tiny GPT stops on its own after tens of tokens (an EOS bias) or at the cap; the full-size random GPT never
stops before the cap. Figures for a smaller ``--words`` are for that size, not the 50,000-word target.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import logging
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

logger = logging.getLogger("benchmarks.audiobook")
EXAMPLES = REPO / "manifests" / "examples"
VOICE = "en_alice"
TARGET_STITCH_SHARE = 0.02
_SR = 32000

# ----------------------------------------------------------------------------------------------------------- the book
NAMES = "Mara Tom Elena Jonas Clara Peter Nina Samuel Rosa Daniel Ada Henry Lucy Martin Grace Oliver".split()
NOUNS = (
    "lamp boat harbour window letter garden bridge river forest station market tower village road field door "
    "ship island mountain kitchen table candle map book song storm wind bell fire cart horse dog bird stone "
    "coat basket bottle rope lantern shore cliff path hill valley wall roof gate clock coin box key"
).split()
ADJECTIVES = (
    "old quiet bright dark cold warm small long narrow heavy empty green grey wet silent distant gentle strange "
    "broken careful tired patient sudden golden little sharp"
).split()
VERBS = (
    "opened closed carried found watched followed remembered painted crossed climbed cleaned counted lifted "
    "pushed pulled mended visited left reached passed noticed touched moved"
).split()
ADVERBS = "slowly quickly quietly carefully suddenly gently again softly early late".split()
PLACES = (
    "near the harbour|across the bridge|by the window|under the old tower|along the river|at the edge of the "
    "forest|beside the station|in the small kitchen|on the hill|behind the market"
).split("|")
TIMES = "before dusk|at dawn|after supper|in the morning|late that night|on the second day|at noon".split("|")
FEELINGS = "hope|fear|relief|doubt|joy|sorrow|wonder|anger".split("|")


def _sentence(rng: random.Random) -> str:
    """One English sentence from a template (statements, compound sentences, questions, dialogue)."""
    name, other = rng.sample(NAMES, 2)
    adj, noun, noun2 = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
    verb, adverb, place, when = rng.choice(VERBS), rng.choice(ADVERBS), rng.choice(PLACES), rng.choice(TIMES)
    templates = [
        f"{name} {verb} the {adj} {noun} {place}.",
        f"{when.capitalize()}, {name} {adverb} {verb} the {noun} and waited for {other}.",
        f"The {noun} was {adj}, and the {noun2} {place} was {rng.choice(ADJECTIVES)}.",
        f"Why had {name} {verb} the {noun} {when}?",
        f'"Bring the {noun} {place}," {name} said, "and do not forget the {noun2}."',
        f"{name} felt a {rng.choice(['quiet', 'sudden', 'strange'])} {rng.choice(FEELINGS)} as {other} "
        f"{verb} the {adj} {noun}.",
        f"There were {rng.randint(2, 12)} {noun}s {place}, and {name} {verb} every one of them {adverb}.",
        f"{other} {adverb} {verb} the {noun}, then {rng.choice(VERBS)} the {adj} {noun2} {when}.",
    ]
    return rng.choice(templates)


def make_book(n_words: int, n_chapters: int, seed: int = 0) -> str:
    """A Markdown book of about ``n_words`` words in ``n_chapters`` chapters (paragraphs of 3-6 sentences)."""
    rng = random.Random(seed)
    per_chapter = max(1, n_words // n_chapters)
    lines = ["---", "title: The Long Benchmark", "author: sovits-batch benchmarks", "language: en", "---", "",
             "# The Long Benchmark", ""]  # fmt: skip
    for chapter in range(1, n_chapters + 1):
        title = f"Chapter {chapter}: The {rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS).capitalize()}"
        lines += [f"## {title}", ""]
        words = 0
        while words < per_chapter:
            paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))
            words += len(paragraph.split())
            lines += [paragraph, ""]
    return "\n".join(lines)


def book_sentences(text: str, n: int) -> list[str]:
    """``n`` sentences of the book's first paragraphs (for the full-size model part)."""
    from pipelines.audiobook.plan import sentences

    paragraphs = [p for p in text.split("\n\n") if p and not p.startswith(("#", "---"))]
    found: list[str] = []
    for paragraph in paragraphs:
        found += sentences(paragraph, "en")
        if len(found) >= n:
            break
    return found[:n]


# ----------------------------------------------------------------------------------------------------------- render
def build_bank(work: Path) -> tuple[Path, str]:
    """The tiny random model and a voice bank of the example voices computed with it."""
    from jobs import precompute_voices
    from sovits_core.testing.make_model import make_model

    model = make_model(work / "model-tiny", "tiny", seed=0)
    bank = work / "bank"
    code = precompute_voices.main(["--voices", str(EXAMPLES / "voices.parquet"), "--model-dir", str(model),
                                   "--out", str(bank), "--workers", "0", "--no-progress", "--log-level", "WARNING"])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"voice bank build failed (exit {code})")
    return model, str(bank)


def render(book: Path, model: Path, bank: str, out: Path, args: argparse.Namespace) -> tuple[int, float]:
    """One ``jobs.audiobook render`` of the book; returns (exit code, wall seconds of the call)."""
    from jobs import audiobook

    argv = ["render", "--book", str(book), "--voice", VOICE, "--voices", bank, "--model-dir", str(model), "--out",
            str(out), "--workers", "1", "--qc", "off", "--max-new-tokens", str(args.max_new_tokens),
            "--rows-per-shard", str(args.rows_per_shard), "--no-progress", "--log-level", args.log_level]  # fmt: skip
    started = time.perf_counter()
    code = audiobook.main(argv)
    return code, time.perf_counter() - started


def read_run(out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Shard completion markers, chapter states and summary.json of a finished render."""
    markers = [json.loads(p.read_text()) for p in sorted((out / "_job" / "done").glob("*.json"))]
    chapters = [json.loads(p.read_text()) for p in sorted((out / "_job" / "chapters").glob("*.json"))]
    return markers, chapters, json.loads((out / "summary.json").read_text())


# ----------------------------------------------------------------------------------------------------------- figures
def _overlap(lo: float, hi: float, intervals: list[tuple[float, float]]) -> float:
    """Seconds of [lo, hi] covered by the union of ``intervals``."""
    covered, cursor = 0.0, lo
    for a, b in sorted(intervals):
        a, b = max(a, cursor), min(b, hi)
        if b > a:
            covered += b - a
            cursor = b
    return covered


def throughput(markers: list[dict[str, Any]], n_rows: int, run_wall: float, summary: dict[str, Any]) -> dict:
    first, last = min(m["started_at"] for m in markers), max(m["finished_at"] for m in markers)
    synth_wall = last - first
    return {
        "segments": n_rows,
        "shards": len(markers),
        "synthesis_wall_s": round(synth_wall, 2),
        "run_wall_s": round(run_wall, 2),
        "segments_per_s_synthesis": round(n_rows / synth_wall, 3),
        "segments_per_s_run": round(n_rows / run_wall, 3),
        "segment_audio_s": summary.get("audio_seconds"),
        "model_s": round(sum(m["model_seconds"] for m in markers), 2),
    }


def stitching(chapters: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = sum(c["seconds"] for c in chapters)
    hours = sum(c["duration_s"] for c in chapters) / 3600
    return {
        "chapters": len(chapters),
        "chapter_audio_h": round(hours, 4),
        "stitch_task_s": round(seconds, 2),
        "stitch_s_per_audio_h": round(seconds / hours, 2),
        "stitch_x_realtime": round(hours * 3600 / seconds, 1),
        "slowest_chapter_s": max(c["seconds"] for c in chapters),
    }


def idle_time(markers: list[dict[str, Any]], chapters: list[dict[str, Any]]) -> dict[str, Any]:
    """Idle gaps of each synthesis actor between shard tasks, and their overlap with stitch tasks."""
    stitches = [(c["started_at"], c["finished_at"]) for c in chapters]
    workers: dict[str, list[dict[str, Any]]] = {}
    for m in markers:
        workers.setdefault(m["worker"], []).append(m)
    per_worker, busy_with_stitch, busy = [], 0.0, 0.0
    for worker, tasks in sorted(workers.items()):
        tasks.sort(key=lambda m: m["started_at"])
        span = tasks[-1]["finished_at"] - tasks[0]["started_at"]
        gaps = [
            (a["finished_at"], b["started_at"])
            for a, b in itertools.pairwise(tasks)
            if b["started_at"] > a["finished_at"]
        ]
        idle = sum(b - a for a, b in gaps)
        idle_stitch = sum(_overlap(a, b, stitches) for a, b in gaps)
        per_worker.append({"worker": worker, "tasks": len(tasks), "span_s": round(span, 2), "idle_s": round(idle, 3),
                           "idle_share": round(idle / span, 5), "idle_during_stitch_s": round(idle_stitch, 3),
                           "max_gap_s": round(max((b - a for a, b in gaps), default=0.0), 3)})  # fmt: skip
        busy += sum(m["finished_at"] - m["started_at"] for m in tasks)
        busy_with_stitch += sum(_overlap(m["started_at"], m["finished_at"], stitches) for m in tasks)
    synthesis_end = max(m["finished_at"] for m in markers)
    return {
        "workers": per_worker,
        "idle_share": round(sum(w["idle_s"] for w in per_worker) / sum(w["span_s"] for w in per_worker), 5),
        "idle_share_during_stitch": round(
            sum(w["idle_during_stitch_s"] for w in per_worker) / sum(w["span_s"] for w in per_worker), 5
        ),
        "busy_share_with_stitch_running": round(busy_with_stitch / busy, 4),
        "chapters_stitched_during_synthesis": sum(c["finished_at"] <= synthesis_end for c in chapters),
        "chapters_started_during_finished_after": sum(
            c["started_at"] < synthesis_end < c["finished_at"] for c in chapters
        ),
        "chapters_stitched_after_synthesis": sum(c["started_at"] >= synthesis_end for c in chapters),
        "last_stitch_end_after_synthesis_s": round(max(c["finished_at"] for c in chapters) - synthesis_end, 2),
    }


# ----------------------------------------------------------------------------------------------------------- memory
def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _restitch(out: str, index: int) -> dict[str, Any]:
    """Child process: re-stitch chapter ``index`` twice (RSS pass, tracemalloc pass) into a scratch folder."""
    import tracemalloc

    import pyarrow.parquet as pq

    from pipelines.audiobook.book import preset_for
    from pipelines.audiobook.master import render_chapter
    from pipelines.audiobook.stitch import Piece
    from pipelines.storage import Storage

    storage = Storage(out)
    plan = pq.read_table(Path(out) / "_job" / "plan.parquet").to_pylist()
    uris = {r["id"]: r["audio_uri"] for r in pq.read_table(Path(out) / "results.parquet").to_pylist()}
    root = storage.url().rstrip("/") + "/"
    pieces = []
    for seg in sorted((r for r in plan if r["chapter"] == index), key=lambda r: r["segment"]):
        pieces.append(Piece.audio(uris[seg["id"]][len(root) :], seg["boundary"], seg["text"]))
        if seg["pause_after"] > 0:
            pieces.append(Piece.pause(seg["pause_after"]))
    preset = preset_for("standard", None)
    scratch = Storage(tempfile.mkdtemp(prefix="bench-restitch-"))
    figures: dict[str, Any] = {"chapter": index, "pieces": len(pieces)}
    baseline = _rss_mb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
    except OSError:
        figures["rss_note"] = "VmHWM not reset: growth is over the child's earlier peak"
    started = time.perf_counter()
    result = render_chapter(storage, pieces, "restitch.m4a", preset, out_storage=scratch)
    figures.update(seconds=round(time.perf_counter() - started, 2), n_passes=result.stitch.n_passes,
                   audio_s=round(result.stitch.duration_s, 2), rss_baseline_mb=round(baseline, 1),
                   rss_peak_growth_mb=round(_rss_mb("VmHWM") - baseline, 1))  # fmt: skip
    tracemalloc.start()
    render_chapter(storage, pieces, "restitch.m4a", preset, out_storage=scratch)
    figures["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
    tracemalloc.stop()
    shutil.rmtree(scratch.url().removeprefix("file://"), ignore_errors=True)
    return figures


def stitch_memory(out: Path, chapters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Peak memory of re-stitching the longest and the shortest chapter, each in a fresh process."""
    by_length = sorted(chapters, key=lambda c: c["duration_s"])
    picks = [by_length[-1]] + ([by_length[0]] if len(by_length) > 1 else [])
    rows = []
    for chapter in picks:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            row = pool.submit(_restitch, str(out), chapter["index"]).result()
        hours = row["audio_s"] / 3600
        row.update(rss_mb_per_audio_h=round(row["rss_peak_growth_mb"] / hours, 1),
                   tracemalloc_mb_per_audio_h=round(row["tracemalloc_peak_mb"] / hours, 1))  # fmt: skip
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------------------- full model
def full_model_synthesis(texts: list[str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Synthesis seconds per audio second of the full-size random model on ``texts`` (one batch, after a warm-up)."""
    import soundfile as sf
    import torch

    from sovits_core.bundle import load_bundle
    from sovits_core.synthesize import SynthesisOptions, SynthesisRequest, synthesize
    from sovits_core.testing.make_model import make_model
    from sovits_core.voice import ReferenceClip, build_voice_features

    torch.set_num_threads(args.threads)
    model = Path(args.full_model_dir) if args.full_model_dir else make_model(work / "model-full", "full", seed=0)
    bundle = load_bundle(model, device="cpu", dtype="float32")
    wav, sr = sf.read(EXAMPLES / "voices" / f"{VOICE}.wav", dtype="float32")
    ref_text = next(v for v in _example_voices() if v["voice_id"] == VOICE)["ref_text"]
    voice = build_voice_features(bundle, [ReferenceClip(wav, sr)], ref_text, "en")
    requests = [SynthesisRequest(text, "en", voice, seed=i) for i, text in enumerate(texts)]
    synthesize(bundle, requests[:1], SynthesisOptions(max_new_tokens=8))  # warm-up: first-call allocations
    options = SynthesisOptions(batch_size=args.batch_size, max_new_tokens=args.full_max_new_tokens)
    started = time.perf_counter()
    results = synthesize(bundle, requests, options)
    wall = time.perf_counter() - started
    failed = [r.error for r in results if r.error]
    if failed:
        raise RuntimeError(f"full-size synthesis failed: {failed[0]}")
    seconds = sum(sum(r.timings[k] for k in ("text", "t2s", "sovits")) for r in results)
    audio = sum(len(r.audio) for r in results) / _SR
    return {
        "sentences": len(texts),
        "max_new_tokens": args.full_max_new_tokens,
        "tokens": sum(r.n_tokens for r in results),
        "audio_s": round(audio, 2),
        "synthesis_s": round(seconds, 2),
        "call_wall_s": round(wall, 2),
        "synthesis_s_per_audio_s": round(seconds / audio, 4),
        "synthesis_s_per_audio_h": round(3600 * seconds / audio, 1),
        "threads": args.threads,
    }


def _example_voices() -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(EXAMPLES / "voices.parquet").to_pylist()


# ----------------------------------------------------------------------------------------------------------- output
def print_table(f: dict[str, Any]) -> None:
    t, s, i, full = f["throughput"], f["stitching"], f["idle"], f["full_model"]
    ratio = f["stitch_vs_full_synthesis"]
    rows = [
        ("book", f"{f['book']['words']} words, {f['book']['chapters']} chapters, {t['segments']} segments",
         f"{f['settings']['rows_per_shard']} rows/shard, {t['shards']} shards"),
        ("segments/s (synthesis)", t["segments_per_s_synthesis"], f"over {t['synthesis_wall_s']} s of shard tasks"),
        ("segments/s (whole run)", t["segments_per_s_run"], f"over {t['run_wall_s']} s of jobs.audiobook.main"),
        ("stitch+encode s / audio h", s["stitch_s_per_audio_h"],
         f"{s['stitch_task_s']} s for {s['chapter_audio_h']} h ({s['stitch_x_realtime']}x real time)"),
        ("full model synth s / audio h", full["synthesis_s_per_audio_h"],
         f"{full['sentences']} sentences, {full['audio_s']} s audio, {full['threads']} threads"),
        ("stitch / full synthesis", f"{100 * ratio:.3f} %",
         f"target <= {100 * TARGET_STITCH_SHARE:g} %: {'PASS' if ratio <= TARGET_STITCH_SHARE else 'FAIL'}"),
    ]  # fmt: skip
    for m in f["memory"]:
        rows.append((f"stitch peak RSS, ch {m['chapter']}", f"{m['rss_peak_growth_mb']} MB",
                     f"{m['rss_mb_per_audio_h']} MB/audio h ({m['audio_s']} s; tracemalloc {m['tracemalloc_peak_mb']} "
                     f"MB = {m['tracemalloc_mb_per_audio_h']} MB/h)"))  # fmt: skip
    rows += [
        ("actor idle share", f"{100 * i['idle_share']:.3f} %",
         f"{100 * i['idle_share_during_stitch']:.3f} % of the span idle while a stitch ran (target 0)"),
        ("chapters stitched", f"{i['chapters_stitched_during_synthesis']} during / "
         f"{i['chapters_started_during_finished_after']} straddling / {i['chapters_stitched_after_synthesis']} after",
         f"last stitch ended {i['last_stitch_end_after_synthesis_s']} s after synthesis"),
    ]  # fmt: skip
    print(f"\n{'figure':<31}{'value':>22}  note")
    for name, value, note in rows:
        print(f"{name:<31}{value!s:>22}  {note}")
    print(
        f"\nmodel: tiny random (--max-new-tokens {f['settings']['max_new_tokens']}: segments are short noise), "
        f"--workers 1 on embedded Ray, --qc off; full-size figures with --full-max-new-tokens "
        f"{full['max_new_tokens']} on this CPU."
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--words", type=int, default=50_000, help="words in the generated book (the issue's target: 50000)")
    p.add_argument("--chapters", type=int, default=20, help="chapters in the generated book")
    p.add_argument("--max-new-tokens", type=int, default=20, help="semantic-token cap per segment, tiny model")
    p.add_argument("--rows-per-shard", type=int, default=64, help="rows per shard task (the audiobook default)")
    p.add_argument("--full-sentences", type=int, default=6, help="book sentences for the full-size model")
    p.add_argument("--full-max-new-tokens", type=int, default=125, help="semantic-token cap, full-size model (25/s)")
    p.add_argument(
        "--full-model-dir", default=None, help="an existing full-size random model folder (default: make one)"
    )
    p.add_argument("--batch-size", type=int, default=8, help="segments per call of the full-size model")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the full-size model")
    p.add_argument("--log-level", default="WARNING", help="log level of the render job")
    p.add_argument("--keep", default=None, help="render into this folder and keep it (default: a temp folder)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    return p


def run_benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    text = make_book(args.words, args.chapters)
    (work / "book.md").write_text(text, encoding="utf-8")
    model, bank = build_bank(work)
    out = Path(args.keep) if args.keep else work / "out"
    code, wall = render(work / "book.md", model, bank, out, args)
    if code != 0:
        raise RuntimeError(f"jobs.audiobook render exited {code}")
    markers, chapters, summary = read_run(out)
    figures: dict[str, Any] = {
        "book": {"words": len(text.split()), "chapters": len(chapters)},
        "settings": {k: getattr(args, k) for k in ("max_new_tokens", "rows_per_shard", "full_max_new_tokens")},
        "throughput": throughput(markers, sum(m["n_rows"] for m in markers), wall, summary),
        "stitching": stitching(chapters),
        "idle": idle_time(markers, chapters),
    }
    for key in ("throughput", "stitching", "idle"):
        print(json.dumps({key: figures[key]}), flush=True)
    figures["memory"] = stitch_memory(out, chapters)
    print(json.dumps({"memory": figures["memory"]}), flush=True)
    figures["full_model"] = full_model_synthesis(book_sentences(text, args.full_sentences), args, work)
    print(json.dumps({"full_model": figures["full_model"]}), flush=True)
    figures["stitch_vs_full_synthesis"] = round(
        figures["stitching"]["stitch_s_per_audio_h"] / figures["full_model"]["synthesis_s_per_audio_h"], 6
    )
    print(json.dumps({"stitch_vs_full_synthesis": figures["stitch_vs_full_synthesis"]}), flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-audiobook-") as tmp:
        figures = run_benchmark(args, Path(tmp))
    print_table(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
