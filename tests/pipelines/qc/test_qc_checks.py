"""QC measurements and verdicts on real speech (the eSpeak NG example clips) with faults injected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.qc import checks
from pipelines.qc.config import preset
from pipelines.qc.evaluate import QCItem, QualityControl, VoiceStats
from sovits_core.text import text_to_phones


CLIPS = Path(__file__).resolve().parents[3] / "manifests" / "examples" / "voices"
ALICE = "The quick brown fox jumps over the lazy dog, and the birds sing in the morning."


def test_token_measures() -> None:
    assert checks.longest_run(np.array([5, 1, 1, 1, 2, 2])) == 3 and checks.longest_run(np.array([])) == 0
    loop = np.array([9, 3, 4, 3, 4, 3, 4, 3, 4, 7])
    assert checks.longest_loop(loop) == 8  # "3 4" four times
    assert checks.longest_loop(np.array([1, 2, 3, *[6] * 30, 4])) == 0  # one token repeated is a run, not a loop
    assert checks.longest_loop(np.array([1, 2, 3, 1, 2, 3, 1, 2, 3])) == 9
    assert checks.top_share(np.array([1, 1, 2, 3])) == 0.5 and checks.top_share(np.array([])) == 0.0


@pytest.fixture(scope="module")
def qc() -> QualityControl:
    return QualityControl(preset("default"))


@pytest.fixture(scope="module")
def alice() -> tuple[np.ndarray, int, VoiceStats, int]:
    """The clip, its rate, the voice's own figures (from the clip itself), and the phones of its text."""
    wav, sr = sf.read(CLIPS / "en_alice.wav", dtype="float32")
    n_phones = len(text_to_phones(ALICE, "en").phone_ids)
    from pipelines.qc.speaker import SpeakerEncoder
    from pipelines.qc.vad import VAD

    spans = VAD().speech_spans(wav, sr)
    embedding = SpeakerEncoder().embed(wav, sr, spans)
    speech = sum(e - s for s, e in spans)
    return wav, sr, VoiceStats(seconds_per_phone=speech / n_phones, embedding=embedding), n_phones


def _item(wav: np.ndarray, sr: int, voice: VoiceStats, n_phones: int) -> QCItem:
    tokens = np.random.default_rng(0).integers(0, 1024, size=int(len(wav) / sr * 25))
    return QCItem(wav, sr, [tokens], n_phones, False, ALICE, "en", voice)


def _faults(wav: np.ndarray, sr: int) -> dict[str, tuple[np.ndarray, str]]:
    mid = len(wav) // 2
    bob, _ = sf.read(CLIPS / "en_bob_1.wav", dtype="float32")
    word = wav[int(2.0 * sr) : int(2.9 * sr)]
    return {
        "silence": (np.concatenate([wav[:mid], np.zeros(3 * sr, np.float32), wav[mid:]]), "internal_silence"),
        "clipping": (np.clip(wav * 6, -0.7, 0.7), "clipping"),
        "truncation": (wav[: int(len(wav) * 0.6)], "abrupt_end"),
        "repetition": (np.concatenate([wav[: int(2.9 * sr)], word, wav[int(2.9 * sr) :]]), "audio_repeat"),
        "runaway": (np.concatenate([wav, *[wav[int(0.3 * sr) : -int(0.3 * sr)]] * 2]), "duration_rate"),
        "other speaker": (bob, "speaker"),
        "nan": (np.where(np.arange(len(wav)) == 100, np.nan, wav).astype(np.float32), "nonfinite"),
    }


def test_clean_speech_passes_and_each_fault_is_caught(qc: QualityControl, alice) -> None:  # noqa: ANN001
    wav, sr, voice, n_phones = alice
    clean = qc.judge([_item(wav, sr, voice, n_phones)])[0]
    assert clean.passed, (clean.failed, clean.scores)
    faults = _faults(wav, sr)
    verdicts = qc.judge([_item(w, sr, voice, n_phones) for w, _ in faults.values()])
    for (name, (_, check)), verdict in zip(faults.items(), verdicts, strict=True):
        assert check in verdict.failed, (name, verdict.failed, verdict.scores)


def test_measures_on_speech(alice) -> None:  # noqa: ANN001
    wav, sr, _, _ = alice
    from pipelines.qc.vad import VAD

    spans = VAD().speech_spans(wav, sr)
    lead, trail, pause, ratio = checks.silences(len(wav) / sr, spans)
    assert 0 <= lead < 0.5 and 0 <= trail < 0.6 and pause < 0.8 and 0.6 < ratio <= 1.0
    assert checks.clipped_share(wav) < 0.002 and checks.clipped_share(np.clip(wav * 6, -0.5, 0.5)) > 0.05
    assert -30 < checks.level_dbfs(wav, sr, spans) < -5
    assert checks.end_level_db(wav, sr, spans) < -20  # the clip ends in silence
    assert checks.longest_repeat(wav, sr, spans) < 0.3
    doubled = np.concatenate([wav[: 3 * sr], wav[2 * sr : 3 * sr], wav[3 * sr :]])
    assert 0.8 < checks.longest_repeat(doubled, sr, VAD().speech_spans(doubled, sr)) < 1.2


def test_token_checks_fail_runs_loops_and_the_cap(qc: QualityControl, alice) -> None:  # noqa: ANN001
    wav, sr, voice, n_phones = alice
    rng = np.random.default_rng(1)
    normal = rng.integers(0, 1024, size=140)
    cases = {
        "token_run": [np.concatenate([normal[:50], [7] * 60, normal[50:]])],
        "token_loop": [np.concatenate([normal[:50], np.tile([3, 8, 5], 30), normal[50:]])],
        "token_share": [np.concatenate([normal[:20], np.tile([4, 9], 60)])],
    }
    items = [QCItem(wav, sr, tokens, n_phones, False, ALICE, "en", voice) for tokens in cases.values()]
    items.append(QCItem(wav, sr, [normal], n_phones, True, ALICE, "en", voice))
    for check, verdict in zip([*cases, "token_cap"], qc.judge(items), strict=True):
        assert check in verdict.failed, (check, verdict.failed)


def test_report_mode_and_disabled_checks_change_nothing_but_the_verdict(alice) -> None:  # noqa: ANN001
    wav, sr, voice, n_phones = alice
    silence = np.concatenate([wav, np.zeros(4 * sr, np.float32)])
    off = QualityControl(preset("default").without("trail_silence", "speech_ratio", "duration_rate"))
    assert off.judge([_item(silence, sr, voice, n_phones)])[0].passed
    on = QualityControl(preset("report-only")).judge([_item(silence, sr, voice, n_phones)])[0]
    assert "trail_silence" in on.failed and on.scores["trail_silence"] > 3.5
