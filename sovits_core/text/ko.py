"""Korean G2P with GPT-SoVITS v2 behaviour (optional extra ``ko``).

Upstream v2 spells Latin letters out in hangul, applies g2pk2's pronunciation rules (which tag the text with the
MeCab-ko analyser), splits the result into compatibility jamo, breaks compound vowels into two v2 symbols, fixes one
g2pk2 liaison error and maps spaces to ``空`` and anything outside the v2 table to ``停``.

Packages (extra ``ko``): ``g2pk2`` (rules; pulls ``jamo`` and ``nltk``), ``python-mecab-ko`` (tagger; pulls
``python-mecab-ko-dic``, the dictionary). Two things g2pk2 does are avoided so nothing is fetched or installed at run
time: its import calls ``nltk.download("cmudict")`` when NLTK's CMU corpus is absent (refused here), and its
constructor may ``pip install`` a tagger (bypassed: the tagger is built here). g2pk2's English step never sees a Latin
letter (they are spelled out first), so it gets an empty CMU dictionary.
"""

import functools
import logging
import os
import re
from collections.abc import Callable
from types import ModuleType

from .errors import TextError, missing_extra, require_str
from .marks import CJK_MARKS
from .symbols import SYMBOL_TO_ID


logger = logging.getLogger(__name__)

LANGUAGE = "Korean"
EXTRA = "ko"

_LETTER_NAMES = {
    "a": "에이", "b": "비", "c": "시", "d": "디", "e": "이", "f": "에프", "g": "지", "h": "에이치", "i": "아이",
    "j": "제이", "k": "케이", "l": "엘", "m": "엠", "n": "엔", "o": "오", "p": "피", "q": "큐", "r": "아르",
    "s": "에스", "t": "티", "u": "유", "v": "브이", "w": "더블유", "x": "엑스", "y": "와이", "z": "제트",
}  # fmt: skip
# One case-insensitive pattern per letter, applied in alphabetical order (as upstream; IGNORECASE also folds e.g. the
# Kelvin sign into "k").
_LETTER_PATTERNS = tuple((re.compile(letter, re.IGNORECASE), name) for letter, name in _LETTER_NAMES.items())

# Compound vowels written as two v2 symbols.
_VOWEL_SPLITS = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
    "ㅑ": "ㅣㅏ", "ㅒ": "ㅣㅐ", "ㅕ": "ㅣㅓ", "ㅖ": "ㅣㅔ", "ㅛ": "ㅣㅗ", "ㅠ": "ㅣㅜ",
}  # fmt: skip
_RE_COMPOUND_VOWEL = re.compile("|".join(_VOWEL_SPLITS))
# g2pk2 turns the ㄹ after "-을/-를 " into ㄹ where ㄴ is said; upstream puts the ㄴ back.
_RE_LIAISON_ERROR = re.compile(r"(ㅇㅡㄹ|ㄹㅡㄹ) ㄹ")
_RE_FINAL_JAMO = re.compile(r"([\u3131-\u3163])$")

_MARK_TO_PHONE = {**CJK_MARKS, " ": "空"}
_UNKNOWN = "停"


def normalize(text: str) -> str:
    """Upstream v2 has no Korean text normalisation: the text is returned unchanged."""
    return text


def g2p(text: str) -> tuple[list[str], None, str]:
    """Convert Korean text to v2 phones.

    Args:
        text: raw Korean text (Latin letters are read as their Korean letter names, digits by g2pk2's rules).

    Returns:
        ``(phones, None, norm_text)``: v2 Korean symbols (jamo, punctuation, ``空`` for spaces, ``停`` for anything
        else), no word2ph (as upstream v2), and the normalised text.

    Raises:
        MissingLanguageSupport: the ``ko`` extra is not installed or its dictionary cannot be loaded.
        TextError: g2pk2 or the tagger fail on the text.
    """
    require_str(text, LANGUAGE)
    converter = pronunciation_converter()
    norm_text = normalize(text)
    try:
        spoken = converter(spell_latin_letters(norm_text))
    except Exception as exc:  # g2pk2 and MeCab raise assorted errors on odd input
        raise TextError(f"g2pk2 failed on Korean text {norm_text!r}: {exc}") from exc
    jamo_text = _RE_LIAISON_ERROR.sub(r"\1 ㄴ", split_jamo(spoken))
    jamo_text = _RE_FINAL_JAMO.sub(r"\1.", jamo_text)
    return [_to_symbol(char) for char in jamo_text], None, norm_text


def spell_latin_letters(text: str) -> str:
    """Replace every Latin letter by its Korean name (``"mp3"`` -> ``"엠피3"``)."""
    for pattern, name in _LETTER_PATTERNS:
        text = pattern.sub(name, text)
    return text


def split_jamo(text: str) -> str:
    """Decompose hangul syllables into compatibility jamo and split compound vowels (``"와"`` -> ``"ㅇㅗㅏ"``)."""
    from jamo import h2j, j2hcj

    return _RE_COMPOUND_VOWEL.sub(lambda match: _VOWEL_SPLITS[match.group(0)], j2hcj(h2j(text)))


def pronunciation_converter() -> Callable[[str], str]:
    """Return g2pk2's converter (hangul text -> pronounced hangul text), built once per process.

    Raises:
        MissingLanguageSupport: a package of the ``ko`` extra is missing or the MeCab-ko dictionary cannot be loaded.
    """
    core, utils = _import_g2pk2()
    return _build_converter(core, utils)


def _import_g2pk2() -> tuple[ModuleType, ModuleType]:
    try:
        import jamo  # noqa: F401  (used by split_jamo and g2pk2)
        import mecab  # noqa: F401  (python-mecab-ko)
        import nltk
    except ImportError as exc:
        raise missing_extra(LANGUAGE, EXTRA, f"cannot import {exc.name or exc}") from exc
    download = nltk.download
    nltk.download = _refuse_download
    try:
        import g2pk2.g2pk2 as core
        import g2pk2.utils as utils
    except ImportError as exc:
        raise missing_extra(LANGUAGE, EXTRA, f"cannot import {exc.name or exc}") from exc
    finally:
        nltk.download = download
    return core, utils


def _refuse_download(*args: object, **kwargs: object) -> bool:
    logger.debug("refused a run-time NLTK download %s: g2pk2 gets its CMU dictionary from sovits_core", args)
    return False


@functools.lru_cache(maxsize=2)
def _build_converter(core: ModuleType, utils: ModuleType) -> Callable[[str], str]:
    import mecab

    try:
        tagger = mecab.MeCab()
    except Exception as exc:  # python-mecab-ko raises its own MeCabError when the dictionary is missing
        raise missing_extra(LANGUAGE, EXTRA, f"cannot load the MeCab-ko dictionary: {exc}") from exc

    class OfflineG2p(core.G2p):
        """g2pk2's converter with the tagger given, instead of checking for (and maybe pip-installing) one."""

        def __init__(self) -> None:
            self.use_konlpy = False
            self.mecab_path = None
            self.mecab = tagger
            self.table = utils.parse_table()
            self.cmu: dict[str, list[list[str]]] = {}
            self.rule2text = utils.get_rule_id2text()
            self.idioms_path = os.path.join(os.path.dirname(core.__file__), "idioms.txt")

    return OfflineG2p()


def _to_symbol(char: str) -> str:
    phone = _MARK_TO_PHONE.get(char, char)
    return phone if phone in SYMBOL_TO_ID else _UNKNOWN
