"""Quality-control columns of result rows: the ``qc`` struct (the kept attempt's scores) and ``qc_attempts``.

Every score is nullable: a check that did not run (disabled, no reference to compare with, no ASR model) leaves its
score null. ``failed`` names the checks that failed (check names: :data:`CHECK_NAMES`); ``passed`` is true when none
did. ``mode`` is ``enforce`` (a failing row is retried, then ``qc_failed``) or ``report`` (scores only).
"""

from __future__ import annotations

import pyarrow as pa


# Check names, in the order they are reported (also the keys of a QC config file).
CHECK_NAMES = (
    "token_run",  # longest run of one semantic token
    "token_loop",  # longest stretch of tokens repeating with a short period (2..8)
    "token_share",  # share of the most frequent token
    "token_cap",  # decoding stopped at the token cap instead of end-of-sequence
    "token_rate",  # tokens per phone against the voice's own rate
    "nonfinite",  # NaN or infinite samples
    "clipping",  # share of samples at full scale
    "level",  # loudness of the speech (RMS dBFS)
    "lead_silence",  # silence before the first speech
    "trail_silence",  # silence after the last speech
    "internal_silence",  # longest pause inside the speech
    "speech_ratio",  # share of the audio that is speech
    "abrupt_end",  # speech still at full level in the last frames (cut off mid-word)
    "audio_repeat",  # longest stretch of audio that repeats an earlier stretch (a word or phrase said twice)
    "duration_rate",  # seconds of speech per phone against the voice's own rate
    "speaker",  # cosine similarity of the utterance's speaker embedding to the voice's
    "asr",  # ASR round trip: error rate, deletions, insertions against the spoken text
)

QC_SCORE_FIELDS = [
    pa.field("token_longest_run", pa.int32()),
    pa.field("token_longest_loop", pa.int32()),
    pa.field("token_top_share", pa.float64()),
    pa.field("tokens_per_phone", pa.float64()),
    pa.field("token_rate_ratio", pa.float64()),
    pa.field("hit_token_cap", pa.bool_()),
    pa.field("nonfinite", pa.bool_()),
    pa.field("clipped_share", pa.float64()),
    pa.field("level_dbfs", pa.float64()),
    pa.field("lead_silence", pa.float64()),  # seconds
    pa.field("trail_silence", pa.float64()),
    pa.field("longest_pause", pa.float64()),
    pa.field("speech_ratio", pa.float64()),
    pa.field("end_level_db", pa.float64()),  # level of the last 50 ms relative to the speech level
    pa.field("longest_repeat", pa.float64()),  # seconds
    pa.field("seconds_per_phone", pa.float64()),
    pa.field("duration_rate_ratio", pa.float64()),
    pa.field("speaker_similarity", pa.float64()),
    pa.field("asr_text", pa.string()),
    pa.field("asr_unit", pa.string()),  # "char" (zh, ja, ko, yue) or "word"
    pa.field("asr_error_rate", pa.float64()),
    pa.field("asr_substitutions", pa.int32()),
    pa.field("asr_deletions", pa.int32()),
    pa.field("asr_insertions", pa.int32()),
    pa.field("asr_reference_units", pa.int32()),
]
SCORE_NAMES = tuple(f.name for f in QC_SCORE_FIELDS)

_VERDICT_FIELDS = [
    pa.field("passed", pa.bool_()),
    pa.field("failed", pa.list_(pa.string())),
    pa.field("mode", pa.string()),
]

QC_ATTEMPT_TYPE = pa.struct(
    [pa.field("attempt", pa.int32()), pa.field("seed", pa.int64()), *_VERDICT_FIELDS, *QC_SCORE_FIELDS]
)
QC_TYPE = pa.struct(
    [*_VERDICT_FIELDS, pa.field("attempt", pa.int32()), pa.field("n_attempts", pa.int32()), *QC_SCORE_FIELDS]
)
QC_FIELDS = [pa.field("qc", QC_TYPE), pa.field("qc_attempts", pa.list_(QC_ATTEMPT_TYPE))]
