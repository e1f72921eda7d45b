"""Pinyin syllables -> GPT-SoVITS v2 Mandarin phone symbols (an initial and a final).

Upstream reads this mapping from a data file (``opencpop-strict.txt``, 429 syllables); here it is derived from the
standard pinyin syllable table below plus a few spelling rules:

* zero-initial syllables get a glottal "initial" named after their first letter: ``a*`` -> ``AA``, ``e*`` -> ``EE``,
  ``o*`` -> ``OO`` (``ang`` -> ``AA ang``);
* ``y``/``w`` syllables keep ``y``/``w`` as the initial; after ``y`` a written ``u`` is ü (``yuan`` -> ``y van``) and
  ``ye``/``yan`` use the open-e finals ``E``/``En``;
* after ``j q x`` a written ``u`` is ü (``jun`` -> ``j vn``); the explicit ``v`` spellings are accepted too;
* the apical vowels: ``zhi chi shi ri`` -> ``ir``, ``zi ci si`` -> ``i0``.

``tests/text/test_zh.py`` checks every syllable against upstream's file when it is available.
"""

import functools


_GUTTURAL_FINALS = "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo"
_PALATAL_FINALS = "i ia ian iang iao ie in ing iong iu u v uan van ue ve un vn"
_DENTAL_FINALS = "a ai an ang ao e ei en eng i ong ou u uan ui un uo"

# Finals that may follow each initial, as written in pinyin ("" = no initial). A data table: other string tables
# share only its shape.
_SYLLABLE_TABLE: dict[str, str] = {
    "": "a ai an ang ao e ei en eng er o ou",
    "b": "a ai an ang ao ei en eng i ian iao ie in ing o u",
    "p": "a ai an ang ao ei en eng i ian iao ie in ing o ou u",
    "m": "a ai an ang ao e ei en eng i ian iao ie in ing iu o ou u",
    "f": "a an ang ei en eng o ou u",
    "d": "a ai an ang ao e ei en eng i ia ian iao ie ing iu ong ou u uan ui un uo",
    "t": "a ai an ang ao e ei eng i ian iao ie ing ong ou u uan ui un uo",
    "n": "a ai an ang ao e ei en eng i ian iang iao ie in ing iu ong ou u uan un uo v ve",
    "l": "a ai an ang ao e ei eng i ia ian iang iao ie in ing iu o ong ou u uan un uo v ve",
    "g": _GUTTURAL_FINALS,
    "k": _GUTTURAL_FINALS,
    "h": _GUTTURAL_FINALS,
    "j": _PALATAL_FINALS,
    "q": _PALATAL_FINALS,
    "x": _PALATAL_FINALS,
    "zh": "a ai an ang ao e ei en eng i ong ou u ua uai uan uang ui un uo",
    "ch": "a ai an ang ao e en eng i ong ou u ua uai uan uang ui un uo",
    "sh": "a ai an ang ao e ei en eng i ou u ua uai uan uang ui un uo",
    "r": "an ang ao e en eng i ong ou u ua uan ui un uo",
    "z": _DENTAL_FINALS,
    "c": _DENTAL_FINALS,
    "s": "a ai an ang ao e en eng i ong ou u uan ui un uo",
    "y": "a an ang ao e i in ing o ong ou u v uan van ue ve un vn",
    "w": "a ai an ang ei en eng o u",
}
_ZERO_INITIAL_SYMBOLS = {"a": "AA", "e": "EE", "o": "OO"}
_Y_FINAL_SYMBOLS = {"e": "E", "an": "En"}


def _final_symbol(initial: str, final: str) -> str:
    if initial in ("zh", "ch", "sh", "r") and final == "i":
        return "ir"
    if initial in ("z", "c", "s") and final == "i":
        return "i0"
    if initial in ("j", "q", "x", "y") and final.startswith("u"):
        final = "v" + final[1:]
    if initial == "y":
        return _Y_FINAL_SYMBOLS.get(final, final)
    return final


def _build_map() -> dict[str, tuple[str, str]]:
    mapping: dict[str, tuple[str, str]] = {}
    for initial, finals in _SYLLABLE_TABLE.items():
        for final in finals.split():
            if initial:
                mapping[initial + final] = (initial, _final_symbol(initial, final))
            else:
                mapping[final] = (_ZERO_INITIAL_SYMBOLS[final[0]], final)
    return mapping


PINYIN_TO_SYMBOLS: dict[str, tuple[str, str]] = _build_map()


@functools.cache
def pinyin_from_parts(initial: str, final: str) -> str:
    """Re-spell pypinyin's strict initial/final split (no tone) as a syllable of :data:`PINYIN_TO_SYMBOLS`.

    pypinyin's strict finals are phonological (``uei``, ``iou``, ``uen``; ``i``/``u``/``v`` for ``yi``/``wu``/``yu``);
    this undoes that the way upstream does: ``("g", "uei")`` -> ``"gui"``, ``("", "ing")`` -> ``"ying"``,
    ``("", "uo")`` -> ``"wo"``, ``("", "van")`` -> ``"yuan"``.

    Args:
        initial: pypinyin ``Style.INITIALS`` output ("" for none).
        final: pypinyin ``Style.FINALS_TONE3`` output without its tone digit.

    Returns:
        The syllable (may be absent from the table when pypinyin gives something exotic, e.g. ``"fiao"``).
    """
    if initial:
        return initial + {"uei": "ui", "iou": "iu", "uen": "un"}.get(final, final)
    whole = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
    if final in whole:
        return whole[final]
    head = {"v": "yu", "e": "e", "i": "y", "u": "w"}.get(final[:1])
    return head + final[1:] if head is not None else final


def syllable_symbols(initial: str, final_with_tone: str) -> tuple[str, str] | None:
    """The two v2 symbols for one pypinyin syllable, e.g. ``("zh", "ong1")`` -> ``("zh", "ong1")``.

    Args:
        initial: pypinyin strict initial ("" for none).
        final_with_tone: pypinyin strict final with its tone digit 1-5 (``"uei4"``).

    Returns:
        ``(initial_symbol, final_symbol_with_tone)``, or ``None`` when the syllable has no v2 symbols.
    """
    tone = final_with_tone[-1:]
    if not tone or tone not in "12345":
        return None
    symbols = PINYIN_TO_SYMBOLS.get(pinyin_from_parts(initial, final_with_tone[:-1]))
    if symbols is None:
        return None
    return symbols[0], symbols[1] + tone
