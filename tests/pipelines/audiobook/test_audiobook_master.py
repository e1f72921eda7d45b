"""Mastering presets and the ACX compliance report, measured on the delivered (encoded, decoded back) file."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from audiobook_signals import speechlike, write_segment

from pipelines.audiobook.master import (
    ACX,
    PRESETS,
    compliance,
    get_preset,
    measure_file,
    measurements_from_stitch,
    render_chapter,
)
from pipelines.audiobook.stitch import Piece
from pipelines.storage import Storage


RULES = (
    "rms",
    "peak",
    "noise_floor",
    "head_room_tone",
    "tail_room_tone",
    "sample_rate",
    "channels",
    "duration",
    "format",
    "bit_rate",
)


def _pieces(keys: list[str]) -> list[Piece]:
    return [
        Piece.audio(keys[0], "title"),
        *(Piece.audio(k, "sentence") for k in keys[1:-1]),
        Piece.audio(keys[-1], "end"),
    ]


def test_acx_chapter_passes_every_rule(storage: Storage, segment_keys: list[str]) -> None:
    out = render_chapter(storage, _pieces(segment_keys), "chapters/01.mp3", get_preset("acx"))
    report = out.report
    assert report is not None and out.measurements is not None
    assert [r.rule for r in report.rules] == list(RULES)
    assert report.passed, report.to_text()
    assert report.failed() == []
    values = {r.rule: r.measured for r in report.rules}
    assert values["rms"] == pytest.approx(-20.0, abs=0.7)  # measured on the decoded MP3
    assert values["peak"] <= -3.0
    assert values["noise_floor"] <= -60.0
    assert 0.5 <= values["head_room_tone"] <= 1.0 and values["head_room_tone"] == pytest.approx(0.75, abs=0.02)
    assert values["tail_room_tone"] == pytest.approx(3.0, abs=0.05)
    assert (values["sample_rate"], values["channels"], values["format"]) == (44100, 1, "mp3")
    assert values["bit_rate"] == "192 kbps CBR"
    assert not out.encoded.path.exists()  # the local temporary file is gone once uploaded
    assert storage.exists("chapters/01.mp3")
    delivered = measure_file(storage.read_bytes("chapters/01.mp3"))
    assert delivered.levels.rms_dbfs == pytest.approx(out.measurements.levels.rms_dbfs, abs=1e-6)
    as_dict = report.to_dict()
    assert as_dict["passed"] is True and as_dict["spec"] == "ACX"
    assert {r["rule"]: r["passed"] for r in as_dict["rules"]} == dict.fromkeys(RULES, True)
    text = report.to_text()
    assert "overall: PASS" in text and text.count("PASS") == len(RULES) + 1


def test_too_quiet_chapter_fails_rms_only(storage: Storage) -> None:
    keys = [write_segment(storage, f"quiet/{i}.flac", speechlike(2.0, seed=i, level=0.02)) for i in range(3)]
    preset = get_preset("acx", target_rms_dbfs=None, true_peak_dbtp=None)  # no gain: the input's own level
    out = render_chapter(storage, _pieces(keys), "chapters/quiet.mp3", preset)
    assert out.report is not None
    assert out.report.failed() == ["rms"]
    assert out.report.rule("rms").measured < -23.0
    assert "FAIL: rms" in out.report.to_text()


def test_noisy_room_tone_fails_noise_floor(storage: Storage, segment_keys: list[str]) -> None:
    preset = get_preset("acx", room_tone_dbfs=-55.0)
    out = render_chapter(storage, _pieces(segment_keys[:3]), "chapters/noisy.mp3", preset)
    assert out.report is not None
    assert out.report.failed() == ["noise_floor"]
    assert out.report.rule("noise_floor").measured == pytest.approx(-55.0, abs=1.5)


def test_wrong_format_fails_rate_channels_format_and_bit_rate() -> None:
    audio = np.stack([speechlike(3.0, 48000, seed=1, level=0.2)] * 2, axis=1)
    buf = io.BytesIO()
    sf.write(buf, audio, 48000, format="WAV", subtype="PCM_16")
    report = compliance(measure_file(buf.getvalue()))
    failed = set(report.failed())
    assert {"sample_rate", "channels", "format", "bit_rate", "head_room_tone", "tail_room_tone"} <= failed
    assert report.rule("format").measured == "pcm_s16le"
    assert not report.passed


def test_stitch_measurements_leave_format_rules_unchecked(storage: Storage, segment_keys: list[str]) -> None:
    preset = get_preset("acx")
    out = render_chapter(storage, _pieces(segment_keys[:2]), "c.mp3", preset)
    report = compliance(measurements_from_stitch(out.stitch), ACX)
    assert report.rule("format").passed is None and report.rule("bit_rate").passed is None
    assert report.passed  # levels and room tone pass on the stream that went into the encoder
    assert report.rule("rms").measured == pytest.approx(-20.0, abs=0.1)


def test_presets() -> None:
    assert set(PRESETS) == {"none", "standard", "acx"}
    assert PRESETS["none"].stitch.target_lufs is None and PRESETS["none"].stitch.true_peak_dbtp is None
    assert PRESETS["standard"].stitch.target_lufs == -18.0
    acx = PRESETS["acx"]
    assert (acx.format, acx.bit_rate, acx.stitch.sample_rate, acx.stitch.channels) == ("mp3", 192_000, 44100, 1)
    assert 0.5 <= acx.stitch.head_s <= 1.0 and 1.0 <= acx.stitch.tail_s <= 5.0
    assert get_preset("acx", tail_s=2.0).stitch.tail_s == 2.0
    with pytest.raises(ValueError, match="unknown master preset"):
        get_preset("loud")


def test_standard_preset_renders_m4a(storage: Storage, segment_keys: list[str]) -> None:
    out = render_chapter(storage, _pieces(segment_keys[:2]), "c.m4a", get_preset("standard"))
    assert out.report is None  # no spec for "standard" unless one is asked for
    m = measure_file(storage.read_bytes("c.m4a"))
    assert m.codec == "aac" and m.levels.sample_rate == 44100
    assert m.loudness_lufs == pytest.approx(-18.0, abs=0.5)
    assert m.true_peak_dbtp <= -0.5


def test_acx_peaks_hold_after_mp3_encoding(storage: Storage) -> None:
    keys = []
    for i in range(3):
        audio = speechlike(2.5, seed=30 + i, level=0.08)
        audio[5000 + 777 * i : 5040 + 777 * i] = 0.7  # clicks well above the rest: the limiter has work to do
        keys.append(write_segment(storage, f"peaky/{i}.flac", audio))
    out = render_chapter(storage, _pieces(keys), "chapters/peaky.mp3", get_preset("acx"))
    assert out.stitch.n_limited_samples > 0
    assert out.report is not None and out.report.passed, out.report.to_text()
    assert out.report.rule("peak").measured <= -3.0  # sample peak of the decoded MP3
