"""Sentence splitting and per-sentence normalisation (upstream v2 ``TextNormalizer``)."""

import re
from collections.abc import Callable

from . import chronology, numbers, phone, units
from .charmap import SYMBOL_WORDS_TABLE, to_half_width, to_simplified


_RE_SPLIT_AFTER = re.compile(r"([：、，；。？！,;?!][”’]?)")
_RE_NEWLINES = re.compile(r"\n+")
_RE_DROP_BEFORE = re.compile(r"[—《》【】<>{}()（）#&@“”^_|\\]")
_RE_DROP_AFTER = re.compile(r"[-—《》【】<=>{}()（）#&@“”^_|\\]")

# (pattern, callback) applied in this order after dates, times, units and arithmetic (a table: rows alike in shape).
_NUMBER_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (numbers.RE_FRACTION, numbers.replace_fraction),
    (numbers.RE_PERCENTAGE, numbers.replace_percentage),
    (phone.RE_MOBILE, phone.replace_mobile),
    (phone.RE_LANDLINE, phone.replace_landline),
    (phone.RE_SERVICE_NUMBER, phone.replace_landline),
    (numbers.RE_RANGE, numbers.replace_range),
    (numbers.RE_NEGATIVE_INTEGER, numbers.replace_negative_integer),
    (numbers.RE_VERSION, numbers.replace_version),
    (numbers.RE_DECIMAL, numbers.replace_number),
    (numbers.RE_QUANTITY, numbers.replace_quantity),
    (numbers.RE_LONG_DIGITS, numbers.replace_long_digits),
    (numbers.RE_NUMBER, numbers.replace_number),
)


def split_sentences(text: str) -> list[str]:
    """Drop spaces and bracket-like symbols, then cut after each sentence or clause mark."""
    text = _RE_DROP_BEFORE.sub("", text.replace(" ", ""))
    text = _RE_SPLIT_AFTER.sub("\\1\n", text).strip()
    return [sentence.strip() for sentence in _RE_NEWLINES.split(text)]


def _verbalize_chronology_and_units(sentence: str) -> str:
    sentence = chronology.RE_DATE.sub(chronology.replace_date, sentence)
    sentence = chronology.RE_DATE_NUMERIC.sub(chronology.replace_date_numeric, sentence)
    sentence = chronology.RE_TIME_RANGE.sub(chronology.replace_time, sentence)
    sentence = chronology.RE_TIME.sub(chronology.replace_time, sentence)
    sentence = numbers.RE_UNIT_RANGE.sub(numbers.replace_unit_range, sentence)
    sentence = units.RE_TEMPERATURE.sub(units.replace_temperature, sentence)
    return units.replace_units(sentence)


def _verbalize_arithmetic(sentence: str) -> str:
    while numbers.RE_ARITHMETIC.search(sentence):
        sentence = numbers.RE_ARITHMETIC.sub(numbers.replace_arithmetic, sentence)
    return numbers.RE_POWER.sub(numbers.replace_power, sentence)


def normalize_sentence(sentence: str) -> str:
    """Rewrite one sentence so that numbers, dates, units and symbols are spelled in Chinese characters."""
    sentence = to_half_width(to_simplified(sentence))
    sentence = _verbalize_arithmetic(_verbalize_chronology_and_units(sentence))
    for pattern, callback in _NUMBER_RULES:
        sentence = pattern.sub(callback, sentence)
    sentence = sentence.translate(SYMBOL_WORDS_TABLE)
    return _RE_DROP_AFTER.sub("", sentence)
