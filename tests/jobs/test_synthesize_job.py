"""jobs.synthesize end to end: tiny random model, real voice bank, real Ray, local folder and moto S3.

Covers invalid rows (exit 2, or failed rows with --skip-invalid), resume without new writes, --force, the job lock
(second run refused, stale lock reported, --break-stale-lock), a worker killed mid-run, and exit codes 0/1/2/3.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from jobs.synthesize import SynthesizeJobConfig, run
from manifests.results import validate_results
from pipelines.engine.flags import from_flat, replace_flat
from pipelines.engine.lock import LOCK_PATH, LockInfo
from pipelines.storage import Storage


pytestmark = pytest.mark.slow

TEXTS = [
    "你好，世界。",
    "今天天气很好。",
    "我们去公园散步吧！",
    "一二三四五。",
    "春眠不觉晓。",
    "明天见。",
    "谢谢你。",
]


def _write_manifest(storage: Storage, rel: str, rows: list[dict]) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    storage.write_bytes(rel, buf.getvalue())


def _good_rows(n: int, prefix: str = "utt") -> list[dict]:
    return [
        {
            "id": f"{prefix}{i:03d}",
            "text": TEXTS[i % len(TEXTS)],
            "voice_id": "zh_a" if i % 2 else "zh_b",
            "seed": i if i % 3 == 0 else None,
            "speed": 1.2 if i == 1 else None,
        }
        for i in range(n)
    ]


def _config(manifest: str, bank: str, model: Path, out: str, **kw: object) -> SynthesizeJobConfig:
    base = dict(
        manifest=manifest,
        voices=bank,
        model_dir=str(model),
        out=out,
        workers=1,
        num_gpus=0.0,
        batch_size=2,
        rows_per_shard=3,
        max_new_tokens=12,
        progress=False,
        qc="off",  # a random model speaks noise: QC would fail every row (QC has tests of its own)
    )
    return from_flat(SynthesizeJobConfig, **{**base, **kw})


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def _results(storage: Storage) -> pa.Table:
    return pq.read_table(io.BytesIO(storage.read_bytes("results.parquet")))


def test_cli_has_help_on_every_flag() -> None:
    from jobs.cli import build_parser, parse_config

    parser = build_parser(SynthesizeJobConfig, "synthesize", "")
    assert all(action.help for action in parser._actions)
    config, level = parse_config(
        SynthesizeJobConfig, parser, ["--manifest", "m", "--voices", "v", "--model-dir", "d", "--out", "o", "--force"]
    )
    assert config.engine.force and config.stage.audio_format == "wav" and config.engine.workers is None
    assert (config.stage.model.model_dir, config.engine.out, level) == ("d", "o", "INFO")


def test_invalid_rows_stop_before_any_work(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = Storage(tmp_path / "in")
    _write_manifest(
        src,
        "m.parquet",
        [
            *_good_rows(2),
            {"id": "utt000", "text": "重复", "voice_id": "zh_a"},
            {"id": "x", "text": "", "voice_id": "nobody"},
        ],
    )
    out = tmp_path / "out"
    with caplog.at_level(logging.ERROR):
        assert run(_config(src.url("m.parquet"), synth_voice_bank, synth_model_dir, str(out))) == 2
    assert "row 2 ('utt000')" in caplog.text and "duplicate" in caplog.text
    assert "voice 'nobody' is not in the voice bank" in caplog.text and "text is empty" in caplog.text
    assert not out.exists()  # nothing written, no worker started


def test_incomplete_model_folder_is_invalid_input(
    synth_voice_bank: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = Storage(tmp_path / "in")
    _write_manifest(src, "m.parquet", _good_rows(2))
    (tmp_path / "model").mkdir()
    with caplog.at_level(logging.ERROR):
        assert run(_config(src.url("m.parquet"), synth_voice_bank, tmp_path / "model", str(tmp_path / "out"))) == 2
    assert "is incomplete: missing gpt, sovits" in caplog.text


def test_local_run_resume_lock_and_force(
    ray_local: None, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    src = Storage(tmp_path / "in")
    bad = [
        {"id": "utt001", "text": "重复", "voice_id": "zh_a"},
        {"id": "bad-voice", "text": "你好", "voice_id": "zz"},
        {"id": "empty", "text": "  ", "voice_id": "zh_a"},
        {"id": "fast", "text": "你好", "voice_id": "zh_a", "speed": 9.0},
    ]
    _write_manifest(src, "m.parquet", [*_good_rows(7), *bad])
    out = tmp_path / "out"
    config = _config(
        src.url("m.parquet"),
        synth_voice_bank,
        synth_model_dir,
        str(out),
        skip_invalid=True,
        audio_format="flac",
        sample_rate=16000,
    )
    assert run(config) == 3  # some rows failed: the invalid ones
    storage = Storage(out)
    results = _results(storage)
    assert validate_results(results) == []
    assert results.num_rows == 11 and sorted(results.column("row").to_pylist()) == list(range(11))
    ok = results.filter(pa.compute.equal(results.column("status"), "ok")).to_pylist()
    assert sorted(r["id"] for r in ok) == [f"utt{i:03d}" for i in range(7)]
    for row in ok:
        wav, rate = sf.read(out / "audio" / f"{row['id']}.flac")
        assert rate == row["sample_rate"] == 16000 and abs(len(wav) / rate - row["duration"]) < 0.01
        assert row["model_fingerprint"] and row["worker"] and row["time_t2s"] is not None
    assert sorted(os.listdir(out / "audio")) == sorted(f"{r['id']}.flac" for r in ok)  # no temp files left
    failed = {r["id"]: r["error"] for r in results.to_pylist() if r["status"] == "failed"}
    assert failed["bad-voice"].startswith("unknown_voice") and failed["empty"].startswith("empty_text")
    assert failed["fast"].startswith("out_of_range:speed") and failed["utt001"].startswith("duplicate_id")
    summary = json.loads(storage.read_text("summary.json"))
    assert summary["rows_by_status"] == {"ok": 7, "failed": 4} and summary["failures_by_reason"] == {
        "invalid_input": 4
    }
    assert summary["invalid_by_check"] == {"duplicate_id": 1, "empty_text": 1, "out_of_range": 1, "unknown_voice": 1}
    logs = sorted((out / "_job" / "logs").iterdir())  # one log per shard run, uploaded by the worker
    assert logs and all(p.suffix == ".log" for p in logs)
    assert "shard 00000: attempt" in logs[0].read_text()
    assert summary["audio_seconds"] > 0 and summary["real_time_factor"] > 0

    before = _snapshot(out)
    assert run(config) == 3
    assert _snapshot(out) == before, "a rerun of a finished job must write nothing"

    _check_lock_refusals(config, storage)

    first_attempts = set(results.column("attempt").drop_null().to_pylist())
    assert run(replace_flat(config, force=True)) == 3
    redone = _results(storage)
    assert redone.num_rows == 11 and validate_results(redone) == []
    new_attempts = set(redone.filter(pa.compute.equal(redone.column("status"), "ok")).column("attempt").to_pylist())
    assert len(new_attempts) == 1 and not new_attempts & first_attempts
    assert (out / "audio" / "utt000.flac").stat().st_mtime_ns > before["audio/utt000.flac"][0]


def _check_lock_refusals(config: SynthesizeJobConfig, storage: Storage) -> None:
    now = time.time()
    busy = LockInfo("f" * 32, "other-host", 77, None, now - 100, now - 5, "python -m jobs.synthesize")
    storage.write_bytes(LOCK_PATH, busy.to_json())
    assert run(config) == 1  # a live run elsewhere holds the output
    storage.write_bytes(LOCK_PATH, replace(busy, heartbeat_at=now - 7200).to_json())
    assert run(config) == 1  # stale: reported, not taken over
    assert run(replace_flat(config, break_stale_lock=True)) == 3  # taken over; nothing left to do
    assert not storage.exists(LOCK_PATH)


def test_s3_run_from_manifest_folder(
    ray_local: None, synth_voice_bank: str, synth_model_dir: Path, s3_bucket: str
) -> None:
    bucket = Storage(s3_bucket)
    rows = _good_rows(5, prefix="s3u")
    _write_manifest(bucket, "requests/part-0.parquet", rows[:3])
    _write_manifest(bucket, "requests/part-1.parquet", rows[3:])
    bucket.fs.put(synth_voice_bank.rstrip("/") + "/", bucket.url("bank").removeprefix("s3://") + "/", recursive=True)
    config = _config(bucket.url("requests"), bucket.url("bank"), synth_model_dir, bucket.url("out"), rows_per_shard=2)
    assert run(config) == 0
    out = bucket.child("out")
    results = _results(out)
    assert validate_results(results) == [] and results.num_rows == 5
    assert results.column("id").to_pylist() == [r["id"] for r in rows]
    for row in results.to_pylist():
        assert row["status"] == "ok" and row["audio_uri"] == f"{s3_bucket}/out/audio/{row['id']}.wav"
        wav, rate = sf.read(io.BytesIO(out.read_bytes(f"audio/{row['id']}.wav")))
        assert rate == 32000 and len(wav) > 0
    listing = out.list("_job/parts", recursive=True)
    assert run(config) == 0 and out.list("_job/parts", recursive=True) == listing


def test_killed_worker_loses_no_row(
    ray_local: None, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    src = Storage(tmp_path / "in")
    _write_manifest(src, "m.parquet", _good_rows(12))
    out = tmp_path / "out"
    config = _config(src.url("m.parquet"), synth_voice_bank, synth_model_dir, str(out), batch_size=1, rows_per_shard=4)
    codes: list[int] = []
    job = threading.Thread(target=lambda: codes.append(run(config)))
    job.start()
    victim = _kill_first_worker(out / "_job" / "parts", deadline=time.time() + 120)
    job.join(timeout=300)
    assert codes == [0]
    results = _results(Storage(out))
    assert validate_results(results) == [] and results.num_rows == 12
    assert set(results.column("status").to_pylist()) == {"ok"}
    workers = set(results.column("worker").to_pylist())
    assert any(w.endswith(f":{victim}") for w in workers) and len(workers) >= 2  # restarted worker took over


def _kill_first_worker(parts: Path, deadline: float) -> int:
    """Wait for the first result part, then SIGKILL the worker process that wrote it; return its pid."""
    while time.time() < deadline:
        found = sorted(parts.rglob("*.parquet")) if parts.exists() else []
        if found:
            pid = int(pq.read_table(found[0]).column("worker")[0].as_py().rpartition(":")[2])
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.02)
    raise AssertionError("no result part appeared")
