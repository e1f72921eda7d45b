"""Erhua (儿化) handling as upstream GPT-SoVITS v2 does it in the pypinyin and G2PW branches.

v2 does not fuse 儿 into the previous syllable; it keeps 儿 as its own syllable ``er`` and, for an erhua suffix, gives
it the tone of the syllable before it (小院儿 -> ... van4 EE er4). 儿 in words such as 女儿, 婴儿 (and in adjectives,
abbreviations and person names) keeps its own tone.
"""

from .tone_words import MUST_ERHUA, NOT_ERHUA


def apply_erhua(word: str, pos: str, finals: list[str]) -> list[str]:
    """Return the finals of ``word`` with the erhua tone rule applied.

    Args:
        word: the (merged) word.
        pos: its jieba part-of-speech flag.
        finals: its finals with tone digits, after tone sandhi.

    Returns:
        A new list of finals (same length).
    """
    finals = list(finals)
    if finals and len(word) >= len(finals) and word[len(finals) - 1] == "儿" and finals[-1] == "er1":
        finals[-1] = "er2"
    if word not in MUST_ERHUA and (word in NOT_ERHUA or pos in ("a", "j", "nr")):
        return finals
    if len(finals) != len(word):
        return finals
    if len(finals) >= 2 and word[-1] == "儿" and finals[-1] in ("er2", "er5") and word[-2:] not in NOT_ERHUA:
        finals[-1] = "er" + finals[-2][-1]
    return finals
