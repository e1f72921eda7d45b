"""Reading Arabic numbers aloud in Mandarin (upstream v2 ``zh_normalization/num.py`` behaviour).

Every ``replace_*`` function is a ``re.sub`` callback for the pattern of the same name. The patterns and the order in
which :mod:`.sentence` applies them decide the output, so they follow upstream exactly, quirks included (e.g. a
``~`` range only turns into 至 when both ends carry a unit, and ``1-2`` is read as a range 一到二).
"""

import re


DIGIT_NAMES = "零一二三四五六七八九"
# Place values used when reading an integer: number of trailing digits -> unit character.
_UNITS: tuple[tuple[int, str], ...] = ((8, "亿"), (4, "万"), (3, "千"), (2, "百"), (1, "十"))

_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_SUPERSCRIPT_VALUES = dict(zip(_SUPERSCRIPTS, "0123456789xyn", strict=True))
_OPERATOR_NAMES = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}

# Measure words that may follow a number; order matters (first alternative wins), as upstream's pattern.
_MEASURE_WORDS = (
    "处 台 架 枚 趟 幅 平 方 堵 间 床 株 批 项 例 列 篇 栋 注 亩 封 艘 把 目 套 "
    "段 人 所 朵 匹 张 座 回 场 尾 条 个 首 阙 阵 网 炮 顶 丘 棵 只 支 袭 辆 挑 "
    "担 颗 壳 窠 曲 墙 群 腔 砣 座 客 贯 扎 捆 刀 令 打 手 罗 坡 山 岭 江 溪 钟 "
    "队 单 双 对 出 口 头 脚 板 跳 枝 件 贴 针 线 管 名 位 身 堂 课 本 页 家 户 "
    "层 丝 毫 厘 分 钱 两 斤 担 铢 石 钧 锱 忽 (千|毫|微)克 毫 厘 (公)分 分 寸 "
    "尺 丈 里 寻 常 铺 程 (千|分|厘|毫|微)米 米 撮 勺 合 升 斗 石 盘 碗 碟 叠 桶 "
    "笼 盆 盒 杯 钟 斛 锅 簋 篮 盘 桶 罐 瓶 壶 卮 盏 箩 箱 煲 啖 袋 钵 年 月 日 "
    "季 刻 时 周 天 秒 分 小时 旬 纪 岁 世 更 夜 春 夏 秋 冬 代 伏 辈 丸 泡 粒 颗 "
    "幢 堆 条 根 支 道 面 片 张 颗 块 元 (亿|千万|百万|万|千|百) "
    "(亿|千万|百万|万|千|百|美|)元 (亿|千万|百万|万|千|百|十|)吨 "
    "(亿|千万|百万|万|千|百|)块 角 毛 分 "
).split()
MEASURE_WORDS_PATTERN = "(" + "|".join(_MEASURE_WORDS) + ")"

_SIGNED_NUMBER = rf"((-?)((\d+)(\.\d+)?[{_SUPERSCRIPTS}]*)|(\.\d+[{_SUPERSCRIPTS}]*)|([A-Za-z][{_SUPERSCRIPTS}]*))"
_RANGE_UNITS = r"(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)"
_RANGE_END = r"((-?)((\d+)(\.\d+)?)|(\.(\d+)))"

RE_FRACTION = re.compile(r"(-?)(\d+)/(\d+)")
RE_PERCENTAGE = re.compile(r"(-?)(\d+(\.\d+)?)%")
RE_NEGATIVE_INTEGER = re.compile(r"(-)(\d+)")
RE_LONG_DIGITS = re.compile(r"\d{3}\d*")
RE_ARITHMETIC = re.compile(_SIGNED_NUMBER + r"([\+\-\×÷=])" + _SIGNED_NUMBER)
RE_POWER = re.compile(f"[{_SUPERSCRIPTS}]+")
RE_DECIMAL = re.compile(r"(-?)((\d+)(\.\d+))|(\.(\d+))")
RE_QUANTITY = re.compile(r"(\d+)([多余几\+])?" + MEASURE_WORDS_PATTERN)
RE_NUMBER = re.compile(r"(-?)((\d+)(\.\d+)?)|(\.(\d+))")
RE_RANGE = re.compile(r"(?<![\d\+\-\×÷=])((-?)((\d+)(\.\d+)?))[-~]((-?)((\d+)(\.\d+)?))(?![\d\+\-\×÷=])")
RE_UNIT_RANGE = re.compile(_RANGE_END + _RANGE_UNITS + "[~]" + _RANGE_END + _RANGE_UNITS)
RE_VERSION = re.compile(r"((\d+)(\.\d+)(\.\d+)?(\.\d+)+)")


def read_digits(digits: str, alt_one: bool = False) -> str:
    """Read a digit string one digit at a time (``"2024"`` -> ``"二零二四"``); ``alt_one`` reads 1 as 幺."""
    spoken = "".join(DIGIT_NAMES[int(digit)] for digit in digits)
    return spoken.replace("一", "幺") if alt_one else spoken


def _place_value_parts(digits: str, use_zero: bool = True) -> list[str]:
    stripped = digits.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        if use_zero and len(stripped) < len(digits):
            return [DIGIT_NAMES[0], DIGIT_NAMES[int(stripped)]]
        return [DIGIT_NAMES[int(stripped)]]
    n_low, unit = next((n, unit) for n, unit in _UNITS if n < len(stripped))
    return _place_value_parts(digits[:-n_low]) + [unit] + _place_value_parts(digits[-n_low:])


def read_cardinal(digits: str) -> str:
    """Read an integer digit string as a cardinal number (``"105"`` -> ``"一百零五"``, ``"12"`` -> ``"十二"``)."""
    if not digits:
        return ""
    digits = digits.lstrip("0")
    if not digits:
        return DIGIT_NAMES[0]
    parts = _place_value_parts(digits)
    if len(parts) >= 2 and parts[0] == "一" and parts[1] == "十":
        parts = parts[1:]
    return "".join(parts)


def read_number(number: str) -> str:
    """Read ``"12.50"`` style numbers: cardinal integer part, then 点 and the decimals digit by digit.

    Trailing decimal zeros collapse to one (``"3.200"`` -> 三点二零), as upstream does.
    """
    integer, _, decimal = number.partition(".")
    spoken = read_cardinal(integer)
    decimal = decimal.rstrip("0") + "0" if decimal.endswith("0") else decimal.rstrip("0")
    if decimal:
        spoken = (spoken or DIGIT_NAMES[0]) + "点" + read_digits(decimal)
    return spoken


def replace_fraction(match: re.Match[str]) -> str:
    sign = "负" if match.group(1) else ""
    return f"{sign}{read_number(match.group(3))}分之{read_number(match.group(2))}"


def replace_percentage(match: re.Match[str]) -> str:
    sign = "负" if match.group(1) else ""
    return f"{sign}百分之{read_number(match.group(2))}"


def replace_negative_integer(match: re.Match[str]) -> str:
    sign = "负" if match.group(1) else ""
    return f"{sign}{read_number(match.group(2))}"


def replace_long_digits(match: re.Match[str]) -> str:
    return read_digits(match.group(0), alt_one=True)


def replace_arithmetic(match: re.Match[str]) -> str:
    return match.group(1) + _OPERATOR_NAMES[match.group(8)] + match.group(9)


def replace_power(match: re.Match[str]) -> str:
    return "的" + "".join(_SUPERSCRIPT_VALUES[char] for char in match.group(0)) + "次方"


def replace_quantity(match: re.Match[str]) -> str:
    approx = match.group(2) or ""
    approx = "多" if approx == "+" else approx
    spoken = read_number(match.group(1))
    spoken = "两" if spoken == "二" else spoken
    return f"{spoken}{approx}{match.group(3)}"


def replace_number(match: re.Match[str]) -> str:
    if match.group(5):
        return read_number(match.group(5))
    sign = "负" if match.group(1) else ""
    return f"{sign}{read_number(match.group(2))}"


def replace_range(match: re.Match[str]) -> str:
    first = RE_NUMBER.sub(replace_number, match.group(1))
    second = RE_NUMBER.sub(replace_number, match.group(6))
    return f"{first}到{second}"


def replace_unit_range(match: re.Match[str]) -> str:
    return match.group(0).replace("~", "至")


def replace_version(match: re.Match[str]) -> str:
    return "".join("点" if char == "." else read_number(char) for char in match.group(1))
