"""English text normalisation as GPT-SoVITS v2 does it (``english.text_normalize``).

Order of operations (each step mirrors upstream):

1. full-width sentence marks ``。！？`` -> ``.!?``;
2. numbers, money, times, measures, fractions, ordinals, arithmetic -> words (:mod:`.numbers`);
3. accents stripped (NFD, combining marks dropped), ``%`` -> `` percent``;
4. every character outside ``[ A-Za-z'.,?!-]`` removed (so ``;`` ``:`` ``"`` emoji, CJK ... disappear);
5. ``i.e.`` / ``e.g.`` expanded;
6. an upper-case letter that follows a non-space character gets a space before it, so acronyms are read letter by
   letter (``NASA`` -> ``N A S A``, ``OpenAI`` -> ``Open A I``);
7. a run of punctuation after punctuation/space keeps only its first mark (``Hi!!`` -> ``Hi!``).

Upstream's replacement table for ``;:，；`` and curly quotes never fires (its keys are regex classes that get
escaped and matched literally); we reproduce that, so ``;`` and ``:`` are simply dropped in step 4.
"""

import re
import unicodedata

from sovits_core.text.en.numbers import expand_numbers
from sovits_core.text.en.phoneset import PUNCTUATION


# Literal replacements applied first. The first two keys are upstream's, matched literally (see module docstring).
_LITERAL_MAP: dict[str, str] = {
    "[;:：，；]": ",",
    '["’]': "'",
    "。": ".",
    "！": "!",
    "？": "?",
}
_LITERAL_RE = re.compile("|".join(re.escape(k) for k in _LITERAL_MAP))

_NOT_ALLOWED_RE = re.compile(r"[^ A-Za-z'.,?!\-]")
_IE_RE = re.compile(r"(?i)i\.e\.")
_EG_RE = re.compile(r"(?i)e\.g\.")
_INNER_CAPITAL_RE = re.compile(r"(?<!^)(?<![\s])([A-Z])")
_PUNCT_CLASS = "".join(re.escape(p) for p in PUNCTUATION)
_REPEATED_PUNCT_RE = re.compile(rf"([{_PUNCT_CLASS}\s])([{_PUNCT_CLASS}])+")


def strip_accents(text: str) -> str:
    """Decompose (NFD) and drop combining marks: 'café' -> 'cafe'."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def expand_text(text: str) -> str:
    """Upstream ``en_normalization.expend.normalize``: numbers to words, filter characters, split capitals."""
    text = expand_numbers(text)
    text = strip_accents(text)
    text = text.replace("%", " percent")
    text = _NOT_ALLOWED_RE.sub("", text)
    text = _IE_RE.sub("that is", text)
    text = _EG_RE.sub("for example", text)
    return _INNER_CAPITAL_RE.sub(r" \1", text)


def collapse_punctuation(text: str) -> str:
    """Keep only the first of consecutive punctuation marks (also drops marks right after whitespace)."""
    return _REPEATED_PUNCT_RE.sub(r"\1", text)


def normalize(text: str) -> str:
    """Normalise English ``text`` exactly as GPT-SoVITS v2's ``english.text_normalize``.

    Args:
        text: raw English text (any Unicode; characters that cannot be read are dropped).

    Returns:
        Text made of ``[ A-Za-z'.,?!-]`` only, numbers spelled out. May be empty or blank.
    """
    if not isinstance(text, str):
        raise TypeError(f"English normalize expects str, got {type(text).__name__}")
    text = _LITERAL_RE.sub(lambda m: _LITERAL_MAP[m.group(0)], text)
    return collapse_punctuation(expand_text(text))
