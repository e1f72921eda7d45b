"""Phone numbers read digit by digit with 1 as 幺 (upstream v2 ``zh_normalization/phonecode.py`` behaviour)."""

import re

from .numbers import read_digits


RE_MOBILE = re.compile(r"(?<!\d)((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)")
RE_LANDLINE = re.compile(r"(?<!\d)((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)")
RE_SERVICE_NUMBER = re.compile(r"(400)(-)?\d{3}(-)?\d{4}")


def replace_mobile(match: re.Match[str]) -> str:
    """``"+86 13812345678"`` -> 八六，幺三八... (groups split on spaces, joined by a full-width comma)."""
    return "，".join(read_digits(part, alt_one=True) for part in match.group(0).strip("+").split())


def replace_landline(match: re.Match[str]) -> str:
    """``"010-12345678"`` -> 零幺零，幺二三四五六七八 (groups split on ``-``)."""
    return "，".join(read_digits(part, alt_one=True) for part in match.group(0).split("-"))
