"""The model core end to end with the tiny model: voice features, batched synthesis, voice conversion, CLI."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sovits_core.audio import SAMPLES_PER_CODE, ClipError, prepare_reference
from sovits_core.bundle import ModelDirError, load_bundle
from sovits_core.convert import convert_voice, trace
from sovits_core.synthesize import SynthesisOptions, SynthesisRequest, synthesize
from sovits_core.voice import ReferenceClip, VoiceFeatures, build_voice_features, speaker_embedding


ROOT = Path(__file__).resolve().parents[2]
CLIPS = ROOT / "manifests" / "examples" / "voices"


@pytest.fixture(scope="module")
def bundle(tiny_model_dir: Path):
    return load_bundle(tiny_model_dir, device="cpu")


def clip(name: str) -> ReferenceClip:
    wav, sr = sf.read(CLIPS / name, dtype="float32")
    return ReferenceClip(wav, sr)


@pytest.fixture(scope="module")
def zh_voice(bundle) -> VoiceFeatures:
    return build_voice_features(bundle, [clip("zh_mei.wav")], "今天天气很好，我们一起去公园散步吧。", "zh")


@pytest.fixture(scope="module")
def free_voice(bundle) -> VoiceFeatures:
    return build_voice_features(bundle, [clip("en_bob_1.wav")], None, "en")


def test_voice_features_shapes_and_round_trip(bundle, zh_voice):
    assert not zh_voice.reference_free
    assert zh_voice.prompt_bert.shape == (1024, len(zh_voice.prompt_phone_ids))
    assert zh_voice.ge.shape[1] == 1 and zh_voice.ge.shape[0] == bundle.sovits.cfg.gin_channels
    seconds = sf.info(CLIPS / "zh_mei.wav").duration
    assert abs(len(zh_voice.prompt_codes) - 25 * seconds) < 25 * 1.0  # 25 Hz codes over the (trimmed + padded) clip
    back = VoiceFeatures.from_bytes(zh_voice.to_bytes())
    assert torch.equal(back.prompt_codes, zh_voice.prompt_codes)
    assert back.model_fingerprint == bundle.fingerprint


def test_several_clips_average_ge(bundle):
    a, b = clip("en_bob_1.wav"), clip("en_bob_2.wav")
    ge_a = speaker_embedding(bundle, prepare_reference(a.wav, a.sample_rate))
    ge_b = speaker_embedding(bundle, prepare_reference(b.wav, b.sample_rate))
    both = build_voice_features(bundle, [a, b], None, "en")
    torch.testing.assert_close(both.ge, (ge_a + ge_b) / 2, rtol=1e-5, atol=1e-6)
    weighted = build_voice_features(bundle, [a, dataclasses.replace(b, weight=3.0)], None, "en")
    torch.testing.assert_close(weighted.ge, 0.25 * ge_a + 0.75 * ge_b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ge_a, ge_b)


def test_bad_clip_names_its_index(bundle):
    silent = ReferenceClip(np.zeros(16000 * 5, np.float32), 16000)
    with pytest.raises(ClipError, match="clip 1.*silent"):
        build_voice_features(bundle, [clip("zh_mei.wav"), silent], None, "zh")


def test_mixed_voice_batch_equals_rows_alone(bundle, zh_voice, free_voice):
    requests = [
        SynthesisRequest("你好，世界。", "zh", zh_voice, seed=1, top_k=1),
        SynthesisRequest("Hello there my friend.", "en", free_voice, seed=2, top_k=1),
        SynthesisRequest("我们用GPU训练。", "auto", zh_voice, seed=3, top_k=1, speed=1.25),
    ]
    options = SynthesisOptions(batch_size=8, noise_scale=0.5)
    together = synthesize(bundle, requests, options)
    for req, res in zip(requests, together, strict=True):
        alone = synthesize(bundle, [req], options)[0]
        assert res.error is None and res.n_tokens > 0
        assert res.n_tokens == alone.n_tokens
        np.testing.assert_allclose(res.audio, alone.audio, atol=1e-4)
    # one segment, speed 1: 1280 samples per semantic code
    assert len(together[1].audio) == together[1].n_tokens * SAMPLES_PER_CODE


def test_seeded_sampling_reproducible(bundle, zh_voice):
    req = SynthesisRequest("今天是2024年5月3日。", "zh", zh_voice, seed=11, top_k=15, temperature=1.0)
    a, b = (synthesize(bundle, [req])[0] for _ in range(2))
    np.testing.assert_array_equal(a.audio, b.audio)
    c = synthesize(bundle, [dataclasses.replace(req, seed=12)])[0]
    assert a.n_tokens != c.n_tokens or not np.array_equal(a.audio, c.audio)


def test_long_text_is_segmented_and_joined(bundle, free_voice):
    text = "First sentence here. Second sentence follows. And a third one ends it."
    res = synthesize(
        bundle,
        [SynthesisRequest(text, "en", free_voice, seed=0, top_k=1)],
        SynthesisOptions(split_method="cut5", pause_clause=0.25, pause_sentence=0.25),
    )[0]
    assert res.n_segments == 3
    pause = int(0.25 * 32000)
    assert len(res.audio) == res.n_tokens * SAMPLES_PER_CODE + 2 * pause


def test_bad_request_does_not_kill_the_batch(bundle, zh_voice):
    good = SynthesisRequest("你好。", "zh", zh_voice)
    results = synthesize(
        bundle,
        [
            SynthesisRequest("   ", "zh", zh_voice),
            good,
            SynthesisRequest("!!!", "zh", zh_voice),
            SynthesisRequest("hi", "xx", zh_voice),
        ],
    )
    assert results[0].error and "empty" in results[0].error
    assert results[1].error is None and len(results[1].audio) > 0
    assert results[2].error and results[3].error and "xx" in results[3].error


def test_voice_conversion(bundle, zh_voice):
    src = clip("en_alice.wav")
    out = convert_voice(bundle, src.wav, src.sample_rate, zh_voice, seed=0)
    codes = prepare_reference(src.wav, src.sample_rate, 0, min_seconds=0.2, max_seconds=1e9)
    expected = int(len(codes.wav) / codes.sample_rate * 25) * SAMPLES_PER_CODE
    assert abs(len(out) - expected) <= 2 * SAMPLES_PER_CODE
    other = build_voice_features(bundle, [clip("en_bob_1.wav")], None, "en")
    assert not np.allclose(out, convert_voice(bundle, src.wav, src.sample_rate, other, seed=0))


def test_trace_has_every_intermediate(bundle, zh_voice):
    src = clip("zh_mei.wav")
    arrays = trace(
        bundle, SynthesisRequest("你好。", "zh", zh_voice, top_k=1), src.wav, src.sample_rate, SynthesisOptions()
    )
    for key in ("phones", "word2ph", "bert", "ssl", "prompt_codes", "ge", "semantic", "audio"):
        assert key in arrays
    assert arrays["bert"].shape == (1024, len(arrays["phones"]))
    assert int(arrays["word2ph"].sum()) == len(arrays["phones"])
    assert len(arrays["audio"]) == len(arrays["semantic"]) * SAMPLES_PER_CODE


def test_incomplete_model_folder(tmp_path):
    (tmp_path / "gpt.ckpt").write_bytes(b"x")
    with pytest.raises(ModelDirError, match="sovits"):
        load_bundle(tmp_path)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sovits_core", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_say_convert_trace_and_errors(tiny_model_dir, tmp_path):
    ref = str(CLIPS / "zh_mei.wav")
    base = ["--model-dir", str(tiny_model_dir), "--ref", ref]
    out = cli(
        "say",
        *base,
        "--ref-text",
        "今天天气很好。",
        "--ref-lang",
        "zh",
        "--text",
        "你好。",
        "--out",
        str(tmp_path / "a.wav"),
    )
    assert out.returncode == 0, out.stderr
    assert sf.info(tmp_path / "a.wav").samplerate == 32000
    out = cli(
        "convert",
        "--model-dir",
        str(tiny_model_dir),
        "--source",
        str(CLIPS / "en_alice.wav"),
        "--ref",
        ref,
        "--out",
        str(tmp_path / "vc.wav"),
    )
    assert out.returncode == 0, out.stderr
    out = cli("trace", *base, "--text", "你好。", "--out", str(tmp_path / "t.npz"))
    assert out.returncode == 0, out.stderr
    assert "semantic" in np.load(tmp_path / "t.npz").files
    for bad in (
        ["say", *base, "--text", "   ", "--out", str(tmp_path / "x.wav")],
        ["say", "--model-dir", str(tmp_path), "--ref", ref, "--text", "hi", "--out", str(tmp_path / "x.wav")],
        [
            "say",
            "--model-dir",
            str(tiny_model_dir),
            "--ref",
            str(tmp_path / "nope.wav"),
            "--text",
            "hi",
            "--out",
            str(tmp_path / "x.wav"),
        ],
    ):
        out = cli(*bad)
        assert out.returncode == 2, out.stderr
        lines = [line for line in out.stderr.strip().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in out.stderr
