"""QC attempts of one row: the seed of each attempt, what each attempt scored, and the result columns.

Attempt 0 uses the row's own seed, so QC never changes the audio of a row that passes at once; attempt ``n`` uses a
seed derived deterministically from the row's seed and ``n`` (a rerun makes the same attempts). A requeued row
carries its attempt number and the records of its earlier attempts in the :data:`RETRY_SCHEMA` columns.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa

from manifests.qc import SCORE_NAMES
from pipelines.qc.evaluate import QCItem, Verdict, VoiceStats


RETRY_SCHEMA = pa.schema([pa.field("qc_attempt", pa.int32()), pa.field("qc_history", pa.string())])
_NO_SPACE_LANGS = ("zh", "ja", "yue", "all_zh", "all_ja", "all_yue")


def attempt_seed(seed: int, attempt: int) -> int:
    """Seed of attempt ``attempt`` (0: the row's own seed)."""
    if attempt == 0:
        return int(seed)
    digest = hashlib.sha256(f"qc-retry:{int(seed)}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


def voice_stats(entry: dict[str, Any] | None) -> VoiceStats:
    """The QC figures of a bank-index row (all None for a bank made before QC)."""
    if not entry:
        return VoiceStats()
    embedding = entry.get("speaker_embedding")
    return VoiceStats(
        tokens_per_phone=entry.get("tokens_per_phone"),
        seconds_per_phone=entry.get("seconds_per_phone"),
        embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32),
    )


def spoken_lang(output: Any, fallback: str) -> str:
    """The language most of an utterance's phones are in (what ``auto`` detected), else ``fallback``."""
    weights: dict[str, int] = {}
    for s in output.segments:
        if s.lang:
            weights[s.lang] = weights.get(s.lang, 0) + s.n_phones
    return max(weights, key=weights.__getitem__) if weights else fallback


def qc_item(output: Any, lang: str, voice: VoiceStats) -> QCItem:
    """What QC judges of a ``sovits_core.synthesize.SynthesisResult``."""
    lang = spoken_lang(output, lang)
    joiner = "" if lang in _NO_SPACE_LANGS else " "
    return QCItem(
        audio=output.audio,
        sample_rate=output.sample_rate,
        segment_tokens=[s.tokens for s in output.segments],
        n_phones=sum(s.n_phones for s in output.segments),
        hit_cap=any(s.stop_reason == "max_len" for s in output.segments),
        text=joiner.join(s.norm_text or s.text for s in output.segments),
        lang=lang,
        voice=voice,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def attempt_record(attempt: int, seed: int, verdict: Verdict, mode: str) -> dict[str, Any]:
    """One attempt's entry of ``qc_attempts`` (JSON-able)."""
    scores = {name: _plain(verdict.scores.get(name)) for name in SCORE_NAMES}
    return {"attempt": attempt, "seed": seed, "passed": verdict.passed, "failed": list(verdict.failed), "mode": mode,
            **scores}  # fmt: skip


def history(row: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """(first attempt of this run, records of the earlier attempts) of a requeued or redone row."""
    doc = json.loads(row.get("qc_history") or "{}")
    return int(doc.get("first", 0)), list(doc.get("records", []))


def encode_history(first: int, records: list[dict[str, Any]]) -> str:
    return json.dumps({"first": first, "records": records})


def resume_row(plan_row: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """A row redone by a later run (``--retry-qc-failed``, a re-render): its takes go on with new seeds."""
    records = list(previous.get("qc_attempts") or [])
    attempt = 1 + max([r["attempt"] for r in records] + [previous.get("take") or 0])
    return {**plan_row, "qc_attempt": attempt, "qc_history": encode_history(attempt, records)}


def qc_column(kept: dict[str, Any], n_attempts: int) -> dict[str, Any]:
    """The ``qc`` struct of a result row: the kept attempt's verdict and scores."""
    return {**{k: v for k, v in kept.items() if k != "seed"}, "n_attempts": n_attempts}


def best(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The attempt to keep among failed ones: fewest failed checks, then the most similar speaker."""
    return min(records, key=lambda r: (len(r["failed"]), -(r.get("speaker_similarity") or 0.0), r["attempt"]))
