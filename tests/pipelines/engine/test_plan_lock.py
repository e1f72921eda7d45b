"""Shard plan, completion markers, result compaction rules and the job lock, on local disk and fake S3."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time

import pyarrow as pa
import pytest

from manifests.results import RESULT_SCHEMA, results_table, validate_results
from manifests.utterances import validate_utterances
from pipelines.engine.compaction import latest_per_row
from pipelines.engine.lock import LOCK_PATH, CorruptLock, JobLock, LockHeld, LockInfo, StaleLock, judge
from pipelines.engine.plan import (
    SETTINGS,
    PlanMismatch,
    SettingsMismatch,
    check_settings,
    done_shards,
    ensure_plan,
    mark_done,
    read_marker,
    read_shard,
    reset_job,
    table_fingerprint,
)
from pipelines.inputs import load_manifest
from pipelines.storage import Storage


def _runnable(n: int, text: str = "hello") -> pa.Table:
    manifest = pa.table(
        {"id": [f"u{i:03d}" for i in range(n)], "text": [f"{text} {i}" for i in range(n)], "voice_id": ["v1"] * n}
    )
    runnable, issues = validate_utterances(manifest, lambda v: True)
    assert not issues
    return runnable


def test_plan_is_written_once_and_reused(storage_url: str) -> None:
    storage = Storage(storage_url)
    plan = ensure_plan(storage, _runnable(10), "m.parquet", rows_per_shard=4)
    assert (plan.n_rows, plan.n_shards) == (10, 3)
    assert [read_shard(storage, s).column("row").to_pylist() for s in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    again = ensure_plan(storage, _runnable(10), "m.parquet", rows_per_shard=7)  # other size asked: plan kept
    assert again == plan
    with pytest.raises(PlanMismatch, match="different rows"):
        ensure_plan(storage, _runnable(10, text="changed"), "m.parquet", rows_per_shard=4)


def test_fingerprint_depends_on_content_only() -> None:
    assert table_fingerprint(_runnable(5)) == table_fingerprint(_runnable(5))
    assert table_fingerprint(_runnable(5)) != table_fingerprint(_runnable(6))


def test_markers(tmp_path) -> None:
    storage = Storage(tmp_path)
    assert done_shards(storage) == set() and read_marker(storage, 3) is None
    mark_done(storage, 3, {"n_ok": 4})
    mark_done(storage, 12, {"n_ok": 1})
    assert done_shards(storage) == {3, 12}
    assert read_marker(storage, 3) == {"shard": 3, "n_ok": 4}


def test_manifest_from_folder_and_glob(tmp_path) -> None:
    import pyarrow.parquet as pq

    (tmp_path / "m").mkdir()
    pq.write_table(pa.table({"id": ["b1"], "text": ["x"], "voice_id": ["v"]}), tmp_path / "m" / "b.parquet")
    pq.write_table(
        pa.table({"id": ["a1", "a2"], "text": ["x", "y"], "voice_id": ["v", "v"]}), tmp_path / "m" / "a.parquet"
    )
    assert load_manifest(str(tmp_path / "m")).column("id").to_pylist() == ["a1", "a2", "b1"]
    assert load_manifest(str(tmp_path / "m" / "b*.parquet")).column("id").to_pylist() == ["b1"]
    assert load_manifest(str(tmp_path / "m" / "a.parquet")).num_rows == 2


def test_latest_successful_attempt_wins() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    t1 = t0 + dt.timedelta(1)
    rows = [
        {"row": 0, "id": "a", "status": "ok", "audio_uri": "x", "attempt": "r1", "finished_at": t0},
        {"row": 0, "id": "a", "status": "failed", "error": "e", "attempt": "r2", "finished_at": t1},
        {"row": 1, "id": "b", "status": "ok", "audio_uri": "x", "attempt": "r1", "finished_at": t0},
        {"row": 1, "id": "b", "status": "ok", "audio_uri": "y", "attempt": "r2", "finished_at": t1},
        {"row": 2, "id": "c", "status": "failed", "error": "old", "attempt": "r1", "finished_at": t0},
        {"row": 2, "id": "c", "status": "failed", "error": "new", "attempt": "r2", "finished_at": t1},
    ]
    best = latest_per_row(results_table(rows))
    assert best.schema == RESULT_SCHEMA
    assert best.column("attempt").to_pylist() == ["r1", "r2", "r2"]
    assert best.column("error").to_pylist() == [None, None, "new"]
    assert validate_results(best) == []
    assert validate_results(results_table(rows)) != []  # duplicates are caught


# ------------------------------------------------------------------------------------------------------ lock
def test_second_run_is_refused_while_first_holds_lock(storage_url: str) -> None:
    storage = Storage(storage_url)
    with JobLock(storage) as first:
        with pytest.raises(LockHeld, match="another run holds") as info:
            JobLock(storage).acquire()
        assert info.value.holder.token == first.info.token
        assert not isinstance(info.value, StaleLock)
    assert not storage.exists(LOCK_PATH)  # released
    with JobLock(storage):
        pass


def _foreign_lock(storage: Storage, *, host: str, pid: int, age_s: float) -> LockInfo:
    now = time.time()
    info = LockInfo("t" * 32, host, pid, None, now - age_s - 60, now - age_s, "python -m jobs.synthesize ...")
    storage.write_bytes(LOCK_PATH, info.to_json())
    return info


def test_stale_lock_from_another_host_needs_break_flag(storage_url: str) -> None:
    storage = Storage(storage_url)
    _foreign_lock(storage, host="gone-host-1", pid=4242, age_s=3600)
    with pytest.raises(StaleLock, match="--break-stale-lock"):
        JobLock(storage).acquire()
    with JobLock(storage, break_stale=True) as lock:
        assert LockInfo.from_json(storage.read_bytes(LOCK_PATH)).token == lock.info.token


def test_fresh_lock_from_another_host_is_respected(tmp_path) -> None:
    storage = Storage(tmp_path)
    _foreign_lock(storage, host="busy-host-2", pid=4242, age_s=5)
    with pytest.raises(LockHeld, match="busy-host-2"):
        JobLock(storage, break_stale=True).acquire()


def test_dead_process_on_this_host_is_taken_over(tmp_path) -> None:
    storage = Storage(tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _foreign_lock(storage, host=socket.gethostname(), pid=int(gone.stdout), age_s=1)
    assert judge(LockInfo.from_json(storage.read_bytes(LOCK_PATH)), time.time(), 600)[0] == "dead"
    with JobLock(storage) as lock:  # no flag needed: the holder provably cannot write any more
        assert LockInfo.from_json(storage.read_bytes(LOCK_PATH)).pid == lock.info.pid


def test_only_one_of_two_takers_wins(tmp_path) -> None:
    storage = Storage(tmp_path)
    _foreign_lock(storage, host="gone-host-3", pid=1, age_s=3600)
    winner = JobLock(storage, break_stale=True)
    winner.acquire()
    try:
        stale_view = LockInfo("t" * 32, "gone-host-3", 1, None, 0.0, 0.0, "")
        with pytest.raises(LockHeld, match="taking over"):
            JobLock(storage, break_stale=True)._take_over(stale_view)  # raced on the same stale lock: loses
    finally:
        winner.release()


def test_heartbeat_refreshes_and_detects_loss(tmp_path) -> None:
    storage = Storage(tmp_path)
    lock = JobLock(storage, heartbeat_s=0.1, stale_after_s=5)
    lock.acquire()
    try:
        first = LockInfo.from_json(storage.read_bytes(LOCK_PATH)).heartbeat_at
        time.sleep(0.4)
        assert LockInfo.from_json(storage.read_bytes(LOCK_PATH)).heartbeat_at > first
        _foreign_lock(storage, host="thief", pid=1, age_s=0)  # somebody broke our lock
        assert lock.lost.wait(2.0)
    finally:
        lock.release()
    assert LockInfo.from_json(storage.read_bytes(LOCK_PATH)).host == "thief"  # not deleted: it is not ours


def test_corrupt_lock_is_reported_with_the_flag_that_clears_it(storage_url: str) -> None:
    storage = Storage(storage_url)
    storage.write_bytes(LOCK_PATH, b'{"token": "abc", "host": ')  # truncated by a crash mid-write
    with pytest.raises(CorruptLock, match="unreadable.*--break-stale-lock"):
        JobLock(storage).acquire()
    with JobLock(storage, break_stale=True) as lock:
        assert LockInfo.from_json(storage.read_bytes(LOCK_PATH)).token == lock.info.token
    assert not storage.exists(LOCK_PATH)


# ------------------------------------------------------------------------------------------------- settings
def test_settings_are_recorded_once_and_a_change_is_refused_naming_it(tmp_path) -> None:
    storage = Storage(tmp_path)
    check_settings(storage, {"format": "wav", "sample_rate": None, "options": {"noise": 0.5}})
    recorded = storage.read_bytes(SETTINGS)
    check_settings(storage, {"format": "wav", "sample_rate": None, "options": {"noise": 0.5}})  # same: fine
    assert storage.read_bytes(SETTINGS) == recorded
    with pytest.raises(SettingsMismatch) as info:
        check_settings(storage, {"format": "flac", "sample_rate": 16000, "options": {"noise": 0.5}})
    message = str(info.value)
    assert 'format: "wav" -> "flac"' in message and "sample_rate: default -> 16000" in message
    assert "--force" in message and "options" not in message


def test_reset_removes_outputs_and_bookkeeping_but_not_the_lock(tmp_path) -> None:
    storage = Storage(tmp_path)
    ensure_plan(storage, _runnable(3), "m.parquet", rows_per_shard=2)
    for rel in ("audio/a.wav", "_job/parts/00000/x.parquet", "_job/done/00000.json", "results.parquet",
                "summary.json", "keep/me.txt", LOCK_PATH):  # fmt: skip
        storage.write_bytes(rel, b"x")
    reset_job(storage, ("audio",))
    assert sorted(storage.list(recursive=True)) == [LOCK_PATH, "keep/me.txt"]


# ------------------------------------------------------------------------------------------------- inputs
def test_out_inside_a_folder_manifest_is_refused(tmp_path) -> None:
    import pyarrow.parquet as pq

    from pipelines.engine.errors import InputError
    from pipelines.inputs import check_out_apart

    (tmp_path / "m").mkdir()
    pq.write_table(pa.table({"id": ["a"], "text": ["x"], "voice_id": ["v"]}), tmp_path / "m" / "a.parquet")
    for out in (tmp_path / "m", tmp_path / "m" / "run1"):
        with pytest.raises(InputError, match="overlaps the --manifest folder"):
            check_out_apart(str(tmp_path / "m"), str(out))
    with pytest.raises(InputError, match="overlaps"):
        check_out_apart(str(tmp_path / "m" / "*.parquet"), str(tmp_path / "m" / "out"))
    check_out_apart(str(tmp_path / "m"), str(tmp_path / "out"))  # beside it: fine
    check_out_apart(str(tmp_path / "m" / "a.parquet"), str(tmp_path / "m" / "out"))  # one file: never re-read


def test_csv_ids_stay_strings_and_bad_utf8_is_located(tmp_path) -> None:
    from manifests.common import ManifestError

    (tmp_path / "m.csv").write_text("id,text,voice_id\n007,hello,v1\n010,world,v2\n")
    table = load_manifest(str(tmp_path / "m.csv"), ("id", "text", "voice_id", "lang"))
    assert table.column("id").to_pylist() == ["007", "010"]
    (tmp_path / "bad.csv").write_bytes(b"id,text,voice_id\na,fine,v1\nb,caf\xe9,v1\n")
    with pytest.raises(ManifestError, match=r"bad\.csv: invalid UTF-8 at byte 32 \(line 3, row 1\)"):
        load_manifest(str(tmp_path / "bad.csv"), ("id",))
