"""Mandarin text normalisation, as upstream GPT-SoVITS v2 ``chinese2.text_normalize`` does it.

Pipeline: split into clauses -> per clause: traditional -> simplified, full-width -> half-width, dates, times, unit
ranges, temperatures, units, arithmetic, powers, fractions, percentages, phone numbers, ranges, negative numbers,
version numbers, decimals, quantities, long digit strings, remaining numbers, symbols (Greek letters, circled numbers,
operators) -> fold punctuation to ``! ? … , . -`` and drop everything that is not a CJK ideograph -> collapse runs of
punctuation -> drop the few ideographs that have no v2 reading.

(``sovits_core.text.zh.normalize`` is the function below; its submodules import by full path, e.g.
``sovits_core.text.zh.normalize.sentence``.)

That last step is ours: upstream crashes in G2P on the ~15 ideographs in U+4E00..U+9FA5 that pypinyin cannot read
(兙, 兡, 瓩...) or reads as a syllable without v2 symbols (噷 ``hm``, 覅 ``fiao``); we drop them with a warning.
"""

import functools
import logging

from ..lexicon import word_finals, word_initials
from ..pinyin_map import syllable_symbols
from .punctuation import PUNCTUATION, collapse_repeated_punctuation, fold_punctuation
from .sentence import normalize_sentence, split_sentences


__all__ = ["PUNCTUATION", "normalize"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1 << 15)
def _is_unreadable(char: str) -> bool:
    if char in PUNCTUATION:
        return False
    initial, final = word_initials(char)[0], word_finals(char)[0]
    return initial == final or syllable_symbols(initial, final) is None


def drop_unreadable(text: str) -> str:
    """Remove ideographs without a v2 reading (see module docstring)."""
    unreadable = {char for char in set(text) if _is_unreadable(char)}
    if not unreadable:
        return text
    logger.warning("dropping characters without a Mandarin v2 reading: %s", "".join(sorted(unreadable)))
    return text.translate({ord(char): None for char in unreadable})


def normalize(text: str) -> str:
    """Normalise Mandarin text for G2P; the result holds only ideographs U+4E00..U+9FA5 and ``!?…,.-``.

    Args:
        text: raw text (simplified or traditional, with digits, symbols, emoji...).

    Returns:
        The normalised text; may be empty when nothing pronounceable is left.
    """
    folded = "".join(fold_punctuation(normalize_sentence(sentence)) for sentence in split_sentences(text))
    return drop_unreadable(collapse_repeated_punctuation(folded))
