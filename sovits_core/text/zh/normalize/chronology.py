"""Dates and clock times read aloud in Mandarin (upstream v2 ``zh_normalization/chronology.py`` behaviour)."""

import re

from .numbers import DIGIT_NAMES, read_cardinal, read_digits, read_number


_CLOCK = r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?"

RE_TIME = re.compile(_CLOCK)
RE_TIME_RANGE = re.compile(_CLOCK + r"(~|-)" + _CLOCK)
RE_DATE = re.compile(r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?")
RE_DATE_NUMERIC = re.compile(r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12][0-9]|3[01])")


def _read_clock_field(field: str) -> str:
    """Minutes/seconds keep a spoken leading zero: ``"05"`` -> 零五."""
    spoken = read_number(field.lstrip("0"))
    return DIGIT_NAMES[0] + spoken if field.startswith("0") else spoken


def _read_clock(hour: str, minute: str, second: str | None, half_minute: str) -> str:
    spoken = f"{read_number(hour)}点"
    if minute.lstrip("0"):
        # Upstream decides "半" from ``half_minute``: the range's *first* minute, even for the second time.
        spoken += "半" if int(half_minute) == 30 else f"{_read_clock_field(minute)}分"
    if second and second.lstrip("0"):
        spoken += f"{_read_clock_field(second)}秒"
    return spoken


def replace_time(match: re.Match[str]) -> str:
    """Callback for :data:`RE_TIME` and :data:`RE_TIME_RANGE` (``"8:30-9:05"`` -> 八点半至九点零五分)."""
    spoken = _read_clock(match.group(1), match.group(2), match.group(4), match.group(2))
    if len(match.groups()) > 5:
        spoken += "至" + _read_clock(match.group(6), match.group(7), match.group(9), match.group(2))
    return spoken


def replace_date(match: re.Match[str]) -> str:
    """Callback for :data:`RE_DATE` (``"2024年3月5日"`` -> 二零二四年三月五日)."""
    spoken = f"{read_digits(match.group(1))}年"
    if match.group(3):
        spoken += f"{read_cardinal(match.group(3))}月"
    if match.group(5):
        spoken += f"{read_cardinal(match.group(5))}{match.group(9)}"
    return spoken


def replace_date_numeric(match: re.Match[str]) -> str:
    """Callback for :data:`RE_DATE_NUMERIC` (``"2024-03-05"`` -> 二零二四年三月五日)."""
    return f"{read_digits(match.group(1))}年{read_cardinal(match.group(3))}月{read_cardinal(match.group(4))}日"
