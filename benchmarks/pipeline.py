"""Throughput and overhead of the synthesis job (jobs.synthesize) on this machine.

    python benchmarks/pipeline.py [--sizes tiny full] [--rows 64] [--full-rows 16] [--overhead-rows 100000]

Two parts:

1. **End to end**, per model size (random weights from ``sovits_core.testing.make_model``): a voice bank from the
   example clip, a manifest of Chinese sentences, one ``jobs.synthesize.run`` on embedded Ray. Reported: rows/s and
   audio seconds per wall second of the whole run (including Ray start and model load), and pipeline efficiency =
   model compute time (inside ``sovits_core.synthesize``) / actor wall time (first task start to last task end per
   actor, so dispatch gaps, shard reads, voice loads, encoding and writes all count against it).
2. **Driver overhead per row**, without a model: manifest validation, writing the shard plan, dispatching shard tasks
   to Ray actors (no-op tasks) and compacting result parts, each divided by the number of rows.

A random GPT rarely emits EOS, so every segment runs to the token cap (``--max-new-tokens``); the figures measure
the pipeline at a fixed amount of model work per row, not real speech lengths.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.testing import two_voice_table


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobs.synthesize import SynthesizeJobConfig, SynthesizeMode, run  # noqa: E402
from manifests.results import results_table  # noqa: E402
from manifests.utterances import validate_utterances  # noqa: E402
from pipelines.engine.compaction import CompactionSpec, compact  # noqa: E402
from pipelines.engine.flags import from_flat  # noqa: E402
from pipelines.engine.plan import ensure_plan, mark_done, part_path  # noqa: E402
from pipelines.engine.pool import ActorSpec, init_ray, run_actor_pool  # noqa: E402
from pipelines.storage import Storage  # noqa: E402


logger = logging.getLogger("benchmarks.pipeline")
CLIP = REPO / "manifests" / "examples" / "voices" / "zh_mei.wav"
TEXTS = ["今天天气很好，我们一起去公园散步吧。", "春眠不觉晓，处处闻啼鸟。", "你好，欢迎使用语音合成。", "明天见！"]


def build_inputs(size: str, work: Path) -> tuple[Path, str]:
    """Random model folder of ``size`` and a two-voice bank computed with it."""
    from jobs.precompute_voices import PrecomputeConfig
    from jobs.precompute_voices import run as precompute
    from sovits_core.testing.make_model import make_model

    model = make_model(work / f"model-{size}", size, seed=0)
    shutil.copy(CLIP, work / "mei.wav")
    pq.write_table(two_voice_table(), work / "voices.parquet")
    bank = str(work / f"bank-{size}")
    config = from_flat(
        PrecomputeConfig, voices=str(work / "voices.parquet"), model_dir=str(model), out=bank, workers=0
    )
    if precompute(config) != 0:
        raise RuntimeError("voice bank build failed")
    return model, bank


def manifest_table(n_rows: int) -> pa.Table:
    return pa.table(
        {
            "id": [f"b{i:07d}" for i in range(n_rows)],
            "text": [TEXTS[i % len(TEXTS)] for i in range(n_rows)],
            "voice_id": ["zh_a" if i % 2 else "zh_b" for i in range(n_rows)],
        }
    )


def end_to_end(size: str, n_rows: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    model, bank = build_inputs(size, work)
    pq.write_table(manifest_table(n_rows), work / f"m-{size}.parquet")
    out = work / f"out-{size}"
    config = from_flat(
        SynthesizeJobConfig,
        manifest=str(work / f"m-{size}.parquet"),
        voices=bank,
        model_dir=str(model),
        out=str(out),
        workers=args.workers,
        num_gpus=None,
        batch_size=args.batch_size,
        rows_per_shard=args.rows_per_shard,
        max_new_tokens=args.max_new_tokens,
        progress=False,
    )
    started = time.perf_counter()
    code = run(config)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    markers = [json.loads(p.read_text()) for p in sorted((out / "_job" / "done").glob("*.json"))]
    model_s = sum(m["model_seconds"] for m in markers)
    spans: dict[str, tuple[float, float]] = {}
    for m in markers:
        lo, hi = spans.get(m["worker"], (m["started_at"], m["finished_at"]))
        spans[m["worker"]] = (min(lo, m["started_at"]), max(hi, m["finished_at"]))
    actor_wall = sum(hi - lo for lo, hi in spans.values())
    return {
        "size": size,
        "exit_code": code,
        "rows": n_rows,
        "workers": len(spans),
        "wall_s": round(wall, 2),
        "rows_per_s": round(n_rows / wall, 3),
        "audio_s": summary["audio_seconds"],
        "audio_s_per_wall_s": round(summary["audio_seconds"] / wall, 3),
        "steady_rows_per_s": round(n_rows / actor_wall, 3) if actor_wall else None,
        "steady_audio_s_per_wall_s": round(summary["audio_seconds"] / actor_wall, 3) if actor_wall else None,
        "model_s": round(model_s, 2),
        "actor_wall_s": round(actor_wall, 2),
        "pipeline_efficiency": round(model_s / actor_wall, 4) if actor_wall else None,
        "task_efficiency": round(model_s / sum(m["wall_seconds"] for m in markers), 4),
    }


class NoopStage:
    """A pool worker that does nothing: isolates the cost of dispatching one shard task."""

    def __call__(self, shard: int) -> dict[str, int]:
        return {"shard": shard, "n_ok": 0}


def _fake_parts(storage: Storage, runnable: pa.Table, rows_per_shard: int, batch: int) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    rows = runnable.to_pylist()
    for start in range(0, len(rows), batch):
        shard = start // rows_per_shard
        chunk = [
            {
                **{k: r[k] for k in ("row", "id", "voice_id", "text", "lang", "seed")},
                "status": "ok",
                "audio_uri": f"file:///x/{r['id']}.wav",
                "format": "wav",
                "duration": 1.0,
                "sample_rate": 32000,
                "time_t2s": 0.1,
                "shard": shard,
                "attempt": "bench",
                "worker": "h:1",
                "finished_at": now,
            }
            for r in rows[start : start + batch]
        ]
        buf = io.BytesIO()
        pq.write_table(results_table(chunk), buf)
        storage.write_bytes(part_path(shard, "bench", chunk[0]["row"]), buf.getvalue())
    for shard in range(-(-len(rows) // rows_per_shard)):
        mark_done(storage, shard, {"n_ok": rows_per_shard})


def driver_overhead(n_rows: int, rows_per_shard: int, batch: int, work: Path) -> dict[str, Any]:
    """Driver-side seconds per row for validation, planning, dispatch and compaction (no model)."""
    table = manifest_table(n_rows)
    storage = Storage(work / "overhead")
    t0 = time.perf_counter()
    runnable, _ = validate_utterances(table, lambda voice: True)
    t1 = time.perf_counter()
    plan = ensure_plan(storage, runnable, "bench", rows_per_shard)
    t2 = time.perf_counter()
    init_ray()
    n_tasks, stamps = plan.n_shards, []
    run_actor_pool(
        ActorSpec(NoopStage),
        list(range(n_tasks)),
        n_workers=2,
        num_gpus=0,
        on_result=lambda task, result: stamps.append(time.perf_counter()),
    )
    dispatch = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1) * n_tasks  # steady cadence, actor start excluded
    _fake_parts(storage, runnable, rows_per_shard, batch)
    t5 = time.perf_counter()
    mode = SynthesizeMode.__new__(SynthesizeMode)  # only its result schema is needed here
    compact(storage, plan, {}, 1.0, CompactionSpec(mode.result_schema, mode.name, mode.model_time_columns))
    t6 = time.perf_counter()
    per_row = {"validate_ms": t1 - t0, "plan_ms": t2 - t1, "dispatch_ms": dispatch, "compact_ms": t6 - t5}
    per_row = {k: round(1000 * v / n_rows, 4) for k, v in per_row.items()}
    return {
        "rows": n_rows,
        "rows_per_shard": rows_per_shard,
        "shard_tasks": n_tasks,
        "dispatch_ms_per_task": round(1000 * dispatch / n_tasks, 3),
        **per_row,
        "total_ms_per_row": round(sum(per_row.values()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--sizes", nargs="*", default=["tiny", "full"], choices=["tiny", "full"], help="model sizes")
    p.add_argument("--rows", type=int, default=64, help="rows for the tiny model")
    p.add_argument("--full-rows", type=int, default=16, help="rows for the full-size model")
    p.add_argument("--batch-size", type=int, default=8, help="text segments per model call")
    p.add_argument("--rows-per-shard", type=int, default=16, help="rows per shard task")
    p.add_argument("--workers", type=int, default=1, help="Ray actors (CPU: each uses its own torch threads)")
    p.add_argument("--max-new-tokens", type=int, default=50, help="semantic tokens per segment (50 = 1 s)")
    p.add_argument("--overhead-rows", type=int, default=100_000, help="rows for the driver-overhead part")
    p.add_argument("--overhead-rows-per-shard", type=int, default=256, help="shard size for the overhead part")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    figures: dict[str, Any] = {"end_to_end": [], "driver_overhead": None}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        for size in args.sizes:
            (Path(tmp) / size).mkdir()
            rows = args.rows if size == "tiny" else args.full_rows
            figures["end_to_end"].append(end_to_end(size, rows, args, Path(tmp) / size))
            print(json.dumps(figures["end_to_end"][-1]), flush=True)
        figures["driver_overhead"] = driver_overhead(
            args.overhead_rows, args.overhead_rows_per_shard, args.batch_size, Path(tmp)
        )
        print(json.dumps(figures["driver_overhead"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
