"""synthesize() with the tiny model: pauses by boundary, per-segment info, failures by type, batching, long BERT text,
bundle typing and fingerprint, reference-clip warnings."""

from __future__ import annotations

import inspect
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import sovits_core.__main__ as cli_module
from sovits_core.audio import SAMPLES_PER_CODE, resample
from sovits_core.bundle import TTSBundle, load_bundle, model_fingerprint
from sovits_core.convert import convert_voice, trace
from sovits_core.sovits.model import SynthesizerTrnV2
from sovits_core.synthesize import (
    Boundary,
    NoTokensError,
    RequestError,
    SegmentInfo,
    SynthesisOptions,
    SynthesisRequest,
    synthesize,
)
from sovits_core.t2s.generate import T2SOutput
from sovits_core.text import MissingLanguageSupport, Phonemes, TextError, text_to_phones
from sovits_core.voice import ReferenceClip, VoiceFeatures, build_voice_features


CLIPS = Path(__file__).resolve().parents[2] / "manifests" / "examples" / "voices"
FAST = SynthesisOptions(max_new_tokens=6)  # a random GPT rarely stops by itself: cap every segment
PARAGRAPHS = "First clause here, second clause here. Third sentence here.\nNew paragraph here."


@pytest.fixture(scope="module")
def bundle(tiny_model_dir: Path) -> TTSBundle:
    return load_bundle(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def voice(bundle: TTSBundle) -> VoiceFeatures:
    wav, sr = sf.read(CLIPS / "zh_mei.wav", dtype="float32")
    return build_voice_features(bundle, [ReferenceClip(wav, sr)], "今天天气很好。", "zh")


def make_request(voice: VoiceFeatures, text: str = PARAGRAPHS, lang: str = "en", **kw: object) -> SynthesisRequest:
    return SynthesisRequest(text, lang, voice, top_k=1, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ pauses by boundary
def test_pause_follows_the_boundary_after_each_segment(bundle, voice):
    options = SynthesisOptions(max_new_tokens=6, pause_clause=0.05, pause_sentence=0.2, pause_paragraph=0.5)
    res = synthesize(bundle, [make_request(voice)], options)[0]
    assert res.error is None
    kinds = [s.boundary for s in res.segments]
    assert kinds == [Boundary.CLAUSE, Boundary.SENTENCE, Boundary.PARAGRAPH, Boundary.PARAGRAPH]
    for before, after in zip(res.segments[:-1], res.segments[1:], strict=True):
        gap = after.start_sample - before.end_sample
        assert gap == int(32000 * options.pause(before.boundary))
        assert not res.audio[before.end_sample : after.start_sample].any()
    assert res.segments[0].start_sample == 0 and res.segments[-1].end_sample == len(res.audio)


def test_default_pauses_are_the_old_fragment_interval():
    options = SynthesisOptions()
    assert {options.pause(kind) for kind in Boundary} == {0.3}
    assert not hasattr(options, "fragment_interval")


@pytest.mark.parametrize("name", ["pause_clause", "pause_sentence", "pause_paragraph", "noise_scale"])
@pytest.mark.parametrize("value", [-0.1, math.nan])
def test_pauses_must_not_be_negative(name, value):
    with pytest.raises(ValueError, match=name):
        SynthesisOptions(**{name: value})


def test_dropped_segment_keeps_the_stronger_boundary(bundle, voice, monkeypatch):
    """A segment without phones is dropped; the pause in its place is the stronger of the two boundaries."""
    real = text_to_phones

    def no_phones_for_third(text: str, lang: str) -> Phonemes:
        return Phonemes(()) if "Third" in text else real(text, lang)

    monkeypatch.setattr("sovits_core.text.text_to_phones", no_phones_for_third)
    res = synthesize(bundle, [make_request(voice)], FAST)[0]
    assert [s.text.strip() for s in res.segments] == [
        "First clause here,",
        "second clause here.",
        "New paragraph here.",
    ]
    assert [s.boundary for s in res.segments] == [Boundary.CLAUSE, Boundary.PARAGRAPH, Boundary.PARAGRAPH]


# ------------------------------------------------------------------------------------------ per-segment info
def test_segment_info_describes_each_segment(bundle, voice):
    res = synthesize(bundle, [make_request(voice)], FAST)[0]
    assert len(res.segments) == res.n_segments == 4
    assert all(isinstance(s, SegmentInfo) for s in res.segments)
    assert sum(s.n_tokens for s in res.segments) == res.n_tokens
    for info in res.segments:
        assert info.n_phones == len(text_to_phones(info.text, "en").phone_ids)
        assert info.end_sample - info.start_sample == info.n_tokens * SAMPLES_PER_CODE  # speed 1
        assert info.stop_reason == "max_len" and info.n_tokens == 6
    assert res.segments[0].text == "First clause here,"


def test_failed_requests_carry_their_exception(bundle, voice, monkeypatch):
    results = synthesize(
        bundle,
        [
            make_request(voice, "   "),
            make_request(voice, "hi", lang="xx"),
            make_request(voice, "!!!"),
            make_request(voice, "Hi."),
        ],
        FAST,
    )
    assert isinstance(results[0].exception, RequestError) and isinstance(results[0].exception, ValueError)
    assert isinstance(results[1].exception, TextError) and isinstance(results[2].exception, TextError)
    assert results[0].error == f"RequestError: {results[0].exception}"
    assert results[3].error is None and results[3].exception is None and results[0].segments == ()

    def missing(text: str, lang: str) -> Phonemes:
        raise MissingLanguageSupport("Japanese needs the 'ja' extra")

    monkeypatch.setattr("sovits_core.text.text_to_phones", missing)
    res = synthesize(bundle, [make_request(voice, "こんにちは", lang="ja")], FAST)[0]
    assert type(res.exception) is MissingLanguageSupport and res.error.startswith("MissingLanguageSupport: ")


def test_no_tokens_is_a_typed_failure(bundle, voice, monkeypatch):
    def nothing(model, requests, options):
        return [T2SOutput(torch.zeros(0, dtype=torch.long), "eos") for _ in requests]

    monkeypatch.setattr(sys.modules["sovits_core.t2s.generate"], "generate", nothing)  # the package hides the module
    res = synthesize(bundle, [make_request(voice, "Hello there.")], FAST)[0]
    assert isinstance(res.exception, NoTokensError) and "no semantic tokens" in res.error
    assert len(res.audio) == 0 and res.segments[0].n_tokens == 0


# ------------------------------------------------------------------------------------------ narrow excepts
@pytest.mark.parametrize(
    "error", [torch.OutOfMemoryError("CUDA out of memory"), KeyError("bug"), IndexError("bug"), ValueError("bug")]
)
def test_errors_other_than_bad_data_propagate(bundle, voice, monkeypatch, error):
    def broken(phonemes):
        raise error

    monkeypatch.setattr(bundle.bert, "phone_features", broken)
    with pytest.raises(type(error)):
        synthesize(bundle, [make_request(voice, "你好。", lang="zh"), make_request(voice, "Hi.")], FAST)


def test_cli_read_audio_does_not_hide_bugs(monkeypatch, tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(b"not audio")
    with pytest.raises(cli_module.CliError, match="cannot read audio"):
        cli_module.read_audio(str(path))

    def buggy(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr("soundfile.read", buggy)
    with pytest.raises(KeyError):
        cli_module.read_audio(str(path))


# ------------------------------------------------------------------------------------------ SoVITS batching
def test_one_sovits_batch_for_mixed_speeds(bundle, voice, monkeypatch):
    calls: list[object] = []
    original = SynthesizerTrnV2.decode

    def spy(self, *args, **kwargs):
        calls.append(kwargs["speed"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SynthesizerTrnV2, "decode", spy)
    reqs = [make_request(voice, "Hello there.", seed=i, speed=s) for i, s in enumerate((1.0, 1.25, 0.8))]
    together = synthesize(bundle, reqs, SynthesisOptions(max_new_tokens=6, batch_size=8))
    assert len(calls) == 1 and sorted(calls[0]) == [0.8, 1.0, 1.25]
    for req, res in zip(reqs, together, strict=True):
        alone = synthesize(bundle, [req], SynthesisOptions(max_new_tokens=6, batch_size=8))[0]
        np.testing.assert_allclose(res.audio, alone.audio, atol=1e-4)
    assert len(together[1].audio) < len(together[0].audio) < len(together[2].audio)


# ------------------------------------------------------------------------------------------ long BERT text
def test_chinese_text_longer_than_bert_positions(bundle, voice):
    assert bundle.bert.max_tokens < 300  # the tiny RoBERTa has 128 positions
    res = synthesize(bundle, [make_request(voice, "9" * 400, lang="zh")], FAST)[0]
    assert res.error is None, res.error
    assert res.n_segments == 2 and res.segments[0].n_phones > 2 * bundle.bert.max_tokens


# ------------------------------------------------------------------------------------------ bundle
def test_load_bundle_with_a_given_fingerprint_hashes_nothing(tiny_model_dir, monkeypatch):
    expected = model_fingerprint(tiny_model_dir)

    def forbidden(paths):
        raise AssertionError("the model folder was hashed")

    monkeypatch.setattr("sovits_core.bundle.fingerprint_files", forbidden)
    assert load_bundle(tiny_model_dir, device="cpu", fingerprint=expected).fingerprint == expected
    with pytest.raises(AssertionError, match="hashed"):
        load_bundle(tiny_model_dir, device="cpu")
    with pytest.raises(ValueError, match="fingerprint"):
        load_bundle(tiny_model_dir, device="cpu", fingerprint="")


def test_bundle_fields_and_parameters_are_typed():
    hints = TTSBundle.__annotations__
    assert (hints["t2s"], hints["sovits"], hints["ssl"], hints["bert"]) == (
        "T2SModel",
        "SynthesizerTrnV2",
        "SSLModel",
        "BertModel",
    )
    for fn in (synthesize, build_voice_features, convert_voice, trace, cli_module._voice):
        assert inspect.signature(fn).parameters["bundle"].annotation == "TTSBundle", fn.__name__


# ------------------------------------------------------------------------------------------ clip warnings
def test_low_rate_clip_is_used_with_a_warning(bundle):
    wav, sr = sf.read(CLIPS / "zh_mei.wav", dtype="float32")
    low = build_voice_features(bundle, [ReferenceClip(resample(wav, sr, 8000), 8000)], "今天天气很好。", "zh")
    assert low.warnings == ("clip 0 is 8000 Hz: below 16 kHz the voice may sound muffled",)  # not "was cut"
