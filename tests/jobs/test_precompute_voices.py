"""End to end: ``jobs.precompute_voices`` with the tiny model, on local disk and on fake S3, through local Ray."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from jobs.precompute_voices import EXIT_FATAL, EXIT_INVALID, EXIT_OK, EXIT_PARTIAL, PrecomputeConfig, main, run
from manifests.bank import STATUS_ERROR, STATUS_OK
from manifests.common import table_to_bytes
from pipelines.audio_io import decode_audio, encode_audio
from pipelines.engine.flags import from_flat, replace_flat
from pipelines.engine.lock import JobLock
from pipelines.storage import Storage
from pipelines.voice_bank import VoiceBank
from sovits_core.bundle import model_fingerprint


EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"
ALICE_TEXT = "The quick brown fox jumps over the lazy dog, and the birds sing in the morning."
BAD_REASONS = {
    "bad_missing": "file not found",
    "bad_corrupt": "not readable as audio",
    "bad_short": "too short",
    "bad_silent": "silent",
    "bad_nan": "NaN",
    "bad_clipped": "clipped",
}


def _example(name: str) -> tuple[np.ndarray, int]:
    return decode_audio((EXAMPLES / "voices" / name).read_bytes(), name)


def _float_wav(wav: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _clip_files() -> dict[str, bytes]:
    """Clip name -> bytes: example speech in several formats/rates/channels, plus broken clips."""
    alice, sr = _example("en_alice.wav")
    stereo44 = np.stack([alice, 0.8 * alice], 1)
    nan = alice.copy()
    nan[1000:1010] = np.nan
    return {
        "en_alice.wav": (EXAMPLES / "voices" / "en_alice.wav").read_bytes(),
        "en_bob_1.wav": (EXAMPLES / "voices" / "en_bob_1.wav").read_bytes(),
        "en_bob_2.wav": (EXAMPLES / "voices" / "en_bob_2.wav").read_bytes(),
        "alice_stereo.flac": encode_audio(_resample(stereo44, sr, 44100), 44100, "flac"),
        "bob.mp3": encode_audio(_example("en_bob_2.wav")[0], sr, "mp3"),
        "corrupt.wav": b"RIFF\x24\x00\x00\x00WAVEfmt this is not audio at all" * 8,
        "short.wav": encode_audio(alice[sr : 2 * sr], sr, "wav"),
        "silent.wav": encode_audio(np.zeros(4 * sr, np.float32), sr, "wav"),
        "nan.wav": _float_wav(nan, sr),
        "clipped.wav": encode_audio(np.clip(alice * 8, -1, 1), sr, "wav"),
    }


def _resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    import soxr

    return soxr.resample(wav, sr_in, sr_out).astype(np.float32)


GOOD_ROWS = [
    {"voice_id": "en_alice", "ref_audio": ["clips/en_alice.wav"], "ref_text": ALICE_TEXT, "ref_lang": "en"},
    {"voice_id": "en_bob", "ref_audio": ["clips/en_bob_1.wav", "clips/en_bob_2.wav"], "weight": [1.0, 0.5]},
    {"voice_id": "alice_stereo", "ref_audio": ["clips/alice_stereo.flac"], "ref_text": ALICE_TEXT, "ref_lang": "en"},
    {"voice_id": "bob_mp3", "ref_audio": ["clips/bob.mp3"]},
]
BAD_ROWS = [
    {"voice_id": "bad_missing", "ref_audio": ["clips/nope.wav"]},
    {"voice_id": "bad_corrupt", "ref_audio": ["clips/corrupt.wav"]},
    {"voice_id": "bad_short", "ref_audio": ["clips/short.wav"]},
    {"voice_id": "bad_silent", "ref_audio": ["clips/en_alice.wav", "clips/silent.wav"]},
    {"voice_id": "bad_nan", "ref_audio": ["clips/nan.wav"]},
    {"voice_id": "bad_clipped", "ref_audio": ["clips/clipped.wav"]},
]


def _manifest(rows: list[dict]) -> bytes:
    full = [{"ref_text": None, "ref_lang": None, "weight": None, **row} for row in rows]
    return table_to_bytes(pa.Table.from_pylist(full))


def _populate(storage: Storage, rows: list[dict]) -> str:
    """Write clips and ``voices.parquet`` into `storage`; return the manifest's URL."""
    for name, data in _clip_files().items():
        storage.write_bytes(f"clips/{name}", data)
    storage.write_bytes("voices.parquet", _manifest(rows))
    return storage.url("voices.parquet")


def _snapshot(storage: Storage) -> dict[str, tuple]:
    """Every object under `storage` with its modification stamp / ETag and content hash."""
    snap = {}
    for rel in storage.list(recursive=True):
        info = storage.info(rel)
        stamp = (info.get("mtime"), str(info.get("LastModified")), info.get("ETag"))
        snap[rel] = (stamp, hashlib.sha256(storage.read_bytes(rel)).hexdigest())
    return snap


BOOKKEEPING = ("_job/", "results.parquet", "summary.json", "report.html")  # the engine's files, not the bank's


def _changed(before: dict[str, tuple], storage: Storage) -> list[str]:
    after = _snapshot(storage)
    changed = (rel for rel in set(after) | set(before) if after.get(rel) != before.get(rel))
    return sorted(rel for rel in changed if not rel.startswith(BOOKKEEPING))


def _rows(bank: Storage) -> dict[str, dict]:
    return {row["voice_id"]: row for row in VoiceBank(bank).index().to_pylist()}


def _config(manifest: str, model_dir: str | Path, bank: str, tmp_path: Path, **kw) -> PrecomputeConfig:
    return from_flat(
        PrecomputeConfig, voices=manifest, model_dir=str(model_dir), out=bank, workers=1, num_gpus=0,
        model_cache=str(tmp_path / "cache"), progress=False, **kw,
    )  # fmt: skip


@pytest.mark.slow
def test_local_bank_end_to_end(tmp_path: Path, tiny_model_dir: Path, ray_local: None) -> None:
    src = Storage(tmp_path / "src")
    manifest = _populate(src, GOOD_ROWS + BAD_ROWS)
    bank = Storage(tmp_path / "bank")
    config = _config(manifest, tiny_model_dir, bank.url(), tmp_path)

    assert run(config) == EXIT_PARTIAL
    rows = _rows(bank)
    assert sorted(rows) == sorted(r["voice_id"] for r in GOOD_ROWS + BAD_ROWS)
    for voice_id, reason in BAD_REASONS.items():
        assert rows[voice_id]["status"] == STATUS_ERROR and reason in rows[voice_id]["error"], rows[voice_id]
        assert rows[voice_id]["fingerprint"] is not None  # data failure: not retried while unchanged
    assert "clips/silent.wav" in rows["bad_silent"]["error"]  # names the failing clip of a two-clip voice
    fp = model_fingerprint(tiny_model_dir)
    voices = VoiceBank(bank, model_fingerprint=fp)
    assert voices.voice_ids() == sorted(r["voice_id"] for r in GOOD_ROWS)
    alice, bob = voices.get("en_alice"), voices.get("en_bob")
    assert not alice.reference_free and alice.prompt_codes.numel() > 0 and alice.ref_lang == "en"
    assert bob.reference_free and bob.n_clips == 2 and rows["en_bob"]["n_clips"] == 2
    assert voices.get("alice_stereo").ref_seconds > 3.0 and voices.get("bob_mp3").reference_free
    assert sorted(bank.list("voices")) == sorted(f"voices/{r['voice_id']}.safetensors" for r in GOOD_ROWS)

    before = _snapshot(bank)
    assert run(config) == EXIT_PARTIAL  # nothing to do: nothing written
    assert _snapshot(bank) == before

    # Reruns in this process (workers=0; the Ray path is exercised above) to keep the test short.
    inline = replace_flat(config, workers=0)
    src.write_bytes("clips/en_bob_2.wav", src.read_bytes("clips/en_alice.wav"))  # one clip of en_bob changes
    assert run(inline) == EXIT_PARTIAL
    assert _changed(before, bank) == ["index.parquet", "voices/en_bob.safetensors"]
    after_clip = _rows(bank)
    assert after_clip["en_bob"]["fingerprint"] != rows["en_bob"]["fingerprint"]
    assert {v: r for v, r in after_clip.items() if v != "en_bob"} == {v: r for v, r in rows.items() if v != "en_bob"}

    before = _snapshot(bank)
    new_text = [{**GOOD_ROWS[0], "ref_text": "The quick brown fox."}, *GOOD_ROWS[1:], *BAD_ROWS]
    src.write_bytes("voices.parquet", _manifest(new_text))  # en_alice's transcript changes
    assert run(inline) == EXIT_PARTIAL
    assert _changed(before, bank) == ["index.parquet", "voices/en_alice.safetensors"]
    assert VoiceBank(bank).get("en_alice").ref_text == "The quick brown fox."


@pytest.mark.slow
def test_s3_bank_end_to_end(s3_bucket: str, tmp_path: Path, tiny_model_dir: Path, ray_local: None) -> None:
    """Manifest, clips, model folder and bank all in S3 (moto on loopback, through s3fs), Ray actors included."""
    root = Storage(s3_bucket)
    rows_in = [GOOD_ROWS[1], GOOD_ROWS[3], *BAD_ROWS[:2]]  # reference-free voices: no text front end in the actor
    manifest = _populate(root.child("in"), rows_in)
    for path in sorted(p for p in tiny_model_dir.rglob("*") if p.is_file()):
        root.write_bytes(f"models/tiny/{path.relative_to(tiny_model_dir).as_posix()}", path.read_bytes())
    bank = root.child("bank")
    config = _config(manifest, root.url("models/tiny"), bank.url(), tmp_path)

    assert run(config) == EXIT_PARTIAL
    rows = _rows(bank)
    assert {v: r["status"] for v, r in rows.items()} == {
        "en_bob": STATUS_OK, "bob_mp3": STATUS_OK, "bad_missing": STATUS_ERROR, "bad_corrupt": STATUS_ERROR,
    }  # fmt: skip
    assert rows["en_bob"]["model_fingerprint"] == model_fingerprint(tiny_model_dir)
    assert VoiceBank(bank.url()).get("en_bob").n_clips == 2

    before = _snapshot(bank)
    assert run(config) == EXIT_PARTIAL
    assert _snapshot(bank) == before

    reweighted = [{**GOOD_ROWS[1], "weight": [1.0, 1.0]}, GOOD_ROWS[3]]  # en_bob changes, bad rows leave
    root.child("in").write_bytes("voices.parquet", _manifest(reweighted))
    assert run(replace_flat(config, prune=True, workers=0)) == EXIT_OK
    assert _changed(before, bank) == ["index.parquet", "voices/en_bob.safetensors"]
    after = _rows(bank)
    assert sorted(after) == ["bob_mp3", "en_bob"] and after["bob_mp3"] == rows["bob_mp3"]


def test_invalid_manifest_exits_2_before_any_model_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("the model must not be touched for an invalid manifest")

    monkeypatch.setattr("pipelines.model_cache.check_model", forbidden)
    monkeypatch.setattr("sovits_core.bundle.model_fingerprint", forbidden)
    monkeypatch.setattr("sovits_core.bundle.load_bundle", forbidden)
    src = Storage(tmp_path / "src")
    bank = tmp_path / "bank"
    hostile = [
        {"voice_id": "../x", "ref_audio": ["a.wav"]},
        {"voice_id": "a/b", "ref_audio": ["a.wav"]},
        {"voice_id": "alice", "ref_audio": ["a.wav"]},
        {"voice_id": "\uff21lice", "ref_audio": ["a.wav"]},  # fullwidth A: collides with alice after NFKC+casefold
        {"voice_id": "bob", "ref_audio": ["a.wav"]},
        {"voice_id": "bob", "ref_audio": ["b.wav"]},
    ]
    src.write_bytes("voices.parquet", _manifest(hostile))
    config = _config(src.url("voices.parquet"), tmp_path / "no-model", str(bank), tmp_path)
    assert run(config) == EXIT_INVALID
    src.write_bytes("voices.jsonl", json.dumps({"voice_id": "a", "clip": "x.wav"}).encode())  # missing column
    assert run(replace_flat(config, voices=src.url("voices.jsonl"))) == EXIT_INVALID
    assert run(replace_flat(config, voices=src.url("absent.parquet"))) == EXIT_INVALID
    assert not bank.exists()


def test_changed_model_recomputes_and_locked_bank_is_fatal(tmp_path: Path, tiny_model_dir: Path) -> None:
    """In-process (workers=0): a different model folder recomputes every voice; a held bank lock is fatal."""
    src = Storage(tmp_path / "src")
    manifest = _populate(src, GOOD_ROWS[:1])
    bank = Storage(tmp_path / "bank")
    config = replace_flat(_config(manifest, tiny_model_dir, bank.url(), tmp_path), workers=0)
    assert run(config) == EXIT_OK
    first = _rows(bank)["en_alice"]

    other_model = tmp_path / "other_model"
    shutil.copytree(tiny_model_dir, other_model)
    hubert_cfg = other_model / "chinese-hubert-base" / "config.json"
    hubert_cfg.write_text(json.dumps({**json.loads(hubert_cfg.read_text()), "note": "retrained"}))
    with JobLock(bank):
        assert run(replace_flat(config, model_dir=str(other_model))) == EXIT_FATAL
    assert _rows(bank)["en_alice"] == first
    assert run(replace_flat(config, model_dir=str(other_model))) == EXIT_OK
    second = _rows(bank)["en_alice"]
    assert second["model_fingerprint"] == model_fingerprint(other_model) != first["model_fingerprint"]
    assert second["fingerprint"] != first["fingerprint"]


def test_cli_help_and_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--voices", "--model-dir", "--out", "--workers", "--num-gpus", "--force", "(default:"):
        assert flag in text
    from jobs.precompute_voices import parse_args

    config, level = parse_args(["--voices", "v.csv", "--model-dir", "m", "--out", "s3://b/bank", "--workers", "2"])
    engine = config.engine
    assert (engine.workers, engine.force, engine.out, level) == (2, False, "s3://b/bank", "INFO")
    assert engine.rows_per_shard == 4  # the job's own default for small, heavy rows
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.force = True  # type: ignore[misc]
    with pytest.raises(ValueError, match="--workers -1: must be >= 0"):
        from_flat(PrecomputeConfig, voices="v", model_dir="m", out="o", workers=-1)
