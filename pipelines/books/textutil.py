"""Text helpers shared by the readers: scripts (CJK or alphabetic), whitespace, paragraphs, language codes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


__all__ = [
    "CJK_CHAR",
    "LANGUAGES",
    "guess_language",
    "has_cjk",
    "is_cjk",
    "join_lines",
    "map_language",
    "normalize_ws",
    "paragraphs",
    "to_text",
]

LANGUAGES = ("zh", "en", "ja", "ko", "yue")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef"
_NEUTRAL = "\"'\u201c\u201d\u2018\u2019\u2014\u2026()[]"  # quotes and dashes: look past them to join lines
CJK_CHAR = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
_CJK_OR_PUNCT = re.compile(f"[{_HAN}{_KANA}{_HANGUL}{_CJK_PUNCT}]")
_HAN_RE = re.compile(f"[{_HAN}]")
_KANA_RE = re.compile(f"[{_KANA}]")
_HANGUL_RE = re.compile(f"[{_HANGUL}]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
_CONTROLS = [c for c in range(32) if chr(c) not in "\t\n\r"] + [0x7F]
_INVISIBLE = dict.fromkeys([*map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), *_CONTROLS])
_SPACES = re.compile(r"\s+")
_BREAK_BETWEEN_CJK = re.compile(f"(?<=[{_HAN}{_KANA}{_CJK_PUNCT}])[^\\S\\n]*\\n\\s*(?=[{_HAN}{_KANA}{_CJK_PUNCT}])")
_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
_UNKNOWN_LANGS = {"und", "mul", "zxx", "mis"}  # ISO 639 "undetermined", "multiple", "no content", "uncoded"
_LANG_NAMES = {
    "english": "en", "eng": "en", "chinese": "zh", "mandarin": "zh", "chi": "zh", "zho": "zh", "cmn": "zh",
    "japanese": "ja", "jpn": "ja", "korean": "ko", "kor": "ko", "cantonese": "yue", "zh-yue": "yue",
}  # fmt: skip


def is_cjk(char: str) -> bool:
    """True for a Han, kana or Hangul character, or CJK punctuation (full-width forms, 。，「」...)."""
    return bool(_CJK_OR_PUNCT.match(char))


def has_cjk(text: str) -> bool:
    return CJK_CHAR.search(text) is not None


def _edge(text: str, *, last: bool) -> str:
    """The first (or last) character of `text` that is not a quote, dash or bracket ("" when there is none)."""
    chars = reversed(text) if last else iter(text)
    return next((c for c in chars if c not in _NEUTRAL), "")


def join_lines(lines: Iterable[str]) -> str:
    """Join the lines of one paragraph: a space between alphabetic text, nothing where either side is CJK
    (quotes and dashes at the line ends are looked past: ``你好”`` + ``“再见`` joins without a space)."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if out and not (is_cjk(_edge(out, last=True) or "a") or is_cjk(_edge(line, last=False) or "a")):
            out += " "
        out += line
    return out


def normalize_ws(text: str) -> str:
    """One paragraph's whitespace normalised: NFC; invisible and control characters dropped; a line break between two
    Chinese or Japanese characters dropped (a source line break, not a space); other whitespace runs -> one space;
    stripped."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = _BREAK_BETWEEN_CJK.sub("", text)
    return _SPACES.sub(" ", text.replace("\u00a0", " ")).strip()


def paragraphs(text: str) -> list[str]:
    """Paragraphs of a text whose paragraphs are separated by blank lines (lines inside one are joined)."""
    return [p for p in (join_lines(block.split("\n")) for block in _BLANK_LINES.split(text)) if p]


def to_text(paras: Iterable[str]) -> str:
    """Paragraphs joined with blank lines, empty ones dropped."""
    return "\n\n".join(p for p in paras if p)


def map_language(code: str | None) -> str | None:
    """A language tag or name mapped to one of zh en ja ko yue when possible (``en-US`` -> en, ``zh-Hant`` -> zh,
    ``yue`` / ``zh-yue`` -> yue, ``Japanese`` -> ja), else the tag as given in lower case; None for nothing (also for
    ``und``, ``mul``, ``zxx``: the text's script decides then).

    ``zh-HK`` / ``zh-TW`` stay zh: a Hong Kong edition is written Chinese, and reading it in Cantonese is a choice.
    """
    if not code or not code.strip():
        return None
    tag = code.strip().lower().replace("_", "-")
    if tag in _UNKNOWN_LANGS:
        return None
    if tag in _LANG_NAMES:
        return _LANG_NAMES[tag]
    primary = tag.split("-")[0]
    if primary == "yue" or tag.startswith("zh-yue"):
        return "yue"
    if primary in LANGUAGES:
        return primary
    return _LANG_NAMES.get(primary, tag)


def guess_language(text: str) -> str:
    """The main language of a text judged from its scripts (first 20,000 characters): ko for Hangul, ja when kana
    make up a tenth of the CJK characters, zh for Han, en for Latin letters; "auto" when there is no letter at all."""
    sample = text[:20_000]
    han, kana, hangul = (len(r.findall(sample)) for r in (_HAN_RE, _KANA_RE, _HANGUL_RE))
    latin = len(_LATIN_RE.findall(sample))
    if hangul and hangul >= han + kana and hangul * 2 >= latin:
        return "ko"
    if han + kana and (han + kana) * 2 >= latin:
        return "ja" if kana * 10 >= han + kana else "zh"
    return "en" if latin else "auto"
