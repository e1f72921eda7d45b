"""Judge synthesized utterances against a QC config: measurements (``checks.py``) -> scores -> failed checks.

:class:`QualityControl` is built once per worker (it loads the voice-activity detector, the speaker encoder and, when
configured, an ASR model) and judges a batch of :class:`QCItem` at a time, so embeddings and transcriptions run
batched. A voice's own rates and speaker embedding (:class:`VoiceStats`) come from the voice bank.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from manifests.qc import SCORE_NAMES
from pipelines.qc import checks
from pipelines.qc.config import ABSOLUTE_RATES, QCConfig


TOKEN_HZ = 25  # semantic tokens per second of audio (SoVITS decodes each code into 1280 samples at 32 kHz)
END_GAP_S = 0.05  # speech that runs to within this of the end, still loud, was cut off
_SPAN_CHECKS = frozenset(
    {
        "level",
        "lead_silence",
        "trail_silence",
        "internal_silence",
        "speech_ratio",
        "abrupt_end",
        "audio_repeat",
        "duration_rate",
        "speaker",
    }  # fmt: skip
)


@dataclass(frozen=True)
class VoiceStats:
    """What QC compares an utterance with: the voice's own speaking rates and speaker embedding (None: unknown)."""

    tokens_per_phone: float | None = None
    seconds_per_phone: float | None = None
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class QCItem:
    """One synthesized utterance to judge.

    Attributes:
        audio: mono float samples. sample_rate: Hz.
        segment_tokens: the semantic tokens of each text segment.
        n_phones: phones of the text (all segments). hit_cap: a segment stopped at the token cap.
        text: what was meant to be spoken (the frontend's normalised text), for the ASR round trip.
        lang: the text's language. voice: the voice's reference figures.
    """

    audio: np.ndarray
    sample_rate: int
    segment_tokens: Sequence[Sequence[int]]
    n_phones: int
    hit_cap: bool
    text: str
    lang: str
    voice: VoiceStats = field(default_factory=VoiceStats)


@dataclass
class Verdict:
    """Scores of one utterance and the checks it failed."""

    scores: dict[str, Any]
    failed: list[str]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failed

    def badness(self) -> tuple[int, float]:
        """Sort key: fewer failed checks first, then the more similar speaker."""
        return len(self.failed), -(self.scores.get("speaker_similarity") or 0.0)


def _outside(value: float | None, low: float | None, high: float | None) -> bool:
    return value is not None and ((low is not None and value < low) or (high is not None and value > high))


class QualityControl:
    """Runs the checks a :class:`QCConfig` enables (see the module docstring)."""

    def __init__(self, config: QCConfig, *, device: str = "cpu", asr: Any = None) -> None:
        self.config, self.asr = config, asr
        enabled = set(config.enabled)
        self.vad = self.speaker = None
        if enabled & _SPAN_CHECKS:
            from pipelines.qc.vad import VAD

            self.vad = VAD()
        if "speaker" in enabled:
            from pipelines.qc.speaker import SpeakerEncoder

            self.speaker = SpeakerEncoder(device=device)
        if "asr" in enabled and asr is None:
            raise ValueError("the asr check needs an ASR backend (--asr-backend / --asr-model)")

    def judge(self, items: Sequence[QCItem]) -> list[Verdict]:
        """Scores and failed checks of each item, in order."""
        started = time.perf_counter()
        clean = [np.nan_to_num(np.asarray(item.audio, dtype=np.float32)) for item in items]
        spans = [
            self.vad.speech_spans(w, i.sample_rate) if self.vad else [] for w, i in zip(clean, items, strict=True)
        ]
        scores = [self._measure(i, w, s) for i, w, s in zip(items, clean, spans, strict=True)]
        if self.speaker is not None:
            self._speaker_scores(items, clean, spans, scores)
        if self.asr is not None and "asr" in self.config.thresholds:
            self._asr_scores(items, clean, scores)
        share = (time.perf_counter() - started) / max(1, len(items))
        return [Verdict(s, self._failed(s, i), share) for s, i in zip(scores, items, strict=True)]

    # ------------------------------------------------------------------------------------------ measurements
    def _measure(self, item: QCItem, wav: np.ndarray, spans: checks.Spans) -> dict[str, Any]:
        scores: dict[str, Any] = dict.fromkeys(SCORE_NAMES)
        scores.update(self._token_scores(item))
        duration = len(wav) / item.sample_rate if item.sample_rate else 0.0
        lead, trail, pause, ratio = checks.silences(duration, spans)
        speech = sum(end - start for start, end in spans)
        spp = speech / item.n_phones if item.n_phones and spans else None
        scores.update(
            nonfinite=checks.nonfinite(np.asarray(item.audio)),
            clipped_share=checks.clipped_share(wav),
            level_dbfs=checks.level_dbfs(wav, item.sample_rate, spans),
            lead_silence=lead,
            trail_silence=trail,
            longest_pause=pause,
            speech_ratio=ratio,
            end_level_db=checks.end_level_db(wav, item.sample_rate, spans),
            seconds_per_phone=spp,
            duration_rate_ratio=_ratio(spp, item.voice.seconds_per_phone),
        )
        if "audio_repeat" in self.config.thresholds:
            similarity = self.config.param("audio_repeat", "min_similarity")
            scores["longest_repeat"] = checks.longest_repeat(wav, item.sample_rate, spans, similarity)
        return scores

    def _token_scores(self, item: QCItem) -> dict[str, Any]:
        segments = [np.asarray(t, dtype=np.int64) for t in item.segment_tokens]
        everything = np.concatenate(segments) if segments else np.zeros(0, dtype=np.int64)
        if everything.size == 0:
            return {"hit_token_cap": item.hit_cap}
        max_period = int(self.config.thresholds.get("token_loop", {}).get("max_period", 8))
        tpp = everything.size / item.n_phones if item.n_phones else None
        return {
            "token_longest_run": max(checks.longest_run(t) for t in segments),
            "token_longest_loop": max(checks.longest_loop(t, max_period) for t in segments),
            "token_top_share": checks.top_share(everything),
            "tokens_per_phone": tpp,
            "token_rate_ratio": _ratio(tpp, item.voice.tokens_per_phone),
            "hit_token_cap": item.hit_cap,
        }

    def _speaker_scores(self, items, clean, spans, scores) -> None:  # noqa: ANN001 - lists of the same length
        todo = [k for k, item in enumerate(items) if item.voice.embedding is not None and spans[k]]
        if not todo:
            return
        embeddings = self.speaker.embed_many([(clean[k], items[k].sample_rate, spans[k]) for k in todo])
        for k, embedding in zip(todo, embeddings, strict=True):
            voice = np.asarray(items[k].voice.embedding, dtype=np.float32)
            scores[k]["speaker_similarity"] = float(embedding @ voice / max(1e-9, float(np.linalg.norm(voice))))

    def _asr_scores(self, items, clean, scores) -> None:  # noqa: ANN001 - lists of the same length
        """Transcribe the items in the backend's languages (others keep null ASR scores) and score them."""
        from pipelines.qc.scoring import score

        languages = getattr(self.asr, "languages", None)
        todo = [k for k, item in enumerate(items) if languages is None or item.lang in languages]
        if not todo:
            return
        texts = self.asr.transcribe([(clean[k], items[k].sample_rate, items[k].lang) for k in todo])
        for k, text in zip(todo, texts, strict=True):
            result = score(items[k].text, text, items[k].lang)
            scores[k].update(asr_text=text, asr_unit=result.unit, asr_error_rate=result.error_rate,
                             asr_substitutions=result.substitutions, asr_deletions=result.deletions,
                             asr_insertions=result.insertions, asr_reference_units=result.reference_units)  # fmt: skip

    # ------------------------------------------------------------------------------------------ thresholds
    def _failed(self, s: dict[str, Any], item: QCItem) -> list[str]:
        t = self.config.thresholds
        rules = {
            "token_run": lambda: _above(s["token_longest_run"], t["token_run"]["max"]),
            "token_loop": lambda: _above(s["token_longest_loop"], t["token_loop"]["max"]),
            "token_share": lambda: (
                sum(map(len, item.segment_tokens)) >= t["token_share"]["min_tokens"]
                and _above(s["token_top_share"], t["token_share"]["max"])
            ),
            "token_cap": lambda: bool(s["hit_token_cap"]),
            "token_rate": lambda: _rate_outside(s, "token_rate_ratio", "tokens_per_phone", t["token_rate"]),
            "nonfinite": lambda: bool(s["nonfinite"]),
            "clipping": lambda: _above(s["clipped_share"], t["clipping"]["max"]),
            "level": lambda: _outside(s["level_dbfs"], t["level"]["min"], t["level"]["max"]),
            "lead_silence": lambda: _above(s["lead_silence"], t["lead_silence"]["max"]),
            "trail_silence": lambda: _above(s["trail_silence"], t["trail_silence"]["max"]),
            "internal_silence": lambda: _above(s["longest_pause"], t["internal_silence"]["max"]),
            "speech_ratio": lambda: _outside(s["speech_ratio"], t["speech_ratio"]["min"], None),
            "abrupt_end": lambda: (
                (s["trail_silence"] or 0.0) < END_GAP_S and _above(s["end_level_db"], t["abrupt_end"]["max"])
            ),
            "audio_repeat": lambda: _above(s["longest_repeat"], t["audio_repeat"]["max"]),
            "duration_rate": lambda: _rate_outside(s, "duration_rate_ratio", "seconds_per_phone", t["duration_rate"]),
            "speaker": lambda: _outside(s["speaker_similarity"], t["speaker"]["min"], None),
            "asr": lambda: _asr_failed(s, t["asr"]),
        }
        return [name for name in self.config.enabled if rules[name]()]


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def _above(value: float | None, limit: float) -> bool:
    return value is not None and value > limit


def _rate_outside(s: dict[str, Any], ratio: str, absolute: str, limits: dict[str, float]) -> bool:
    """The ratio to the voice's own rate when known, else the absolute rate against wide fixed bounds."""
    if s[ratio] is not None:
        return _outside(s[ratio], limits["min"], limits["max"])
    return _outside(s[absolute], *ABSOLUTE_RATES[absolute])


def _asr_failed(s: dict[str, Any], limits: dict[str, float]) -> bool:
    units = s["asr_reference_units"]
    if s["asr_error_rate"] is None or not units:
        return False
    return (
        s["asr_error_rate"] > limits["max_error"]
        or s["asr_deletions"] / units > limits["max_deletions"]
        or s["asr_insertions"] / units > limits["max_insertions"]
    )
