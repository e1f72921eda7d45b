"""QC inside jobs.synthesize: retries with new seeds in later batches, best attempt kept, qc_failed rows quarantined,
reruns, --retry-qc-failed; and the voice bank's QC figures (computed once, old banks upgraded).

The tiny random model speaks noise, which real QC rightly rejects, so the retry tests script the verdicts: a QC judge
that fails chosen rows on chosen attempts. The checks themselves are tested on real speech in tests/pipelines/qc.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.synthesize import main
from pipelines.qc.attempts import attempt_seed
from pipelines.qc.evaluate import QualityControl, Verdict


TEXTS = {"a0": "你好。", "a1": "世界。", "b0": "今天很好。", "b1": "明天见。", "c0": "谢谢你。", "c1": "春天来了。"}


def _setup(tmp_path: Path) -> tuple[str, Path]:
    rows = [{"id": k, "text": t, "voice_id": "zh_a" if k.endswith("0") else "zh_b"} for k, t in TEXTS.items()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    (tmp_path / "qc.json").write_text(json.dumps({"preset": "off", "enable": ["token_cap"]}))
    return str(tmp_path / "m.parquet"), tmp_path / "qc.json"


def _argv(manifest: str, bank: str, model: Path, out: Path, qc: Path, *extra: str) -> list[str]:
    return ["--manifest", manifest, "--voices", bank, "--model-dir", str(model), "--out", str(out), "--workers", "0",
            "--max-new-tokens", "10", "--batch-size", "3", "--no-progress", "--qc", str(qc), *extra]  # fmt: skip


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """A QC judge failing "b" rows on their first attempt and "c" rows always; records calls and batch contents."""
    seen: dict[str, list] = {"attempts": [], "batches": []}
    attempts: Counter = Counter()

    def letters(text: str) -> str:
        return "".join(ch for ch in text if ch.isalnum())

    text_to_id = {letters(t): k for k, t in TEXTS.items()}

    def judge(self: QualityControl, items: list) -> list[Verdict]:
        ids = [text_to_id[letters(item.text)] for item in items]  # the spoken (normalised) text
        seen["batches"].append([(i, attempts[i]) for i in ids])
        out = []
        for i in ids:
            fail = (i.startswith("b") and attempts[i] == 0) or (i.startswith("c") and seen.get("fail_c", True))
            attempts[i] += 1
            out.append(Verdict({"speaker_similarity": 0.5 if fail else 0.9}, ["speaker"] if fail else [], 0.01))
        return out

    monkeypatch.setattr(QualityControl, "judge", judge)
    return seen


def test_failing_rows_are_retried_in_later_batches_then_kept_or_quarantined(
    scripted: dict, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    manifest, qc = _setup(tmp_path)
    out = tmp_path / "out"
    argv = _argv(manifest, synth_voice_bank, synth_model_dir, out, qc)
    assert main(argv) == 3  # two rows failed QC in every attempt

    results = {r["id"]: r for r in pq.read_table(out / "results.parquet").to_pylist()}
    for i in ("a0", "a1"):
        assert (
            results[i]["status"] == "ok" and results[i]["qc"]["attempt"] == 0 and results[i]["qc"]["n_attempts"] == 1
        )
    for i in ("b0", "b1"):
        row = results[i]
        assert (
            row["status"] == "ok"
            and row["qc"]["attempt"] == 1
            and [a["passed"] for a in row["qc_attempts"]]
            == [
                False,
                True,
            ]
        )
        assert row["qc_attempts"][0]["seed"] == row["seed"]  # attempt 0 is the row's own seed
        assert row["qc_attempts"][1]["seed"] == attempt_seed(row["seed"], 1) != row["seed"]
        assert (out / "audio" / f"{i}.wav").exists() and not (out / "quarantine" / f"{i}.attempt0.wav").exists()
    for i in ("c0", "c1"):
        row = results[i]
        assert row["status"] == "qc_failed" and row["error_kind"] == "qc_failed" and "speaker" in row["error"]
        assert len(row["qc_attempts"]) == 3 and not (out / "audio" / f"{i}.wav").exists()
        assert sorted(p.name for p in (out / "quarantine").glob(f"{i}.*")) == [f"{i}.attempt{n}.wav" for n in range(3)]
        assert row["audio_uri"].endswith(f"quarantine/{i}.attempt0.wav")  # the best attempt (all equal: the first)
    # retries never run alone: a later batch mixes a retried row with rows on their first attempt
    assert any({n for _, n in batch} == {0, 1} or {n for _, n in batch} >= {0, 1} for batch in scripted["batches"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_by_status"]["qc_failed"] == 2 and summary["exit_code"] == 3
    qc_counts = summary["qc"]
    assert (qc_counts["passed_first_attempt"], qc_counts["passed_after_retry"], qc_counts["qc_failed"]) == (2, 2, 2)
    assert qc_counts["retries"] == 2 * 1 + 2 * 2 and qc_counts["mode"] == "enforce"
    assert (out / "report.html").exists()

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    calls = len(scripted["batches"])
    assert main(argv) == 3  # a plain rerun keeps the qc_failed rows: nothing is synthesized or written
    assert len(scripted["batches"]) == calls
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before

    scripted["fail_c"] = False
    assert main([*argv, "--retry-qc-failed"]) == 0
    results = {r["id"]: r for r in pq.read_table(out / "results.parquet").to_pylist()}
    for i in ("c0", "c1"):
        row = results[i]
        assert row["status"] == "ok" and row["qc"]["attempt"] == 3 and len(row["qc_attempts"]) == 4  # seeds go on
        assert (out / "audio" / f"{i}.wav").exists() and not list((out / "quarantine").glob(f"{i}.*"))
    assert results["b0"]["qc"]["attempt"] == 1  # rows that were done are not redone


def test_bank_keeps_qc_figures_and_an_old_bank_is_upgraded_without_recomputing(
    synth_model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from jobs.precompute_voices import main as precompute
    from manifests.common import table_to_bytes
    from manifests.testing import two_voice_table
    from pipelines.storage import Storage
    from pipelines.voice_bank import read_index

    clip = Path(__file__).resolve().parents[2] / "manifests" / "examples" / "voices" / "zh_mei.wav"
    shutil.copy(clip, tmp_path / "mei.wav")
    (tmp_path / "voices.parquet").write_bytes(table_to_bytes(two_voice_table()))
    bank = tmp_path / "bank"
    argv = ["--voices", str(tmp_path / "voices.parquet"), "--model-dir", str(synth_model_dir), "--out", str(bank),
            "--workers", "0"]  # fmt: skip
    assert precompute(argv) == 0
    rows = {r["voice_id"]: r for r in read_index(Storage(bank)).to_pylist()}
    embedding = np.asarray(rows["zh_a"]["speaker_embedding"])
    assert embedding.shape == (256,) and abs(np.linalg.norm(embedding) - 1) < 1e-5
    assert rows["zh_a"]["speaker_model"] == "resemblyzer-ge2e"
    assert rows["zh_a"]["tokens_per_phone"] > 0 and 0 < rows["zh_a"]["seconds_per_phone"] < 1
    assert rows["zh_b"]["tokens_per_phone"] is None  # reference-free: no transcript, no rate
    np.testing.assert_allclose(rows["zh_b"]["speaker_embedding"], embedding, atol=1e-5)  # same clip

    old = read_index(Storage(bank)).drop_columns(["speaker_embedding", "speaker_model", "tokens_per_phone",
                                                   "seconds_per_phone"])  # fmt: skip
    (bank / "index.parquet").write_bytes(table_to_bytes(old))  # a bank made before QC
    features = {p.name: p.read_bytes() for p in (bank / "voices").iterdir()}
    assert precompute(argv) == 0
    upgraded = {r["voice_id"]: r for r in read_index(Storage(bank)).to_pylist()}
    assert {p.name: p.read_bytes() for p in (bank / "voices").iterdir()} == features  # nothing recomputed
    for voice, row in rows.items():
        assert upgraded[voice]["fingerprint"] == row["fingerprint"] and upgraded[voice]["sha256"] == row["sha256"]
        np.testing.assert_allclose(upgraded[voice]["speaker_embedding"], row["speaker_embedding"], atol=1e-6)
    before = (bank / "index.parquet").stat().st_mtime_ns
    assert precompute(argv) == 0 and (bank / "index.parquet").stat().st_mtime_ns == before  # now up to date


def test_report_only_qc_with_an_asr_round_trip(synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path) -> None:
    """Real checks (no script) in report-only mode, a tiny random Whisper folder as the ASR: rows are kept, scored."""
    from pipelines.qc.asr_testing import make_tiny_whisper

    manifest, _ = _setup(tmp_path)
    whisper = make_tiny_whisper(tmp_path / "whisper")
    out = tmp_path / "out"
    argv = _argv(manifest, synth_voice_bank, synth_model_dir, out, Path("report-only"), "--asr-backend", "whisper",
                 "--asr-model", str(whisper))  # fmt: skip
    assert main(argv) == 0  # report-only: nothing is retried or failed, whatever the scores
    results = pq.read_table(out / "results.parquet").to_pylist()
    assert {r["status"] for r in results} == {"ok"} and not (out / "quarantine").exists()
    for row in results:
        qc = row["qc"]
        assert qc["mode"] == "report" and qc["n_attempts"] == 1 and isinstance(qc["asr_text"], str)
        assert qc["asr_unit"] == "char" and qc["asr_reference_units"] > 0 and qc["speech_ratio"] is not None
        assert row["time_qc"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["qc"]["mode"] == "report" and summary["qc"]["checked"] == len(TEXTS)
    assert summary["qc"]["flagged"] + summary["qc"]["passed"] == len(TEXTS)
    assert "asr" in summary["qc"]["thresholds"]
