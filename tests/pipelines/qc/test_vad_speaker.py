"""QC building blocks on real speech (the eSpeak NG example voices) and synthetic signals: Silero VAD spans, and the
GE2E speaker encoder checked against Resemblyzer itself."""

from __future__ import annotations

import logging
import sys
import time
import types
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from pipelines.qc.speaker import (
    EMBEDDING_DIM,
    MODEL_NAME,
    SpeakerEncoder,
    SpeakerModelNotFoundError,
    cosine,
    mel_filterbank,
    mel_spectrogram,
    partial_starts,
)
from pipelines.qc.vad import VAD


logger = logging.getLogger(__name__)

VOICES = Path(__file__).resolve().parents[3] / "manifests" / "examples" / "voices"
NAMES = ("en_alice", "en_bob_1", "en_bob_2", "zh_mei")
SR = 16000


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """The example voices, 16 kHz mono float32 (5-7 s each)."""
    out = {}
    for name in NAMES:
        wav, sr = sf.read(VOICES / f"{name}.wav", dtype="float32")
        assert sr == SR
        out[name] = wav
    return out


@pytest.fixture(scope="module")
def vad() -> VAD:
    return VAD()


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder("cpu")


@pytest.fixture(scope="module")
def resemblyzer() -> Iterator[types.ModuleType]:
    """The real ``resemblyzer`` package, importable for the parity checks only.

    ``resemblyzer/__init__`` imports ``resemblyzer.audio``, which does ``import webrtcvad``; webrtcvad's own import
    needs ``pkg_resources``, which the installed setuptools no longer has, so ``import resemblyzer`` fails. webrtcvad
    is used only by ``trim_long_silences``, which these tests never call, so an empty stand-in module is enough.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "webrtcvad", types.ModuleType("webrtcvad"))
        import resemblyzer

        yield resemblyzer
    for name in [n for n in sys.modules if n == "resemblyzer" or n.startswith("resemblyzer.")]:
        del sys.modules[name]


def _gaps(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(a[1], b[0]) for a, b in pairwise(spans)]


def _check_spans(spans: list[tuple[float, float]], duration: float) -> None:
    """Spans are ordered, non-overlapping, non-empty and inside the clip."""
    for (start, end), nxt in zip(spans, [*spans[1:], (duration, duration)], strict=True):
        assert 0.0 <= start < end <= nxt[0] <= duration + 1e-6


# ------------------------------------------------------------------------------------------------------- VAD
@pytest.mark.parametrize("name", NAMES)
def test_vad_finds_the_speech(vad: VAD, clips: dict[str, np.ndarray], name: str) -> None:
    wav = clips[name]
    duration = len(wav) / SR
    spans = vad.speech_spans(wav, SR)
    _check_spans(spans, duration)
    assert spans and spans[0][0] < 0.5 and spans[-1][1] > duration - 1.0
    assert sum(e - s for s, e in spans) > 0.6 * duration
    assert max((b - a for a, b in _gaps(spans)), default=0.0) < 0.5


@pytest.mark.parametrize("name", NAMES)
def test_vad_inserted_silence_splits_the_speech(vad: VAD, clips: dict[str, np.ndarray], name: str) -> None:
    wav = clips[name]
    cut = len(wav) // 2
    spans = vad.speech_spans(np.concatenate([wav[:cut], np.zeros(2 * SR, np.float32), wav[cut:]]), SR)
    _check_spans(spans, len(wav) / SR + 2.0)
    before, after = max(_gaps(spans), key=lambda gap: gap[1] - gap[0])
    assert before <= cut / SR + 0.2 and after >= cut / SR + 2.0 - 0.2
    assert after - before == pytest.approx(2.0, abs=0.2)


def test_vad_leading_and_trailing_silence_show_up(vad: VAD, clips: dict[str, np.ndarray]) -> None:
    wav = clips["en_alice"]
    plain = vad.speech_spans(wav, SR)
    padded = vad.speech_spans(np.concatenate([np.zeros(int(1.5 * SR), np.float32), wav, np.zeros(SR, np.float32)]), SR)
    assert len(padded) == len(plain)
    assert padded[0][0] == pytest.approx(plain[0][0] + 1.5, abs=0.05)
    assert padded[-1][1] == pytest.approx(plain[-1][1] + 1.5, abs=0.05)
    assert len(wav) / SR + 2.5 - padded[-1][1] > 1.0


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(3 * SR, np.float32),
        np.random.default_rng(0).normal(0.0, 1e-3, 3 * SR).astype(np.float32),  # -60 dBFS white noise
        np.random.default_rng(1).normal(0.0, 1e-2, 3 * SR).astype(np.float32),  # -40 dBFS white noise
        np.full(3 * SR, 0.1, np.float32),  # DC
        np.zeros(100, np.float32),  # shorter than one 32 ms frame
        np.zeros(0, np.float32),
    ],
    ids=["silence", "noise-60dB", "noise-40dB", "dc", "100-samples", "empty"],
)
def test_vad_no_speech_in_silence_or_low_noise(vad: VAD, signal: np.ndarray) -> None:
    assert vad.speech_spans(signal, SR) == []


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_vad_resamples_other_rates(vad: VAD, clips: dict[str, np.ndarray], rate: int) -> None:
    wav = clips["en_bob_1"]
    reference = vad.speech_spans(wav, SR)
    spans = vad.speech_spans(soxr.resample(wav, SR, rate), rate)
    assert len(spans) == len(reference)
    np.testing.assert_allclose(np.array(spans), np.array(reference), atol=0.1)


def test_vad_stereo_and_int16_input(vad: VAD, clips: dict[str, np.ndarray]) -> None:
    wav = clips["en_alice"]
    reference = vad.speech_spans(wav, SR)
    assert vad.speech_spans(np.stack([wav, wav], axis=1), SR) == reference  # [N, C], soundfile layout
    pcm = np.round(wav * 32767).astype(np.int16)
    np.testing.assert_allclose(vad.speech_spans(pcm, SR), reference, atol=0.04)


def test_vad_non_finite_samples_are_silence(vad: VAD, clips: dict[str, np.ndarray]) -> None:
    wav = clips["en_alice"].copy()
    wav[SR : SR + 800] = np.nan
    wav[2 * SR] = np.inf
    wav[3 * SR] = -np.inf
    spans = vad.speech_spans(wav, SR)
    assert spans and np.isfinite(np.array(spans)).all()
    assert vad.speech_spans(np.full(SR, np.nan, np.float32), SR) == []
    assert vad.speech_spans(np.full(SR, np.inf), 22050) == []
    assert vad.speech_spans(np.full(SR, 50.0, np.float32), SR) == []  # out of range: clipped to DC at 1.0


def test_vad_keeps_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # `import silero_vad` sets torch.set_num_threads(1); force a fresh import so VAD() runs into it again.
    for name in [n for n in sys.modules if n == "silero_vad" or n.startswith("silero_vad.")]:
        monkeypatch.delitem(sys.modules, name)
    before = torch.get_num_threads()
    torch.set_num_threads(max(2, before))
    try:
        VAD()
        assert torch.get_num_threads() == max(2, before)
    finally:
        torch.set_num_threads(before)


def test_vad_options(clips: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="threshold"):
        VAD(threshold=1.5)
    with pytest.raises(ValueError):
        VAD(min_speech_s=-1.0)
    wav = clips["en_bob_2"]  # has two ~0.1 s pauses
    assert len(VAD(min_silence_s=0.5).speech_spans(wav, SR)) < len(VAD(min_silence_s=0.05).speech_spans(wav, SR))
    tight, loose = VAD(speech_pad_s=0.0).speech_spans(wav, SR), VAD(speech_pad_s=0.1).speech_spans(wav, SR)
    assert loose[0][0] < tight[0][0]


def test_vad_cost(vad: VAD, clips: dict[str, np.ndarray]) -> None:
    wavs = list(clips.values())
    start = time.perf_counter()
    vad.speech_spans_many(wavs, SR)
    cost = (time.perf_counter() - start) / (sum(map(len, wavs)) / SR)
    logger.info("VAD: %.4f s per second of audio", cost)
    assert cost < 0.05


# --------------------------------------------------------------------------------------------------- speaker
@pytest.mark.parametrize(("sample_rate", "n_fft", "n_mels"), [(16000, 400, 40), (24000, 600, 40), (32000, 1024, 80)])
def test_mel_filterbank_matches_librosa(sample_rate: int, n_fft: int, n_mels: int) -> None:
    import librosa

    expected = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    ours = mel_filterbank(sample_rate, n_fft, n_mels)
    assert ours.dtype == np.float32 and ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6 * expected.max())


def test_mel_spectrogram_matches_resemblyzer(
    encoder: SpeakerEncoder, clips: dict[str, np.ndarray], resemblyzer: types.ModuleType
) -> None:
    wav = clips["zh_mei"]
    expected = resemblyzer.wav_to_mel_spectrogram(wav)  # librosa.feature.melspectrogram
    ours = mel_spectrogram(torch.from_numpy(wav), torch.from_numpy(mel_filterbank(SR, 400, 40))).numpy()
    assert ours.shape == expected.shape == (1 + len(wav) // 160, 40)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * expected.max())


def test_partials_match_resemblyzer(resemblyzer: types.ModuleType) -> None:
    for n_samples in [0, 1, 800, 8000, 12319, 12320, 25599, 25600, 25601, 37920, 40000, 83000, 160000, 480001]:
        _, mel_slices = resemblyzer.VoiceEncoder.compute_partial_slices(n_samples, rate=1.3, min_coverage=0.75)
        assert partial_starts(n_samples) == [s.start for s in mel_slices], n_samples


@pytest.mark.parametrize("rate", [16000, 44100])
def test_embedding_parity_with_resemblyzer(
    encoder: SpeakerEncoder, clips: dict[str, np.ndarray], resemblyzer: types.ModuleType, rate: int
) -> None:
    import librosa

    reference = resemblyzer.VoiceEncoder("cpu", verbose=False)
    for name, wav in clips.items():
        wav = wav if rate == SR else soxr.resample(wav, SR, rate, quality="HQ")
        # Resemblyzer's preprocessing minus its webrtcvad trimming: librosa.resample (soxr HQ) + volume to -30 dBFS
        wav16k = librosa.resample(wav, orig_sr=rate, target_sr=SR) if rate != SR else wav
        expected = reference.embed_utterance(resemblyzer.normalize_volume(wav16k, -30, increase_only=True))
        ours = encoder.embed(wav, rate)
        assert cosine(ours, expected) >= 0.999, name
        np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_same_speaker_is_closer(encoder: SpeakerEncoder, clips: dict[str, np.ndarray], vad: VAD) -> None:
    emb = {name: encoder.embed(wav, SR, vad.speech_spans(wav, SR)) for name, wav in clips.items()}
    for name, e in emb.items():
        assert e.shape == (EMBEDDING_DIM,) and e.dtype == np.float32
        assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5), name
    same = cosine(emb["en_bob_1"], emb["en_bob_2"])
    other = {name: cosine(emb["en_bob_1"], emb[name]) for name in ("en_alice", "zh_mei")}
    logger.info("cosine en_bob_1 vs en_bob_2 %.4f, vs en_alice %.4f, vs zh_mei %.4f", same, *other.values())
    # zh_mei is eSpeak's default (male) Mandarin voice, close to en-gb+m3 (bob): the margin there is small.
    assert same > max(other.values())


def test_embed_many_equals_embed(encoder: SpeakerEncoder, clips: dict[str, np.ndarray], vad: VAD) -> None:
    bob = clips["en_bob_1"]
    items = [
        (clips["en_alice"], SR),
        (soxr.resample(bob, SR, 32000), 32000, vad.speech_spans(bob, SR)),
        (clips["zh_mei"][: int(0.3 * SR)], SR, None),  # shorter than one partial: zero-padded to 1.6 s
        (np.stack([bob, bob], axis=1), SR),
    ]
    many = encoder.embed_many(items)
    assert many.shape == (len(items), EMBEDDING_DIM) and many.dtype == np.float32
    for row, item in zip(many, items, strict=True):
        np.testing.assert_allclose(row, encoder.embed(*item), atol=1e-5)
    assert encoder.embed_many([]).shape == (0, EMBEDDING_DIM)
    small = SpeakerEncoder(max_partials=3)  # several LSTM passes
    np.testing.assert_allclose(small.embed_many(items), many, atol=1e-5)


def test_speech_spans_remove_silence(encoder: SpeakerEncoder, clips: dict[str, np.ndarray], vad: VAD) -> None:
    quiet = clips["en_bob_2"] * 0.05  # below -30 dBFS: the volume step raises it
    padded = np.concatenate([np.zeros(3 * SR, np.float32), quiet, np.zeros(4 * SR, np.float32)])
    plain = encoder.embed(quiet, SR, vad.speech_spans(quiet, SR))
    assert cosine(encoder.embed(padded, SR, vad.speech_spans(padded, SR)), plain) > 0.98
    assert cosine(encoder.embed(padded, SR), plain) < cosine(
        encoder.embed(padded, SR, vad.speech_spans(padded, SR)), plain
    )


def test_speaker_bad_input(encoder: SpeakerEncoder, clips: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="no audio"):
        encoder.embed(np.zeros(0, np.float32), SR)
    with pytest.raises(ValueError, match="item 1: no audio to embed inside the speech spans"):
        encoder.embed_many([(clips["en_alice"], SR), (clips["en_alice"], SR, [])])
    with pytest.raises(ValueError, match="inside the speech spans"):
        encoder.embed(clips["en_alice"], SR, [(100.0, 101.0)])
    broken = clips["en_alice"].copy()
    broken[::7] = np.nan
    assert np.isfinite(encoder.embed(broken, SR)).all()


def test_missing_weights_name_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SpeakerModelNotFoundError, match="pip install resemblyzer"):
        SpeakerEncoder(weights_path=tmp_path / "pretrained.pt")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(ValueError, match="pip install resemblyzer"):
        SpeakerEncoder()
    assert MODEL_NAME == "resemblyzer-ge2e" and SpeakerEncoder.model_name == MODEL_NAME


def test_speaker_cost(encoder: SpeakerEncoder, clips: dict[str, np.ndarray]) -> None:
    items = [(wav, SR) for wav in clips.values()]
    start = time.perf_counter()
    encoder.embed_many(items)
    cost = (time.perf_counter() - start) / (sum(len(wav) for wav, _ in items) / SR)
    logger.info("speaker embedding (embed_many): %.4f s per second of audio", cost)
    assert cost < 0.2
