"""Temperatures and measurement units (upstream v2 ``zh_normalization/quantifier.py`` behaviour)."""

import re

from .numbers import read_number


RE_TEMPERATURE = re.compile(r"(-?)(\d+(\.\d+)?)(°C|℃|度|摄氏度)")

# Replaced as plain substrings, in this order, anywhere in the sentence (so an English "ms" also becomes 米秒:
# upstream does the same, and letters are dropped later anyway).
_UNIT_NAMES: tuple[tuple[str, str], ...] = (
    ("cm2", "平方厘米"),
    ("cm²", "平方厘米"),
    ("cm3", "立方厘米"),
    ("cm³", "立方厘米"),
    ("cm", "厘米"),
    ("db", "分贝"),
    ("ds", "毫秒"),
    ("kg", "千克"),
    ("km", "千米"),
    ("m2", "平方米"),
    ("m²", "平方米"),
    ("m³", "立方米"),
    ("m3", "立方米"),
    ("ml", "毫升"),
    ("m", "米"),
    ("mm", "毫米"),
    ("s", "秒"),
)


def replace_temperature(match: re.Match[str]) -> str:
    """``"-3.5°C"`` -> 零下三点五度; ``"20摄氏度"`` -> 二十度.

    Upstream compares the decimal-part group (not the unit) with 摄氏度, so the unit is always read 度; kept.
    """
    sign = "零下" if match.group(1) else ""
    return f"{sign}{read_number(match.group(2))}度"


def replace_units(sentence: str) -> str:
    """Spell out unit abbreviations (``"5kg"`` -> ``"5千克"``)."""
    for abbreviation, name in _UNIT_NAMES:
        if abbreviation in sentence:
            sentence = sentence.replace(abbreviation, name)
    return sentence
