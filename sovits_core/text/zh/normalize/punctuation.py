"""Punctuation folding to the v2 punctuation phones and removal of everything unpronounceable.

After this step a Mandarin text holds only CJK Unified Ideographs U+4E00..U+9FA5 and the six punctuation phones
``! ? … , . -``; letters, emoji, control characters and any other symbol are dropped (upstream ``chinese2``
``replace_punctuation`` / ``replace_consecutive_punctuation``).
"""

import re

from sovits_core.text.marks import CJK_MARKS


PUNCTUATION = "!?…,.-"

# Multi-character keys first is not needed: "..." is the only one and no other key is a prefix of it.
_FOLD: dict[str, str] = {
    **CJK_MARKS,
    "...": "…",
    "$": ".",
    "/": ",",
    "—": "-",
    "~": "…",
    "～": "…",
}
_RE_FOLD = re.compile("|".join(re.escape(key) for key in _FOLD))
_RE_UNSPEAKABLE = re.compile(r"[^\u4e00-\u9fa5" + re.escape(PUNCTUATION) + r"]+")
_RE_REPEATED = re.compile(f"([{re.escape(PUNCTUATION)}])[{re.escape(PUNCTUATION)}]+")
# Interjections that pypinyin reads as the syllabic nasals n / m, which have no v2 symbol.
_INTERJECTIONS = str.maketrans({"嗯": "恩", "呣": "母"})


def fold_punctuation(text: str) -> str:
    """Map Chinese punctuation to the v2 set and drop every other non-ideograph character."""
    text = _RE_FOLD.sub(lambda match: _FOLD[match.group(0)], text.translate(_INTERJECTIONS))
    return _RE_UNSPEAKABLE.sub("", text)


def collapse_repeated_punctuation(text: str) -> str:
    """Keep only the first of a run of punctuation marks (``"?!."`` -> ``"?"``)."""
    return _RE_REPEATED.sub(r"\1", text)
