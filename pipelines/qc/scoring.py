"""Scoring of an ASR transcript against the text that was meant to be spoken (QC's ASR round trip).

Both sides are normalised the same way (:func:`normalize_for_scoring`); :func:`score` counts substitutions,
deletions and insertions with ``jiwer``, in characters for zh, ja, ko, yue and in words otherwise.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from dataclasses import dataclass
from typing import Any

import jiwer


logger = logging.getLogger(__name__)

CHAR_LANGUAGES = frozenset({"zh", "ja", "ko", "yue"})


_APOSTROPHES = frozenset("'\u2019\u02bc")  # dropped inside words: "don't" and "dont" compare equal


@functools.lru_cache(maxsize=1)
def _t2s() -> Any:
    """An OpenCC traditional -> simplified converter, or None when ``opencc`` is not importable."""
    try:
        import opencc

        return opencc.OpenCC("t2s")
    except Exception as exc:  # ImportError, or a build without its config files
        logger.warning("opencc unavailable (%s): zh/yue text is scored without traditional -> simplified", exc)
        return None


def normalize_for_scoring(text: str, lang: str) -> str:
    """Normalise a reference or a transcript before scoring (apply the same function to both sides).

    Unicode NFKC (full-width letters and digits become ASCII), lower case, traditional -> simplified Chinese for zh and
    yue (OpenCC ``t2s``, skipped when ``opencc`` is missing), apostrophes dropped, every other punctuation or symbol
    character (Unicode categories P* and S*) and control or format character (C*) replaced by a space, whitespace
    collapsed.
    Numbers are *not* spelled out: the reference is expected to be the frontend's normalised text, with numbers
    already in words, so an ASR that writes digits ("3" for "three") counts as an error.

    Args:
        text: any text.
        lang: language code (only zh/yue change the behaviour).
    """
    text = unicodedata.normalize("NFKC", text).lower()
    if lang in ("zh", "yue") and (converter := _t2s()) is not None:
        text = converter.convert(text)
    kept = ("" if c in _APOSTROPHES else " " if unicodedata.category(c)[0] in "PSC" else c for c in text)
    return " ".join("".join(kept).split())


def scoring_unit(lang: str) -> str:
    """``"char"`` for zh, ja, ko, yue (spaces ignored), ``"word"`` for every other language."""
    return "char" if lang in CHAR_LANGUAGES else "word"


@dataclass(frozen=True)
class ASRScore:
    """Edit counts between a normalised reference and transcript; rates are per reference unit.

    ``error_rate = (substitutions + deletions + insertions) / max(1, reference_units)``. An empty reference thus
    scores 0.0 against an empty transcript and the number of transcript units (every one an insertion) otherwise.
    """

    unit: str  # "char" or "word"
    error_rate: float
    substitutions: int
    deletions: int
    insertions: int
    reference_units: int

    @property
    def deletion_rate(self) -> float:
        """Deleted units per reference unit (a swallowed word or syllable)."""
        return self.deletions / max(1, self.reference_units)

    @property
    def insertion_rate(self) -> float:
        """Inserted units per reference unit (a repeated phrase, babble)."""
        return self.insertions / max(1, self.reference_units)


def _units(text: str, unit: str) -> list[str]:
    """Characters without spaces (``char``) or whitespace-separated words (``word``)."""
    return list(text.replace(" ", "")) if unit == "char" else text.split()


def score(reference: str, hypothesis: str, lang: str) -> ASRScore:
    """Score a transcript against the text that was meant to be spoken (both normalised here first).

    Args:
        reference: the intended text (the frontend's normalised text).
        hypothesis: the ASR transcript.
        lang: language code; picks the unit (:func:`scoring_unit`) and the normalisation.
    """
    unit = scoring_unit(lang)
    ref = _units(normalize_for_scoring(reference, lang), unit)
    hyp = _units(normalize_for_scoring(hypothesis, lang), unit)
    if not ref or not hyp:  # trivial, and jiwer 3 rejects an empty reference
        subs, dels, ins = 0, len(ref), len(hyp)
    else:
        if unit == "char":
            out = jiwer.process_characters("".join(ref), "".join(hyp))
        else:
            out = jiwer.process_words(" ".join(ref), " ".join(hyp))
        subs, dels, ins = out.substitutions, out.deletions, out.insertions
    return ASRScore(unit, (subs + dels + ins) / max(1, len(ref)), subs, dels, ins, len(ref))
