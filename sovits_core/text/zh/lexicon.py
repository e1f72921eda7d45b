"""Cached access to jieba (word segmentation + part of speech) and pypinyin (readings of words).

Upstream uses ``jieba_fast``; we use ``jieba``, which ships the same dictionary (``dict.txt``, identical md5) and the
same HMM tables. ``jieba.posseg`` (the main segmentation) is the same Python code in both packages. jieba_fast's
``cut_for_search`` (used by the tone sandhi to split words) differs in C-level details, so :mod:`.search_cut`
re-implements it.

Upstream calls pypinyin twice per word (``lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS)`` and
``... style=Style.FINALS_TONE3``). We call it once for the tone-marked readings (``Style.TONE``) and apply pypinyin's
own style converters to each reading, which is what ``lazy_pinyin`` does internally (strict initials; strict finals
with a tone digit, 5 when the reading has no tone mark); the test suite checks the two agree. Results are memoised
per word: ``lazy_pinyin`` reads a word without looking at its neighbours.
"""

import functools
import logging
import threading

import jieba
import jieba.posseg
from pypinyin import Style, lazy_pinyin
from pypinyin.constants import RE_HANS
from pypinyin.style import convert as convert_style

from . import search_cut


_CACHE_WORDS = 1 << 16
_init_lock = threading.Lock()
_initialised = False


def _ensure_jieba() -> None:
    global _initialised
    if _initialised:
        return
    with _init_lock:
        if not _initialised:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _initialised = True


def cut_with_pos(sentence: str) -> list[tuple[str, str]]:
    """jieba part-of-speech segmentation: ``"我爱你"`` -> ``[("我", "r"), ("爱", "v"), ("你", "r")]``."""
    _ensure_jieba()
    return [(pair.word, pair.flag) for pair in jieba.posseg.lcut(sentence)]


@functools.lru_cache(maxsize=_CACHE_WORDS)
def cut_for_search(word: str) -> tuple[str, ...]:
    """jieba_fast-compatible search-engine segmentation of one word (dictionary sub-words, then the word)."""
    _ensure_jieba()
    return tuple(search_cut.cut_for_search(word))


@functools.lru_cache(maxsize=4096)
def _split_reading(reading: str) -> tuple[str, str]:
    initial = convert_style(reading, Style.INITIALS, True, default=reading)
    final = convert_style(reading, Style.FINALS_TONE3, True, default=reading)
    if final and not final[-1].isdigit():
        final += "5"
    return initial, final


@functools.lru_cache(maxsize=_CACHE_WORDS)
def word_readings(word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """pypinyin strict initials ("" for none) and strict toned finals (5 = neutral) of each character of ``word``.

    Equals ``(lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS), ... Style.FINALS_TONE3)``;
    a run of non-Chinese characters stays one item, itself, in both.
    """
    initials: list[str] = []
    finals: list[str] = []
    position = 0  # pypinyin gives one item per ideograph and one pass-through item per run of other characters
    for item in lazy_pinyin(word, style=Style.TONE):
        is_ideograph = RE_HANS.match(word[position : position + 1]) is not None
        initial, final = _split_reading(item) if is_ideograph else (item, item)
        position += 1 if is_ideograph else len(item)
        initials.append(initial)
        finals.append(final)
    return tuple(initials), tuple(finals)


def word_initials(word: str) -> tuple[str, ...]:
    """pypinyin strict initials of each character of ``word`` (see :func:`word_readings`)."""
    return word_readings(word)[0]


def word_finals(word: str) -> tuple[str, ...]:
    """pypinyin strict finals with tone digits 1-5 of each character of ``word`` (see :func:`word_readings`)."""
    return word_readings(word)[1]
