"""Stitching: timeline, fades, loudness and true peak, on synthetic speech-like segments in a Storage."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from audiobook_signals import SEGMENT_RATE, ListSink, speechlike, write_segment
from scipy.signal import resample_poly

from pipelines.audiobook.encode import AudioReader, open_encoder
from pipelines.audiobook.levels import LoudnessMeter, TruePeakMeter
from pipelines.audiobook.limiter import TruePeakLimiter
from pipelines.audiobook.stitch import Piece, StitchSettings, stitch
from pipelines.storage import Storage


def _resampled_len(n_in: int, rate_in: int, rate_out: int) -> int:
    return int(math.floor(n_in * rate_out / rate_in + 0.5))


def _frames(storage: Storage, key: str) -> tuple[int, int]:
    with storage.open(key, "rb") as fh:
        info = sf.info(fh)
    return info.frames, info.samplerate


def _chapter(keys: list[str]) -> list[Piece]:
    boundaries = ["title", "clause", "sentence", "paragraph", "sentence", "end"]
    pieces = [Piece.audio(k, b, text=f"segment {i}") for i, (k, b) in enumerate(zip(keys, boundaries, strict=True))]
    return [*pieces[:3], Piece.pause(1.5), *pieces[3:]]


def test_duration_and_timings_match_the_sum_of_parts(storage: Storage, segment_keys: list[str]) -> None:
    settings = StitchSettings(sample_rate=44100)
    pieces = _chapter(segment_keys)
    sink = ListSink(44100)
    result = stitch(storage, pieces, settings, sink)

    pos = settings.samples(settings.head_s)
    expected = []
    for i, piece in enumerate(pieces):
        if piece.kind == "pause":
            length = settings.samples(piece.seconds)
        else:
            n, rate = _frames(storage, piece.key)
            length = _resampled_len(n, rate, 44100)
        expected.append((pos, pos + length))
        pos += length
        if piece.kind == "audio" and not (i + 1 < len(pieces) and pieces[i + 1].kind == "pause"):
            pos += settings.samples(settings.pause_after(piece.boundary_after))
    pos += settings.samples(settings.tail_s)

    audio = sink.audio()
    assert abs(result.n_samples - pos) <= len(pieces)  # within one sample per join
    assert len(audio) == result.n_samples
    assert result.duration_s == pytest.approx(result.n_samples / 44100)
    assert [t.kind for t in result.timings] == [p.kind for p in pieces]
    for timing, (start, end) in zip(result.timings, expected, strict=True):
        assert abs(timing.start_sample - start) <= timing.index + 1
        assert abs(timing.end_sample - end) <= timing.index + 1
    # the audio is where the timeline says: speech inside audio pieces, only room tone in the pauses
    for timing in result.timings:
        part = audio[timing.start_sample : timing.end_sample].astype(np.float64)
        rms_db = 10 * np.log10(np.mean(part**2))
        assert rms_db > -40 if timing.kind == "audio" else rms_db < -65
    head = audio[: result.timings[0].start_sample].astype(np.float64)
    assert 10 * np.log10(np.mean(head**2)) == pytest.approx(-70.0, abs=1.0)  # room tone, not digital silence
    assert result.timings[1].start_s - result.timings[0].end_s == pytest.approx(settings.title_pause_s, abs=1e-4)
    assert result.timings[3].end_s - result.timings[3].start_s == pytest.approx(1.5)  # explicit pause replaces
    assert result.timings[3].start_sample == result.timings[2].end_sample  # ...the boundary pause before it


def _joins(result) -> list[int]:  # noqa: ANN001
    return [b for t in result.timings if t.kind == "audio" for b in (t.start_sample, t.end_sample - 1)]


@pytest.mark.parametrize("rate", [32000, 44100])
def test_fades_leave_no_click_at_joins(storage: Storage, segment_keys: list[str], rate: int) -> None:
    pieces = [Piece.audio(k, "clause") for k in segment_keys]
    faded, hard = ListSink(rate), ListSink(rate)
    r_faded = stitch(storage, pieces, StitchSettings(sample_rate=rate, target_lufs=None), faded)
    r_hard = stitch(storage, pieces, StitchSettings(sample_rate=rate, target_lufs=None, fade_s=0.0), hard)
    y, z = faded.audio(), hard.audio()
    interior = np.abs(np.diff(y[r_faded.timings[0].start_sample + 2000 : r_faded.timings[0].end_sample - 2000]))
    for b in _joins(r_faded):
        assert abs(y[b]) < 2e-3  # the first / last sample of each segment is faded to ~0
        window = np.abs(np.diff(y[max(b - 400, 0) : b + 400]))
        assert window.max() <= interior.max() * 1.05  # no step bigger than the signal's own slope
    # without fades the same joins do click: the test can see a click
    assert max(abs(z[b]) for b in _joins(r_hard)) > 0.02


def _peaky_segments(storage: Storage) -> list[str]:
    keys = []
    for i in range(4):
        audio = speechlike(2.0 + 0.5 * i, seed=20 + i, level=0.05)
        audio[4000 + 1000 * i] = 0.6  # isolated clicks: after +dB of gain they need the limiter
        audio[9000 : 9000 + 64] += 0.3 * np.sign(np.sin(np.arange(64) * 1.3))
        keys.append(write_segment(storage, f"peaky/{i}.flac", audio))
    return keys


@pytest.mark.parametrize(("target", "ceiling"), [(-16.0, -1.0), (-20.0, -3.0)])
def test_loudness_target_and_true_peak_ceiling(storage: Storage, target: float, ceiling: float) -> None:
    settings = StitchSettings(sample_rate=44100, target_lufs=target, true_peak_dbtp=ceiling)
    pieces = [Piece.audio(k) for k in _peaky_segments(storage)]
    with open_encoder("flac", 44100) as encoder:
        result = stitch(storage, pieces, settings, encoder)
    encoded = encoder.close()
    with AudioReader(encoded.path) as reader:
        decoded = np.concatenate(list(reader.blocks())).astype(np.float64)
    encoded.path.unlink()

    assert result.n_limited_samples > 0  # the clicks did need the limiter...
    assert result.gain_db > target - result.loudness_before_lufs  # ...so the gain was raised to make up for it
    assert result.n_passes in (3, 4)  # measure, 1-2 dry passes through the limiter, render
    assert pyloudnorm.Meter(44100).integrated_loudness(decoded) == pytest.approx(target, abs=0.5)
    assert result.loudness_after_lufs == pytest.approx(target, abs=0.5)
    meter = TruePeakMeter()
    meter.add(decoded)
    assert meter.dbtp <= ceiling + 0.01  # 16-bit rounding
    assert result.true_peak_dbtp <= ceiling
    independent = np.abs(resample_poly(decoded, 8, 1)).max()  # another interpolator, 8x
    assert 20 * np.log10(independent) <= ceiling + 0.2


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_streaming_loudness_matches_pyloudnorm(rate: int) -> None:
    rng = np.random.default_rng(rate)
    signal = np.concatenate(
        [rng.standard_normal(rate * 3) * 0.1, np.zeros(rate * 2), rng.standard_normal(rate) * 0.01]
    )
    signal *= 1 + 0.5 * np.sin(np.arange(len(signal)) / rate * 2 * np.pi * 0.7)
    meter = LoudnessMeter(rate)
    for start in range(0, len(signal), 777):  # blocks that do not line up with the 100 ms steps
        meter.add(signal[start : start + 777])
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(signal), abs=0.02)
    assert LoudnessMeter(rate).integrated() == float("-inf")


def test_true_peak_meter_sees_inter_sample_peaks() -> None:
    n = np.arange(48000)
    sine = np.sin(2 * np.pi * n / 4 + np.pi / 4)  # fs/4 at 45 degrees: samples at +-0.707, true peak 1.0
    meter = TruePeakMeter()
    for start in range(0, len(sine), 1000):
        meter.add(sine[start : start + 1000])
    assert 20 * np.log10(np.abs(sine).max()) == pytest.approx(-3.01, abs=0.01)
    assert meter.dbtp == pytest.approx(0.0, abs=0.3)


def test_limiter_holds_the_ceiling_without_shifting_the_signal() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(44100 * 3) * 0.05
    x[20000:20050] += 0.9
    x[70000] = -1.2
    limiter = TruePeakLimiter(-2.0, 44100)
    sizes = rng.integers(1, 9000, size=100)
    out, start = [], 0
    for size in sizes:
        out.append(limiter.process(x[start : start + size]))
        start += size
    out.append(limiter.process(x[start:]))
    out.append(limiter.flush())
    y = np.concatenate(out)
    assert len(y) == len(x)
    meter = TruePeakMeter()
    meter.add(y)
    meter.add(np.zeros(16))
    assert meter.dbtp <= -2.0
    gain = y[np.abs(x) > 1e-6] / x[np.abs(x) > 1e-6]
    assert gain.max() <= 1.0 + 1e-9
    assert np.allclose(y[100000:], x[100000:], rtol=1e-4, atol=1e-7)  # far from the peaks: untouched, no delay
    assert 0 < limiter.n_limited < 44100  # two peaks, each released over ~0.3 s (release time constant 50 ms)


def test_mixed_inputs_are_resampled_and_mixed_down(storage: Storage) -> None:
    stereo = np.stack([speechlike(1.0, 24000, seed=1), speechlike(1.0, 24000, seed=2)], axis=1)
    key = write_segment(storage, "stereo.wav", stereo, rate=24000, fmt="WAV")
    sink = ListSink(48000)
    result = stitch(storage, [Piece.audio(key, "end")], StitchSettings(sample_rate=48000, target_lufs=None), sink)
    assert result.timings[0].end_sample - result.timings[0].start_sample == 48000
    assert result.n_passes == 1


def test_silent_or_empty_chapters(storage: Storage) -> None:
    key = write_segment(storage, "silent.flac", np.zeros(SEGMENT_RATE, dtype=np.float32))
    result = stitch(storage, [Piece.audio(key)], StitchSettings(), ListSink(44100))
    assert result.gain_db == 0.0  # nothing to measure: no gain
    assert result.loudness_before_lufs == float("-inf")
    with pytest.raises(ValueError, match="no pieces"):
        stitch(storage, [], StitchSettings(), ListSink(44100))
    with pytest.raises(ValueError, match="sink runs at"):
        stitch(storage, [Piece.audio(key)], StitchSettings(), ListSink(32000))


def test_settings_and_pieces_are_validated() -> None:
    with pytest.raises(ValueError, match="mono"):
        StitchSettings(channels=2)
    with pytest.raises(ValueError, match="at most one"):
        StitchSettings(target_lufs=-18, target_rms_dbfs=-20)
    with pytest.raises(ValueError):
        StitchSettings(sentence_pause_s=-1)
    with pytest.raises(ValueError, match="boundary_after"):
        Piece.audio("a.flac", "chapter")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Piece.pause(float("nan"))
    assert StitchSettings().pause_after("paragraph") == 1.1


@pytest.mark.slow
def test_stitch_reads_segments_from_s3(storage_url: str) -> None:
    store = Storage(storage_url)
    keys = [write_segment(store, f"seg/{i}.flac", speechlike(1.0, seed=i)) for i in range(2)]
    sink = ListSink(32000)
    result = stitch(store, [Piece.audio(k) for k in keys], StitchSettings(sample_rate=32000), sink)
    assert result.timings[1].end_sample - result.timings[1].start_sample == 32000
    assert result.loudness_after_lufs == pytest.approx(-18.0, abs=0.5)
