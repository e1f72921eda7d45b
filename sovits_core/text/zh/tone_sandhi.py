"""Mandarin tone sandhi as upstream GPT-SoVITS v2 applies it (PaddleSpeech ``ToneSandhi`` rules).

Two steps, both on jieba's ``(word, part-of-speech)`` segmentation:

1. :func:`merge_for_sandhi` regroups words so the rules see whole units: 不 + next word, reduplication with 一
   (看一看), 一 + next word, repeated words, short runs of third tones, and a trailing 儿.
2. :func:`apply_sandhi` rewrites the tone digits of one word's finals: 不 (bu2 before a fourth tone, bu5 in V不V),
   一 (yi2 / yi4 / yi5 / yi1 for ordinals and digit strings), neutral tones (particles, suffixes, reduplication,
   a fixed word list) and third-tone sandhi (3-3 -> 2-3 inside words up to four characters).

``finals`` are pypinyin strict finals with a tone digit, e.g. ``["ia1", "i3"]`` for 家里.
"""

import contextlib

from .lexicon import cut_for_search, word_finals
from .tone_words import MUST_NEUTRAL_WORDS, MUST_NOT_NEUTRAL_WORDS


Segment = list[list[str]]  # [[word, part_of_speech], ...]

_PARTICLES = "吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶"
_YI_PUNCTUATION = "：，；。？！“”‘’':,;.?!"
_GE_PRECEDERS = "几有两半多各整每做是"


def _retone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_third(finals: list[str] | tuple[str, ...]) -> bool:
    return all(final[-1] == "3" for final in finals)


def split_word(word: str) -> list[str]:
    """Split a word in two around its shortest jieba search sub-word (``"蒙古包"`` -> ``["蒙古", "包"]``)."""
    first = sorted(cut_for_search(word), key=len)[0]
    if word.find(first) == 0:
        return [first, word[len(first) :]]
    return [word[: -len(first)], first]


def _bu_sandhi(word: str, finals: list[str]) -> None:
    if len(word) == 3 and word[1] == "不":
        finals[1] = _retone(finals[1], "5")
        return
    for i, char in enumerate(word):
        if char == "不" and i + 1 < len(word) and finals[i + 1][-1] == "4":
            finals[i] = _retone(finals[i], "2")


def _yi_sandhi(word: str, finals: list[str]) -> None:
    if "一" in word and all(char.isnumeric() for char in word if char != "一"):
        return
    if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:
        finals[1] = _retone(finals[1], "5")
    elif word.startswith("第一"):
        finals[1] = _retone(finals[1], "1")
    else:
        for i, char in enumerate(word):
            if char != "一" or i + 1 >= len(word):
                continue
            if finals[i + 1][-1] == "4":
                finals[i] = _retone(finals[i], "2")
            elif word[i + 1] not in _YI_PUNCTUATION:
                finals[i] = _retone(finals[i], "4")


def _is_must_neutral(word: str) -> bool:
    return word in MUST_NEUTRAL_WORDS or word[-2:] in MUST_NEUTRAL_WORDS


def _neutral_suffix_index(word: str, pos: str) -> int | None:
    """Index (``-1`` = last) of the final that a suffix rule makes neutral, or ``None``."""
    last = word[-1]
    ge_index = word.find("个")
    if last in _PARTICLES or last in "的地得":
        return -1
    if len(word) == 1 and word in "了着过" and pos in ("ul", "uz", "ug"):
        return -1
    if len(word) > 1 and last in "们子" and pos in ("r", "n") and word not in MUST_NOT_NEUTRAL_WORDS:
        return -1
    if len(word) > 1 and last in "上下里" and pos in ("s", "l", "f"):
        return -1
    if len(word) > 1 and last in "来去" and word[-2] in "上下进出回过起开":
        return -1
    if (ge_index >= 1 and (word[ge_index - 1].isnumeric() or word[ge_index - 1] in _GE_PRECEDERS)) or word == "个":
        return ge_index
    return -1 if _is_must_neutral(word) else None


def _neutral_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    if pos[:1] in ("n", "v", "a") and word not in MUST_NOT_NEUTRAL_WORDS:
        for j in range(1, len(word)):
            if word[j] == word[j - 1]:
                finals[j] = _retone(finals[j], "5")
    index = _neutral_suffix_index(word, pos)
    if index is not None:
        finals[index] = _retone(finals[index], "5")
    parts = split_word(word)
    halves = [finals[: len(parts[0])], finals[len(parts[0]) :]]
    for part, half in zip(parts, halves, strict=True):
        if _is_must_neutral(part):
            half[-1] = _retone(half[-1], "5")
    return halves[0] + halves[1]


def _three_sandhi_trisyllable(word: str, finals: list[str]) -> list[str]:
    parts = split_word(word)
    if _all_third(finals):
        if len(parts[0]) == 2:  # disyllabic + monosyllabic, e.g. 蒙古/包
            finals[0], finals[1] = _retone(finals[0], "2"), _retone(finals[1], "2")
        elif len(parts[0]) == 1:  # monosyllabic + disyllabic, e.g. 纸/老虎
            finals[1] = _retone(finals[1], "2")
        return finals
    halves = [finals[: len(parts[0])], finals[len(parts[0]) :]]
    for i, half in enumerate(halves):
        if _all_third(half) and len(half) == 2:  # e.g. 所有/人
            half[0] = _retone(half[0], "2")
        elif i == 1 and not _all_third(half) and half[0][-1] == "3" and halves[0][-1][-1] == "3":  # e.g. 好/喜欢
            halves[0][-1] = _retone(halves[0][-1], "2")
    return halves[0] + halves[1]


def _three_sandhi(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_third(finals):
        finals[0] = _retone(finals[0], "2")
    elif len(word) == 3:
        return _three_sandhi_trisyllable(word, finals)
    elif len(word) == 4:
        for start in (0, 2):
            if _all_third(finals[start : start + 2]):
                finals[start] = _retone(finals[start], "2")
    return finals


def apply_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    """Apply 不, 一, neutral-tone and third-tone sandhi to one word's finals (returns a new list)."""
    finals = list(finals)
    _bu_sandhi(word, finals)
    _yi_sandhi(word, finals)
    finals = _neutral_sandhi(word, pos, finals)
    return _three_sandhi(word, finals)


def _merge_bu(words: Segment) -> Segment:
    """Attach 不 to the following word (a trailing 不 stays alone, tagged ``d``)."""
    merged: Segment = []
    previous = ""
    for word, pos in words:
        if previous == "不":
            word = previous + word
        if word != "不":
            merged.append([word, pos])
        previous = word
    if previous == "不":
        merged.append([previous, "d"])
    return merged


def _merge_yi(words: Segment) -> Segment:
    """V 一 V -> one word (听一听); then a lone 一 absorbs the word after it."""
    merged: Segment = []
    i = 0
    while i < len(words):
        word, pos = words[i]
        if i >= 1 and word == "一" and i + 1 < len(words):
            last = merged[-1] if merged else words[i - 1]
            after = words[i + 1]
            if last[0] == after[0] and last[1] == "v" and after[1] == "v":
                merged[-1] = [last[0] + "一" + after[0], last[1]]
                i += 2
                continue
        merged.append([word, pos])
        i += 1
    result: Segment = []
    for word, pos in merged:
        if result and result[-1][0] == "一":
            result[-1][0] += word
        else:
            result.append([word, pos])
    return result


def _merge_reduplication(words: Segment) -> Segment:
    merged: Segment = []
    for word, pos in words:
        if merged and word == merged[-1][0]:
            merged[-1][0] += word
        else:
            merged.append([word, pos])
    return merged


def _is_reduplication(word: str) -> bool:
    return len(word) == 2 and word[0] == word[1]


def _merge_third_tones(words: Segment, whole_words: bool) -> Segment:
    """Join neighbours joined by third tones (all syllables, or the touching ones) into words of <= 3 characters.

    Raises:
        IndexError: when a reading has no tone digit (upstream then keeps the segmentation unchanged).
    """
    finals = [word_finals(word) for word, _ in words]
    merged: Segment = []
    joined = [False] * len(words)
    for i, (word, pos) in enumerate(words):
        if i >= 1 and _third_tone_link(finals[i - 1], finals[i], whole_words) and not joined[i - 1]:
            previous = words[i - 1][0]
            if not _is_reduplication(previous) and len(previous) + len(word) <= 3:
                merged[-1][0] += word
                joined[i] = True
                continue
        merged.append([word, pos])
    return merged


def _third_tone_link(left: tuple[str, ...], right: tuple[str, ...], whole_words: bool) -> bool:
    if whole_words:
        return _all_third(left) and _all_third(right)
    return left[-1][-1] == "3" and right[0][-1] == "3"


def _merge_er(words: Segment) -> Segment:
    merged: Segment = []
    for i, (word, pos) in enumerate(words):
        if i >= 1 and word == "儿" and words[i - 1][0] != "#":
            merged[-1][0] += word
        else:
            merged.append([word, pos])
    return merged


def merge_for_sandhi(words: list[tuple[str, str]]) -> Segment:
    """Regroup jieba's ``(word, pos)`` list before sandhi (不, 一, reduplication, third tones, 儿)."""
    segment = _merge_reduplication(_merge_yi(_merge_bu(words)))
    for whole_words in (True, False):
        # A reading without a tone digit raises IndexError: keep the segmentation then, as upstream does.
        with contextlib.suppress(IndexError):
            segment = _merge_third_tones(segment, whole_words)
    return _merge_er(segment)
