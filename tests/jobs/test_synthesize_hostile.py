"""jobs.synthesize attacked as a new user would: bad flags, bad model files, changed settings, huge rows, failed
voices, per-process storage, out-of-memory batches, a cluster without the GPUs asked for. Each case: one clear
line, the documented exit code, nothing half-written."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from jobs.synthesize import main
from pipelines.engine.lock import LOCK_PATH
from pipelines.storage import Storage
from pipelines.voice_bank import read_index, write_index


SHORT = [{"id": f"s{i}", "text": "你好，世界。", "voice_id": "zh_a" if i % 2 else "zh_b"} for i in range(3)]


def _manifest(tmp_path: Path, rows: list[dict], name: str = "m.parquet") -> str:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / name)
    return str(folder / name)


def _argv(manifest: str, bank: str, model: Path, out: Path | str, *extra: str) -> list[str]:
    return ["--manifest", manifest, "--voices", bank, "--model-dir", str(model), "--out", str(out),
            "--workers", "0", "--max-new-tokens", "12", "--batch-size", "2", "--no-progress", "--qc", "off",
            *extra]  # fmt: skip


def _results(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(out / "results.parquet").to_pylist()}


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--format", "mp3", "--sample-rate", "17000"], "--sample-rate 17000: mp3 cannot hold 17000 Hz"),
        (["--sample-rate", "7999"], "--sample-rate 7999: outside [8000, 192000] Hz"),
        (["--max-new-tokens", "0"], "--max-new-tokens 0: must be >= 1"),
        (["--workers", "-1"], "--workers -1: must be >= 0"),
        (["--batch-size", "0"], "--batch-size 0: must be >= 1"),
        (["--pool-start-timeout", "0"], "--pool-start-timeout 0.0: must be > 0"),
    ],
)
def test_bad_arguments_exit_2_before_anything(
    extra: list[str], flag: str, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    out = tmp_path / "out"
    with caplog.at_level(logging.ERROR):
        assert main(_argv(_manifest(tmp_path, SHORT), synth_voice_bank, synth_model_dir, out, *extra)) == 2
    assert len(_errors(caplog)) == 1 and flag in _errors(caplog)[0]
    assert not out.exists()


def test_unknown_dtype_is_refused_by_the_parser(synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(
            _argv(_manifest(tmp_path, SHORT), synth_voice_bank, synth_model_dir, tmp_path / "out", "--dtype", "float8")
        )
    assert info.value.code == 2 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["zero-byte", "truncated", "pickle-with-code"])
def test_bad_checkpoint_exits_2_on_the_driver(
    damage: str, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    model = tmp_path / "model"
    shutil.copytree(synth_model_dir, model)
    gpt = model / "gpt.ckpt"
    if damage == "zero-byte":
        gpt.write_bytes(b"")
    elif damage == "truncated":
        gpt.write_bytes(gpt.read_bytes()[:5000])
    else:
        torch.save({"weight": {"x": _Payload(tmp_path / "pwned")}, "config": {}}, gpt)
    out = tmp_path / "out"
    argv = _argv(_manifest(tmp_path, SHORT), synth_voice_bank, model, out, "--workers", "1")  # a pool run: no Ray
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 2
    assert len(_errors(caplog)) == 1 and str(gpt) in _errors(caplog)[0]
    assert not out.exists() and not (tmp_path / "pwned").exists()


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return exec, (f"open({str(self.target)!r}, 'w').close()",)


def test_rerun_with_another_format_is_refused_and_force_replaces_the_old_files(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    manifest, out = _manifest(tmp_path, SHORT), tmp_path / "out"
    assert main(_argv(manifest, synth_voice_bank, synth_model_dir, out)) == 0
    with caplog.at_level(logging.ERROR):
        assert main(_argv(manifest, synth_voice_bank, synth_model_dir, out, "--format", "flac")) == 2
    assert 'format: "wav" -> "flac"' in _errors(caplog)[0] and "--force" in _errors(caplog)[0]
    assert sorted(p.suffix for p in (out / "audio").iterdir()) == [".wav"] * 3  # nothing written
    assert main(_argv(manifest, synth_voice_bank, synth_model_dir, out, "--format", "flac", "--force")) == 0
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["s0.flac", "s1.flac", "s2.flac"]
    assert {r["format"] for r in _results(out).values()} == {"flac"}


def test_a_huge_row_fails_clearly_and_the_short_rows_finish(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    rows = [*SHORT, {"id": "book", "text": "很长的一句话。" * 15_000, "voice_id": "zh_a"}, {"id": "digits",
            "text": "9" * 400, "voice_id": "zh_a", "lang": "zh"}]  # fmt: skip
    out = tmp_path / "out"
    assert main(_argv(_manifest(tmp_path, rows), synth_voice_bank, synth_model_dir, out)) == 3
    results = _results(out)
    assert results["book"]["status"] == "failed" and results["book"]["error_kind"] == "text_too_long"
    assert "105,000 characters" in results["book"]["error"] and "jobs.audiobook" in results["book"]["error"]
    assert all(results[r]["status"] == "ok" for r in ("s0", "s1", "s2", "digits"))  # 400 digits: BERT windows
    assert json.loads((out / "summary.json").read_text())["status"] == "failed_rows"


def test_a_voice_that_failed_precompute_is_reported_with_the_banks_reason(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    bank = tmp_path / "bank"
    shutil.copytree(synth_voice_bank, bank)
    rows = read_index(Storage(bank)).to_pylist()
    bad = {**rows[0], "voice_id": "v_nan", "file": None, "status": "error", "error": "clip 0 has NaN samples"}
    write_index(Storage(bank), [*rows, bad])
    manifest = _manifest(tmp_path, [*SHORT, {"id": "n1", "text": "你好。", "voice_id": "v_nan"}])
    with caplog.at_level(logging.ERROR):
        assert main(_argv(manifest, str(bank), synth_model_dir, tmp_path / "out")) == 2
    assert "voice 'v_nan' failed precompute: clip 0 has NaN samples" in caplog.text


def test_memory_storage_is_refused_for_a_pool_but_works_in_process(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    manifest = _manifest(tmp_path, SHORT)
    with caplog.at_level(logging.ERROR):
        assert main(_argv(manifest, synth_voice_bank, synth_model_dir, "memory://job1", "--workers", "1")) == 2
    assert "memory:// storage exists only inside one process" in _errors(caplog)[0]
    assert main(_argv(manifest, synth_voice_bank, synth_model_dir, "memory://job2")) == 0
    assert Storage("memory://job2").exists("results.parquet")


def test_an_out_of_memory_batch_is_split_and_rerun(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sovits_core.synthesize as core

    real, calls = core.synthesize, []

    def flaky(bundle, requests, options):
        calls.append(len(requests))
        if len(requests) > 1 and calls.count(len(requests)) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real(bundle, requests, options)

    monkeypatch.setattr(core, "synthesize", flaky)
    out = tmp_path / "out"
    assert main(_argv(_manifest(tmp_path, SHORT), synth_voice_bank, synth_model_dir, out)) == 0
    assert calls[0] == 2 and 1 in calls  # the two-row batch ran out of memory, then ran as two single rows
    assert {r["status"] for r in _results(out).values()} == {"ok"}


def test_output_folder_inside_the_manifest_folder_is_refused(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    manifest = _manifest(tmp_path, SHORT)
    folder = str(Path(manifest).parent)
    with caplog.at_level(logging.ERROR):
        assert main(_argv(folder, synth_voice_bank, synth_model_dir, Path(folder) / "out")) == 2
    assert "overlaps the --manifest folder" in _errors(caplog)[0]
    assert not (Path(folder) / "out").exists()


def test_corrupt_lock_is_one_line_naming_the_flag(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    out = tmp_path / "out"
    Storage(out).write_bytes(LOCK_PATH, b"\x00garbage")
    argv = _argv(_manifest(tmp_path, SHORT), synth_voice_bank, synth_model_dir, out)
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1
    assert len(_errors(caplog)) == 1 and "--break-stale-lock" in _errors(caplog)[0]
    assert main([*argv, "--break-stale-lock"]) == 0 and not (out / LOCK_PATH).exists()


@pytest.mark.slow
def test_pool_without_the_gpus_it_asks_for_fails_after_the_timeout(
    ray_local: None, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    out = tmp_path / "out"
    argv = _argv(_manifest(tmp_path, SHORT), synth_voice_bank, synth_model_dir, out, "--workers", "1",
                 "--num-gpus", "1", "--pool-start-timeout", "3")  # fmt: skip
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1
    message = _errors(caplog)[-1]
    assert "did not start within 3 s" in message and "1 GPU" in message and "GPU 0/0" in message
    assert not (out / LOCK_PATH).exists()  # released


def test_csv_manifest_keeps_ids_like_007(synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "m.csv").write_text("id,text,voice_id\n007,你好。,zh_a\n010,世界。,zh_b\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(_argv(str(folder / "m.csv"), synth_voice_bank, synth_model_dir, out)) == 0
    assert sorted(_results(out)) == ["007", "010"] and (out / "audio" / "007.wav").exists()
