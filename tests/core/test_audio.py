"""Reference-clip checks: every kind of bad audio is refused with its reason, good audio is cleaned."""

import numpy as np
import pytest

from sovits_core.audio import ClipError, best_window, prepare_reference, resample, to_mono


def speechlike(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonic tone: voiced 'syllables' separated by short dips."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wav = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.3 * wav * env + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_good_clip_is_trimmed_but_kept():
    sr = 16000
    wav = np.concatenate([np.zeros(sr), speechlike(4.0, sr), np.zeros(sr)])
    clip = prepare_reference(wav, sr)
    assert 4.0 <= clip.seconds < 4.3  # one second of silence cut on each side, small margins kept
    assert clip.warnings == ()


def test_stereo_is_downmixed_both_layouts():
    mono = speechlike(3.5)
    stereo_nc = np.stack([mono, mono], axis=1)
    stereo_cn = np.stack([mono, mono], axis=0)
    np.testing.assert_allclose(to_mono(stereo_nc), mono, atol=1e-6)
    np.testing.assert_allclose(to_mono(stereo_cn), mono, atol=1e-6)
    assert prepare_reference(stereo_nc, 16000).seconds == pytest.approx(prepare_reference(mono, 16000).seconds)


@pytest.mark.parametrize(
    ("wav", "sr", "reason"),
    [
        (np.zeros(0, np.float32), 16000, "empty"),
        (np.full(48000 * 2, np.nan, np.float32), 16000, "NaN"),
        (np.zeros(16000 * 5, np.float32), 16000, "silent"),
        (np.sign(speechlike(5.0)).astype(np.float32), 16000, "clipped"),
        (speechlike(2.0), 16000, "too short"),
        (speechlike(5.0, 4000), 4000, "sample rate"),
        (np.full(16000 * 5, 0.5, np.float32), 16000, "DC offset"),
        (np.full(16000 * 5, -1.0, np.float32), 16000, "DC offset"),
        ((-0.3 + 1e-4 * np.random.default_rng(0).standard_normal(16000 * 5)).astype(np.float32), 16000, "DC offset"),
    ],
    ids=["empty", "nan", "silent", "clipped", "short", "low-rate", "dc", "dc-full-scale", "dc-and-noise"],
)
def test_bad_clips_are_refused_with_reason(wav, sr, reason):
    with pytest.raises(ClipError, match=reason) as info:
        prepare_reference(wav, sr, clip_index=3)
    assert info.value.clip_index == 3


def test_long_clip_is_cut_to_best_window_and_says_so():
    sr = 16000
    quiet_gap = np.zeros(3 * sr, np.float32)
    wav = np.concatenate([speechlike(2.0, sr, 1), quiet_gap, speechlike(11.0, sr, 2)])
    clip = prepare_reference(wav, sr)
    assert clip.seconds == pytest.approx(10.0)
    assert clip.warnings and "cut from" in clip.warnings[0] and clip.cut
    start, _ = best_window(wav, sr, 10.0)
    assert start >= 5 * sr - sr // 10  # the window avoids the gap and starts inside the long voiced stretch


def test_speech_with_a_dc_offset_is_accepted():
    assert prepare_reference(speechlike(4.0) + 0.2, 16000).seconds > 3.5


@pytest.mark.parametrize("sr", [8000, 11025, 12000])
def test_low_rate_clip_is_accepted_with_a_warning(sr):
    clip = prepare_reference(speechlike(4.0, sr), sr, clip_index=2)
    assert clip.warnings == (f"clip 2 is {sr} Hz: below 16 kHz the voice may sound muffled",)
    assert not clip.cut
    assert prepare_reference(speechlike(4.0, 16000), 16000).warnings == ()


def test_8khz_clip_is_accepted_and_resampled():
    wav8 = speechlike(4.0, 8000)
    clip = prepare_reference(wav8, 8000)
    up = resample(clip.wav, 8000, 32000)
    assert len(up) == pytest.approx(len(clip.wav) * 4, abs=4)
    assert np.isfinite(up).all()
