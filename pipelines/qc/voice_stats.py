"""A voice's QC figures, computed once by the precompute job and kept in the bank index.

See :class:`VoiceQCStats`; :func:`pipelines.qc.attempts.voice_stats` reads them back for the synthesis stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.qc.evaluate import TOKEN_HZ
from pipelines.qc.speaker import MODEL_NAME as SPEAKER_MODEL


if TYPE_CHECKING:
    from sovits_core.voice import VoiceFeatures

__all__ = ["SPEAKER_MODEL", "VoiceQCStats"]


class VoiceQCStats:
    """What QC later compares a voice's utterances with: its speaker embedding and speaking rates.

    Built once per worker (a voice-activity detector and the speaker encoder). The embedding is the weighted mean of
    the clips' embeddings (speech parts only), renormalised; the rates come from the prompt clip: its semantic tokens
    and seconds of speech per phone of its transcript (None for a reference-free voice).
    """

    def __init__(self) -> None:
        from pipelines.qc.speaker import SpeakerEncoder
        from pipelines.qc.vad import VAD

        self.vad, self.encoder = VAD(), SpeakerEncoder()

    def of(self, clips: list[Any], features: VoiceFeatures) -> dict[str, Any]:
        from sovits_core.audio import to_mono

        mono = [np.asarray(to_mono(c.wav), dtype=np.float32) for c in clips]
        spans = [self.vad.speech_spans(w, c.sample_rate) for w, c in zip(mono, clips, strict=True)]
        usable = [k for k, s in enumerate(spans) if s]
        embedding = None
        if usable:
            vectors = self.encoder.embed_many([(mono[k], clips[k].sample_rate, spans[k]) for k in usable])
            mean = np.average(vectors, axis=0, weights=[clips[k].weight for k in usable])
            embedding = (mean / max(1e-9, float(np.linalg.norm(mean)))).astype(np.float32).tolist()
        stats = {"speaker_embedding": embedding, "speaker_model": SPEAKER_MODEL, "tokens_per_phone": None,
                 "seconds_per_phone": None}  # fmt: skip
        if features.reference_free or not len(features.prompt_phone_ids):
            return stats
        n_phones, n_codes = len(features.prompt_phone_ids), len(features.prompt_codes)
        duration = len(mono[0]) / clips[0].sample_rate
        speech_share = sum(e - s for s, e in spans[0]) / duration if duration else 0.0
        stats.update(tokens_per_phone=n_codes / n_phones,
                     seconds_per_phone=(n_codes / TOKEN_HZ) * min(1.0, speech_share) / n_phones)  # fmt: skip
        return stats
