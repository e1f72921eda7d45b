"""Spelling out numbers, money, times, measures and arithmetic in English text.

Behaviour follows GPT-SoVITS v2 (``text/en_normalization/expend.py``) rule for rule, including its ordering and its
quirks, because the acoustic model was trained on text normalised that way. Differences are limited to inputs on
which upstream raises (e.g. ``"$,5"`` or numbers beyond inflect's range): those are spelled out digit by digit or
left for the later rules instead of crashing.
"""

import functools
import logging
import re
from collections.abc import Callable

import inflect


logger = logging.getLogger(__name__)

MAX_NUMBER_DIGITS = 36  # inflect reads up to 10**36 - 1; longer numbers are read digit by digit
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# unit suffix -> (singular, plural); the regex below must list the same suffixes in the same order. A data table:
# its rows are alike only in shape.
MEASUREMENT_UNITS: dict[str, tuple[str, str]] = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("feet", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}

_LIST_ORDINAL_RE = re.compile(r"\b([0-9]+)\. ")
_THOUSANDS_RE = re.compile(r"([0-9][0-9\,]+[0-9])")
_TIME_RE = re.compile(r"\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b")
_MEASUREMENT_RE = re.compile(r"\b([0-9]+(\.[0-9]+)?(m|km|km/h|ft|L|tbsp|tsp|h|min|s|°C|°F))\b")
# Upstream's patterns, rewritten to match the same spans in linear time (its nested quantifiers such as
# ``[0-9.,]*[0-9]+`` and unanchored digit runs take minutes on a few thousand digits): ``X*[0-9]+`` before a
# literal or at the end of a greedy run selects the same span as ``X*[0-9]``, and a leftmost match never starts
# inside a run of its own leading class, so a negative look-behind on that class changes no match.
_POUNDS_BEFORE_RE = re.compile(r"£([0-9\.\,]*[0-9])")
_POUNDS_AFTER_RE = re.compile(r"(?<![0-9\.\,])([0-9\.\,]*[0-9])£")
_DOLLARS_BEFORE_RE = re.compile(r"\$([0-9\.\,]*[0-9])")
_DOLLARS_AFTER_RE = re.compile(r"(?<![(0-9\.\,])([(0-9\.\,]*[0-9])\$")  # "(" in the class is upstream's
_DECIMAL_RE = re.compile(r"(?<![0-9])([0-9]+\.\s*[0-9]+)")
_FRACTION_RE = re.compile(r"(?<![0-9])([0-9]+/[0-9]+)")
_ORDINAL_RE = re.compile(r"(?<![0-9])[0-9]+(st|nd|rd|th)")
_INTEGER_RE = re.compile(r"[0-9]+")

_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_NUMBER_OPERAND = rf"(-?)((\d+)(\.\d+)?[{_SUPERSCRIPTS}]*)"
_OTHER_OPERANDS = rf"(\.\d+[{_SUPERSCRIPTS}]*)|([A-Za-z][{_SUPERSCRIPTS}]*)"
# The look-behind (ours) keeps a numeric first operand from starting inside a digit run; same text produced.
_ARITHMETIC_RE = re.compile(
    rf"((?<!\d){_NUMBER_OPERAND}|{_OTHER_OPERANDS})\s+([\+\-\×÷=])\s+({_NUMBER_OPERAND}|{_OTHER_OPERANDS})"
)
_OPERATOR_WORDS = {"+": " plus ", "-": " minus ", "×": " times ", "÷": " divided by ", "=": " Equals "}
# Upstream consumes the whitespace before a negative number ("a -5" -> "anegative 5"); kept for parity.
_NEGATIVE_RE = re.compile(r"(?:^|(?<!\s)\s+)(-)(\d+)")


@functools.cache
def _engine() -> inflect.engine:
    return inflect.engine()


def spell_digits(digits: str) -> str:
    """Read a digit string one digit at a time ("4096" -> "four zero nine six")."""
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits if d.isdigit())


def number_words(number: int | str, **options: str | int) -> str:
    """``inflect.number_to_words`` that never raises: out-of-range numbers are read digit by digit."""
    try:
        return _engine().number_to_words(number, **options)
    except Exception as exc:  # inflect raises NumOutOfRangeError (a bare Exception) and typeguard errors
        logger.debug("inflect could not read %r (%s); reading digit by digit", number, exc)
        return spell_digits(str(number))


def parse_int(digits: str) -> int | None:
    """``int(digits)``, or ``None`` when it has more significant digits than inflect can read (upstream raises)."""
    significant = digits.lstrip("0")
    if len(significant) > MAX_NUMBER_DIGITS:
        return None
    return int(significant or "0")


def _ordinal_suffix(m: re.Match[str]) -> str:
    """'3. ' (a list item) -> '3rd, '."""
    digits = m.group(1)
    if parse_int(digits) is None:  # the suffix depends on the last two digits only
        return digits + _engine().ordinal(digits[-2:])[-2:] + ", "
    return _engine().ordinal(digits) + ", "


def _drop_commas(m: re.Match[str]) -> str:
    return m.group(1).replace(",", "")


def _time(m: re.Match[str]) -> str:
    """24-hour 'HH:MM' -> 'one thirty p.m.' / 'four o'clock a.m.'."""
    hours, minutes = int(m.group(1)), int(m.group(2))
    period = "a.m." if hours < 12 else "p.m."
    if hours > 12:
        hours -= 12
    hour_word = number_words(hours)
    if minutes == 0:
        return f"{hour_word} o'clock {period}"
    return f"{hour_word} {number_words(minutes)} {period}"


def _measurement(m: re.Match[str]) -> str:
    """'5km' -> '5 kilometers'; singular only for an integer 1 (upstream ignores the decimal point)."""
    whole, fraction, unit = m.group(1), m.group(2), m.group(3)
    is_one = whole.replace(unit, "").replace(".", "").lstrip("0") == "1"
    singular, plural = MEASUREMENT_UNITS[unit]
    name = singular if fraction is None and is_one else plural
    return whole.replace(unit, " " + name)


def _money(amount: str, units: tuple[str, str, str, str]) -> str:
    """'12.5' with (dollar, dollars, cent, cents) -> '12 dollars and 50 cents' (numbers spelled later)."""
    one, many, sub_one, sub_many = units
    parts = amount.split(".")
    if len(parts) > 2:
        return f"{amount} {many}"
    try:
        main = int(parts[0]) if parts[0] else 0
        sub = int(parts[1].ljust(2, "0")) if len(parts) > 1 and parts[1] else 0
    except ValueError:  # e.g. "$,5" or "(5$": upstream raises here
        return f"{amount} {many}"
    main_text = f"{main} {one if main == 1 else many}"
    sub_text = f"{sub} {sub_one if sub == 1 else sub_many}"
    if main and sub:
        return f"{main_text} and {sub_text}"
    if main:
        return main_text
    if sub:
        return sub_text
    return f"zero {many}"


def _pounds(m: re.Match[str]) -> str:
    return _money(m.group(1), ("pound", "pounds", "penny", "pence"))


def _dollars(m: re.Match[str]) -> str:
    return _money(m.group(1), ("dollar", "dollars", "cent", "cents"))


def _decimal(m: re.Match[str]) -> str:
    """'13.25' -> '13 point 2 5' (digits after the point are read one by one)."""
    whole, fraction = m.group(1).split(".", 1)
    return whole + " point " + " ".join(fraction)


def _fraction(m: re.Match[str]) -> str:
    """'1/3' -> 'one third', '3/4' -> 'three fourths', '1/2' -> 'one half', '3/2' -> 'three halves'."""
    numerator, denominator = (parse_int(x) for x in m.group(0).split("/"))
    if numerator is None or denominator is None:
        return m.group(0).replace("/", " over ")
    head = number_words(numerator)
    if denominator == 1:
        return head
    if denominator == 2:
        return f"{head} {'half' if numerator == 1 else 'halves'}"
    tail = _engine().ordinal(number_words(denominator))
    return f"{head} {tail}{'s' if numerator > 1 else ''}"


def _ordinal(m: re.Match[str]) -> str:
    """'22nd' -> 'twenty-second'."""
    return number_words(m.group(0))


def _integer(m: re.Match[str]) -> str:
    """Integers; 1001-2999 are read like years ('1984' -> 'nineteen eighty-four')."""
    num = parse_int(m.group(0))
    if num is None:
        return spell_digits(m.group(0))
    if not 1000 < num < 3000:
        return number_words(num, andword="")
    if num == 2000:
        return "two thousand"
    if 2000 < num < 2010:
        return "two thousand " + number_words(num % 100)
    if num % 100 == 0:
        return number_words(num // 100) + " hundred"
    return number_words(num, andword="", zero="oh", group=2).replace(", ", " ")


def _arithmetic(m: re.Match[str]) -> str:
    return m.group(1) + _OPERATOR_WORDS[m.group(8)] + m.group(9)


def _negative(m: re.Match[str]) -> str:
    return f"negative {m.group(2)}"


_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_THOUSANDS_RE, _drop_commas),
    (_TIME_RE, _time),
    (_MEASUREMENT_RE, _measurement),
    (_POUNDS_BEFORE_RE, _pounds),
    (_POUNDS_AFTER_RE, _pounds),
    (_DOLLARS_BEFORE_RE, _dollars),
    (_DOLLARS_AFTER_RE, _dollars),
    (_DECIMAL_RE, _decimal),
    (_FRACTION_RE, _fraction),
    (_ORDINAL_RE, _ordinal),
    (_INTEGER_RE, _integer),
)


def expand_numbers(text: str) -> str:
    """Replace every numeric expression in ``text`` by words, in upstream's rule order."""
    text = _LIST_ORDINAL_RE.sub(_ordinal_suffix, text)
    while _ARITHMETIC_RE.search(text):
        text = _ARITHMETIC_RE.sub(_arithmetic, text)
    text = _NEGATIVE_RE.sub(_negative, text)
    for pattern, replace in _SUBSTITUTIONS:
        text = pattern.sub(replace, text)
    return text
