"""Voices manifest validation, audio decoding, the bank index / `VoiceBank` reader, and fingerprint planning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from manifests.bank import STATUS_ERROR, STATUS_OK, voice_file
from manifests.common import ManifestError, check_id, read_table_bytes, table_to_bytes
from manifests.voices import VoiceSpec, read_voices_bytes, validate_voices, voices_from_table
from pipelines.audio_io import AudioDecodeError, AudioEncodeError, decode_audio, encode_audio
from pipelines.precompute import MISSING_CLIP, clip_digest, plan_precompute, resolve_clip_url, voice_fingerprint
from pipelines.storage import Storage
from pipelines.voice_bank import (
    StaleVoiceError,
    VoiceBank,
    VoiceBankError,
    VoiceFailedError,
    VoiceNotFoundError,
    write_index,
)
from sovits_core.voice import VoiceFeatures


EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"


def _voices(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


# ------------------------------------------------------------------------------------------- voices manifest
def test_example_manifest_is_valid_and_small() -> None:
    table = read_table_bytes((EXAMPLES / "voices.parquet").read_bytes(), "voices.parquet")
    assert validate_voices(table) == []
    voices = voices_from_table(table)
    assert [v.voice_id for v in voices] == ["en_alice", "zh_mei", "en_bob"]
    assert voices[2].ref_text is None and voices[2].weight == (1.0, 0.5) and voices[2].n_clips == 2
    clips = sorted((EXAMPLES / "voices").glob("*.wav"))
    assert len(clips) == 4
    assert sum(p.stat().st_size for p in clips) < 1_000_000
    for clip in clips:
        wav, sr = decode_audio(clip.read_bytes(), clip.name)
        assert 3.0 <= len(wav) / sr <= 10.0, clip.name


@pytest.mark.parametrize(
    ("voice_id", "reason"),
    [
        ("../x", "must match"),
        ("a/b", "must match"),
        (".hidden", "must match"),
        ("", "empty"),
        ("x" * 129, "max 128"),
        ("名前", "must match"),
        (None, "missing"),
    ],
)
def test_hostile_voice_ids_are_rejected(voice_id: object, reason: str) -> None:
    table = _voices([{"voice_id": "ok", "ref_audio": "a.wav"}, {"voice_id": voice_id, "ref_audio": "b.wav"}])
    issues = validate_voices(table)
    assert len(issues) == 1 and issues[0].row == 1
    assert reason in issues[0].reason
    with pytest.raises(ManifestError, match="row 1"):
        voices_from_table(table)


def test_duplicate_and_colliding_ids() -> None:
    table = _voices(
        [
            {"voice_id": "alice", "ref_audio": "a.wav"},
            {"voice_id": "Alice", "ref_audio": "b.wav"},  # same file on case-insensitive file systems
            {"voice_id": "alice", "ref_audio": "c.wav"},  # exact duplicate
            {"voice_id": "\uff41lice", "ref_audio": "d.wav"},  # fullwidth 'a': NFKC -> "alice"
            {"voice_id": "bob", "ref_audio": "e.wav"},
        ]
    )
    issues = validate_voices(table)
    by_row: dict[int, list[str]] = {}
    for issue in issues:
        by_row.setdefault(issue.row, []).append(issue.reason)
    assert sorted(by_row) == [1, 2, 3]
    assert any("collides" in r and "'alice' (row 0)" in r for r in by_row[1])
    assert any(r.startswith("voice_id duplicate 'alice'") for r in by_row[2])
    assert len(by_row[3]) == 2  # unsafe characters and a collision


def test_row_level_problems_are_all_reported() -> None:
    table = _voices(
        [
            {"voice_id": "a", "ref_audio": None, "ref_text": None, "ref_lang": None, "weight": None},
            {"voice_id": "b", "ref_audio": ["x.wav"], "ref_text": "hello", "ref_lang": None, "weight": None},
            {"voice_id": "c", "ref_audio": ["x.wav"], "ref_text": "hello", "ref_lang": "klingon", "weight": None},
            {"voice_id": "d", "ref_audio": ["x.wav", "y.wav"], "ref_text": None, "ref_lang": "en", "weight": [1.0]},
            {"voice_id": "e", "ref_audio": ["x.wav"], "ref_text": None, "ref_lang": "en", "weight": [-1.0]},
            {"voice_id": "f", "ref_audio": ["x.wav"], "ref_text": "  ", "ref_lang": "EN", "weight": None},
        ]
    )
    reasons = {issue.id: issue.reason for issue in validate_voices(table)}
    assert set(reasons) == {"a", "b", "c", "d", "e"}
    assert "ref_audio is missing" in reasons["a"]
    assert "ref_lang is missing" in reasons["b"]
    assert "klingon" in reasons["c"]
    assert "1 values but ref_audio has 2" in reasons["d"]
    assert "> 0" in reasons["e"]
    table = table.slice(5)
    (voice,) = voices_from_table(table)
    assert voice.ref_text is None and voice.ref_lang == "en"  # blank transcript -> reference-free


def test_numeric_ids() -> None:
    issues = validate_voices(pa.table({"voice_id": [1, 2], "ref_audio": ["a.wav", "b.wav"]}))
    assert [i.row for i in issues] == [0, 1] and "must be a string" in issues[0].reason
    csv = b"voice_id,ref_audio\n007,a.wav\n7,b.wav\n"
    assert [v.voice_id for v in voices_from_table(read_voices_bytes(csv, "v.csv"))] == ["007", "7"]


def test_missing_columns_and_empty_manifest() -> None:
    issues = validate_voices(_voices([{"voice_id": "a", "audio": "x.wav"}]))
    assert len(issues) == 1 and issues[0].row is None
    assert "missing required column(s) ['ref_audio']" in issues[0].reason and "audio" in issues[0].reason
    empty = pa.table({"voice_id": pa.array([], pa.string()), "ref_audio": pa.array([], pa.string())})
    assert "no rows" in validate_voices(empty)[0].reason


def test_csv_and_jsonl_manifests_match_parquet() -> None:
    csv = (
        b"voice_id,ref_audio,ref_text,ref_lang,weight\n"
        b"a,one.wav,Hello there.,en,\n"
        b'b,"[""x.wav"", ""y.wav""]",,,"[2, 1]"\n'
        b"c,p.flac|q.flac,,en,\n"
    )
    jsonl = "\n".join(
        json.dumps(row)
        for row in [
            {"voice_id": "a", "ref_audio": "one.wav", "ref_text": "Hello there.", "ref_lang": "en"},
            {"voice_id": "b", "ref_audio": ["x.wav", "y.wav"], "weight": [2, 1]},
            {"voice_id": "c", "ref_audio": ["p.flac", "q.flac"], "ref_lang": "en"},
        ]
    ).encode()
    from_csv = voices_from_table(read_voices_bytes(csv, "v.csv"))
    from_jsonl = voices_from_table(read_voices_bytes(jsonl, "v.jsonl"))
    assert from_csv == from_jsonl
    assert from_csv[1] == VoiceSpec("b", ("x.wav", "y.wav"), None, "auto", (2.0, 1.0))
    assert from_csv[2].ref_audio == ("p.flac", "q.flac")
    with pytest.raises(ManifestError, match="unknown manifest format"):
        read_table_bytes(b"", "voices.xlsx")
    with pytest.raises(ManifestError, match="line 2"):
        read_table_bytes(b'{"voice_id": "a"}\n{oops\n', "v.jsonl")


def test_check_id() -> None:
    assert check_id("voice-1.v2_final") is None
    assert check_id("a" * 128) is None


# --------------------------------------------------------------------------------------------------- audio io
@pytest.mark.parametrize(("fmt", "sr", "channels"), [("wav", 16000, 1), ("flac", 44100, 2), ("ogg", 22050, 1),
                                                     ("mp3", 24000, 2)])  # fmt: skip
def test_audio_roundtrip(fmt: str, sr: int, channels: int) -> None:
    t = np.arange(sr) / sr
    wav = np.stack([0.4 * np.sin(2 * np.pi * 330 * t * (c + 1)) for c in range(channels)], 1).astype(np.float32)
    wav = wav[:, 0] if channels == 1 else wav
    out, out_sr = decode_audio(encode_audio(wav, sr, fmt), f"x.{fmt}")
    assert out_sr == sr and out.dtype == np.float32
    assert out.shape[1:] == wav.shape[1:]
    assert abs(out.shape[0] - sr) < sr * 0.1  # lossy codecs pad a little
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(out, wav, atol=1e-3)


def test_audio_errors() -> None:
    with pytest.raises(AudioDecodeError, match="clip.wav: empty"):
        decode_audio(b"", "clip.wav")
    with pytest.raises(AudioDecodeError, match="not readable as audio"):
        decode_audio(b"RIFF\x00\x00garbage" * 10, "clip.wav")
    with pytest.raises(AudioEncodeError, match="NaN"):
        encode_audio(np.array([0.0, np.nan], np.float32), 16000, "wav")
    with pytest.raises(AudioEncodeError, match="unknown audio format"):
        encode_audio(np.zeros(10, np.float32), 16000, "aac")


# ------------------------------------------------------------------------------------------------ bank reader
def _features(seed: int, model_fp: str = "model-a") -> VoiceFeatures:
    gen = torch.Generator().manual_seed(seed)
    return VoiceFeatures(
        ge=torch.randn(8, 1, generator=gen),
        prompt_codes=torch.randint(0, 100, (20,), generator=gen),
        prompt_phone_ids=torch.randint(0, 700, (6,), generator=gen),
        prompt_bert=torch.zeros(1024, 6),
        ref_lang="en",
        ref_text="hello.",
        model_fingerprint=model_fp,
        ref_seconds=4.0,
    )


def _bank_row(voice_id: str, status: str = STATUS_OK, data: bytes | None = None, model_fp: str = "model-a") -> dict:
    from datetime import datetime, timezone

    return {
        "voice_id": voice_id,
        "file": voice_file(voice_id) if status == STATUS_OK else None,
        "fingerprint": "fp-" + voice_id,
        "model_fingerprint": model_fp,
        "sha256": hashlib.sha256(data).hexdigest() if data else None,
        "n_clips": 1,
        "ref_seconds": 4.0 if status == STATUS_OK else None,
        "status": status,
        "error": None if status == STATUS_OK else "reference clip 0: audio is silent (peak 0.00e+00)",
        "warnings": [],
        "created_at": datetime.now(timezone.utc),
    }


@pytest.fixture
def bank(tmp_path: Path) -> tuple[Storage, dict[str, VoiceFeatures]]:
    storage = Storage(tmp_path / "bank")
    feats = {"alice": _features(0), "bob": _features(1)}
    rows = []
    for voice_id, vf in feats.items():
        data = vf.to_bytes()
        storage.write_bytes(voice_file(voice_id), data)
        rows.append(_bank_row(voice_id, data=data))
    rows.append(_bank_row("carol", STATUS_ERROR))
    write_index(storage, rows)
    return storage, feats


def test_voice_bank_get_has_index(bank: tuple[Storage, dict[str, VoiceFeatures]]) -> None:
    storage, feats = bank
    vb = VoiceBank(storage.url(), model_fingerprint="model-a")
    assert vb.voice_ids() == ["alice", "bob"]
    assert vb.has("alice") and not vb.has("carol") and not vb.has("nobody")
    assert vb.index().num_rows == 3
    got = vb.get("bob")
    torch.testing.assert_close(got.ge, feats["bob"].ge)
    torch.testing.assert_close(got.prompt_codes, feats["bob"].prompt_codes)
    with pytest.raises(VoiceNotFoundError, match="'nobody' is not in the voice bank"):
        vb.get("nobody")
    with pytest.raises(VoiceFailedError, match="carol.*silent"):
        vb.get("carol")
    with pytest.raises(StaleVoiceError, match="model-a"):
        VoiceBank(storage, model_fingerprint="model-b").get("alice")


def test_voice_bank_lru_and_integrity(bank: tuple[Storage, dict[str, VoiceFeatures]], monkeypatch) -> None:
    storage, _ = bank
    vb = VoiceBank(storage, cache_size=1)
    reads: list[str] = []
    real = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda rel: reads.append(rel) or real(rel))
    vb.get("alice"), vb.get("alice")
    assert reads.count(voice_file("alice")) == 1  # second call served from the LRU
    vb.get("bob"), vb.get("alice")  # cache_size=1: bob evicted alice
    assert reads.count(voice_file("alice")) == 2
    storage.write_bytes(voice_file("bob"), _features(9).to_bytes())  # rewritten behind the index's back
    vb.reload()
    with pytest.raises(VoiceBankError, match="changed since the index was read"):
        vb.get("bob")
    storage.delete(voice_file("alice"))
    with pytest.raises(VoiceBankError, match="feature file is missing"):
        vb.get("alice")


def test_missing_bank(tmp_path: Path) -> None:
    with pytest.raises(VoiceBankError, match="no voice bank at .*index.parquet is missing"):
        VoiceBank(tmp_path / "none").voice_ids()


def test_bad_index_is_rejected(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.write_bytes("index.parquet", table_to_bytes(pa.table({"voice_id": ["a"]})))
    with pytest.raises(ManifestError, match="not a valid bank index"):
        VoiceBank(storage).index()


# ------------------------------------------------------------------------------------------ fingerprints/plan
def test_fingerprint_tracks_exactly_what_features_depend_on() -> None:
    voice = VoiceSpec("v", ("a.wav", "b.wav"), "hello", "en", (1.0, 0.5))
    digests = ["sha256:aa", "sha256:bb"]
    base = voice_fingerprint("model", digests, voice)
    moved = VoiceSpec("v", ("elsewhere/a.wav", "s3://x/b.wav"), "hello", "en", (1.0, 0.5))
    assert voice_fingerprint("model", digests, moved) == base  # clip locations do not matter, content does
    variants = [
        voice_fingerprint("model2", digests, voice),
        voice_fingerprint("model", ["sha256:aa", "sha256:cc"], voice),
        voice_fingerprint("model", digests[::-1], voice),
        voice_fingerprint("model", digests, VoiceSpec("v", voice.ref_audio, "hello!", "en", (1.0, 0.5))),
        voice_fingerprint("model", digests, VoiceSpec("v", voice.ref_audio, "hello", "zh", (1.0, 0.5))),
        voice_fingerprint("model", digests, VoiceSpec("v", voice.ref_audio, "hello", "en", (1.0, 1.0))),
    ]
    assert len({base, *variants}) == 7


def test_resolve_clip_url() -> None:
    assert resolve_clip_url("s3://b/manifests", "clips/a.wav") == "s3://b/manifests/clips/a.wav"
    assert resolve_clip_url("s3://b/manifests", "../audio/a.wav") == "s3://b/audio/a.wav"
    assert resolve_clip_url("/data/m", "a.wav") == "/data/m/a.wav"
    assert resolve_clip_url("/data/m", "gs://other/a.wav") == "gs://other/a.wav"
    assert resolve_clip_url("s3://b/m", "/abs/a.wav") == "/abs/a.wav"


def test_plan_skips_only_up_to_date_voices(tmp_path: Path) -> None:
    for name, data in [("a.wav", b"A"), ("b.wav", b"B"), ("c.wav", b"C")]:
        (tmp_path / name).write_bytes(data)
    voices = [VoiceSpec(v, (f"{v}.wav",), None, "en") for v in ("a", "b", "c")] + [
        VoiceSpec("gone", ("missing.wav",), None, "en")
    ]
    fp = {v.voice_id: voice_fingerprint("m", [clip_digest(v.voice_id.upper().encode())], v) for v in voices[:3]}
    fp["gone"] = voice_fingerprint("m", [MISSING_CLIP], voices[3])
    qc = {"speaker_model": "resemblyzer-ge2e"}  # the voice's QC figures are in the bank too
    previous = [
        {**_bank_row("a"), "fingerprint": fp["a"], **qc},  # up to date
        {**_bank_row("b"), "fingerprint": fp["b"], **qc},  # up to date, but its file was deleted
        {**_bank_row("c"), "fingerprint": "old"},  # stale
        {**_bank_row("gone", STATUS_ERROR), "fingerprint": fp["gone"]},  # failed before, clip still missing
    ]
    plan = plan_precompute(voices, str(tmp_path), previous, {voice_file("a"), voice_file("c")}, "m")
    assert sorted(plan.up_to_date) == ["a", "gone"]
    assert sorted(t.voice.voice_id for t in plan.tasks) == ["b", "c"]
    assert plan.tasks[0].clip_urls == (str(tmp_path / "b.wav"),)
    forced = plan_precompute(voices, str(tmp_path), previous, {voice_file("a")}, "m", force=True)
    assert len(forced.tasks) == 4 and forced.up_to_date == []
    other_model = plan_precompute(voices, str(tmp_path), previous, {voice_file("a")}, "m2")
    assert len(other_model.tasks) == 4
    previous[0].pop("speaker_model")  # a bank made before QC: only the QC figures are added, nothing recomputed
    older = plan_precompute(voices, str(tmp_path), previous, {voice_file("a"), voice_file("c")}, "m")
    assert [(t.voice.voice_id, t.task) for t in older.tasks] == [("a", "qc_stats"), ("b", "compute"), ("c", "compute")]
