"""Normalised Mandarin text -> v2 phones and phones-per-character (upstream ``chinese2.g2p``).

The text (output of :func:`.normalize.normalize`) is cut after each punctuation mark; each piece is segmented by
jieba with parts of speech, regrouped for tone sandhi, and each word is read either with pypinyin (default) or with
the readings predicted by G2PW for the whole piece. Each character then gives two phones (initial + toned final,
see :mod:`.pinyin_map`) and each punctuation mark one phone.
"""

import functools
import re
from collections.abc import Sequence
from typing import Protocol

from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials

from ..errors import TextError
from .erhua import apply_erhua
from .lexicon import cut_with_pos, word_finals, word_initials
from .normalize import PUNCTUATION
from .pinyin_map import syllable_symbols
from .tone_sandhi import apply_sandhi, merge_for_sandhi


_RE_PIECES = re.compile(f"(?<=[{re.escape(PUNCTUATION)}])\\s*")
_RE_LETTERS = re.compile("[a-zA-Z]+")

WordPhones = tuple[tuple[str, ...], tuple[int, ...]]  # (phones, phones per character)


class UnreadableError(TextError):
    """A syllable without v2 symbols (pypinyin's ``fiao`` for 覅); the normaliser drops such characters first."""


def split_pieces(text: str) -> list[str]:
    """Cut after every punctuation mark; drop blank pieces and ASCII letters (``"你好,世界"`` -> 你好, | 世界)."""
    return [_RE_LETTERS.sub("", piece) for piece in _RE_PIECES.split(text) if piece.strip()]


def _syllable_phones(initial: str, final: str) -> tuple[str, ...]:
    if initial == final:  # punctuation reads as itself
        if initial not in PUNCTUATION:
            raise UnreadableError(f"no reading for {initial!r}")
        return (initial,)
    symbols = syllable_symbols(initial, final)
    if symbols is None:
        raise UnreadableError(f"no v2 symbols for pinyin {initial + final!r}")
    return symbols


def _word_phones(word: str, pos: str, initials: Sequence[str], finals: Sequence[str]) -> WordPhones:
    finals = apply_erhua(word, pos, apply_sandhi(word, pos, list(finals)))
    phones: list[str] = []
    counts: list[int] = []
    for initial, final in zip(initials, finals):  # noqa: B905  (upstream zips; lengths agree for normalised text)
        syllable = _syllable_phones(initial, final)
        phones.extend(syllable)
        counts.append(len(syllable))
    return tuple(phones), tuple(counts)


@functools.lru_cache(maxsize=1 << 16)
def word_phones_pypinyin(word: str, pos: str) -> WordPhones:
    """Phones of one (merged) word read with pypinyin, after sandhi and erhua (memoised)."""
    return _word_phones(word, pos, word_initials(word), word_finals(word))


@functools.lru_cache(maxsize=1 << 16)
def word_phones_from_pinyin(word: str, pos: str, pinyins: tuple[str, ...]) -> WordPhones:
    """Phones of one word from given toned pinyin (``"zhong1"``) per character, e.g. G2PW's predictions."""
    initials: list[str] = []
    finals: list[str] = []
    for pinyin in pinyins:
        if pinyin[:1].isalpha():
            initials.append(to_initials(pinyin))
            finals.append(to_finals_tone3(pinyin, neutral_tone_with_five=True))
        else:
            initials.append(pinyin)
            finals.append(pinyin)
    return _word_phones(word, pos, initials, finals)


class PinyinPredictor(Protocol):
    """What :func:`phonemize_pieces` needs from a context-aware reader such as G2PW."""

    def predict(self, pieces: list[str]) -> list[list[str]]:
        """Toned pinyin (or the punctuation mark itself) for every character of every piece."""
        ...

    def correct(self, word: str, pinyins: list[str]) -> list[str]:
        """Apply the word-level pronunciation dictionary to one word's predicted readings."""
        ...


def words_of(piece: str) -> list[list[str]]:
    """jieba segmentation of one piece, regrouped for tone sandhi: ``[[word, pos], ...]``."""
    return merge_for_sandhi(cut_with_pos(piece))


def phonemize_pieces(pieces: list[str], predictor: PinyinPredictor | None = None) -> tuple[list[str], list[int]]:
    """Phones and phones-per-character of the pieces, read with pypinyin or with a context-aware predictor.

    Args:
        pieces: output of :func:`split_pieces`.
        predictor: G2PW (readings of whole pieces, then the word dictionary), or ``None`` for pypinyin.

    Returns:
        ``(phones, word2ph)`` where ``sum(word2ph) == len(phones)``.

    Raises:
        UnreadableError: a character has no v2 reading (the normaliser removes those beforehand).
    """
    phones: list[str] = []
    word2ph: list[int] = []
    readings = iter(predictor.predict([piece for piece in pieces if piece]) if predictor else ())
    for piece in pieces:
        reading = next(readings) if predictor is not None and piece else None
        start = 0
        for word, pos in words_of(piece):
            end = start + len(word)
            if pos == "eng":
                start = end
                continue
            if reading is None:
                word_phones, counts = word_phones_pypinyin(word, pos)
            else:
                pinyins = predictor.correct(word, reading[start:end])  # type: ignore[union-attr]
                word_phones, counts = word_phones_from_pinyin(word, pos, tuple(pinyins))
            phones.extend(word_phones)
            word2ph.extend(counts)
            start = end
    return phones, word2ph
