"""User pronunciations: words whose phones the user gives (a book's lexicon), instead of the frontend's guess.

``with pronunciations({"en": {"sovits": ("S", "OW1", "V", "IH0", "T", "S")}, "zh": {"重庆": ("chong2", "qing4")}}):``
makes every ``text_to_phones`` call in the block read those words that way. English entries are ARPAbet with stress
digits (the v2 symbol table's English symbols) and replace the lexicon lookup of the whole word (case-insensitive);
Mandarin entries are pinyin syllables with tone digits, one per character of the word, and replace the phones of
every occurrence of the word in the normalised text. The overrides live in a context variable: nothing global
changes, and other threads are not affected.
"""

from __future__ import annotations

import contextvars
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from sovits_core.text.errors import TextError


_Entries = Mapping[str, Mapping[str, tuple[str, ...]]]
_NONE: _Entries = types.MappingProxyType({})
_ACTIVE: contextvars.ContextVar[_Entries] = contextvars.ContextVar("sovits_pronunciations", default=_NONE)
_PINYIN = re.compile(r"^([a-zü]+)([1-5])$")
_ARPABET = re.compile(r"^[A-Z]{1,2}[012]?$")


@contextmanager
def pronunciations(entries: Mapping[str, Mapping[str, Sequence[str]]]) -> Iterator[None]:
    """Use ``entries`` (language -> word -> phones) for every frontend call inside the block."""
    checked = {lang: {_key(lang, w): tuple(p) for w, p in words.items()} for lang, words in entries.items()}
    for lang, words in checked.items():
        for word, phones in words.items():
            check_phones(lang, word, phones)
    token = _ACTIVE.set(checked)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _key(lang: str, word: str) -> str:
    return word.lower() if lang == "en" else word


def check_phones(lang: str, word: str, phones: Sequence[str]) -> None:
    """Raise TextError unless ``phones`` is a valid reading of ``word`` in ``lang``."""
    if lang == "en":
        bad = [p for p in phones if not _ARPABET.match(p)]
        if not phones or bad:
            raise TextError(f"pronunciation of {word!r}: {bad or 'nothing'} is not ARPAbet (e.g. JH IY1 P IY1)")
    elif lang == "zh":
        if len(phones) != len(word):
            raise TextError(f"pronunciation of {word!r}: {len(phones)} syllable(s) for {len(word)} character(s)")
        pinyin_symbols(phones)
    else:
        raise TextError(f"pronunciations are supported for en and zh, not {lang!r}")


def lookup(lang: str, word: str) -> tuple[str, ...] | None:
    """The user's phones for ``word`` in ``lang``, or None."""
    active = _ACTIVE.get()
    return active.get(lang, {}).get(_key(lang, word)) if active else None


def active(lang: str) -> bool:
    return bool(_ACTIVE.get().get(lang))


def pinyin_symbols(syllables: Sequence[str]) -> list[str]:
    """v2 symbols (an initial and a final with its tone per syllable) of pinyin syllables like ``zhong4``."""
    from sovits_core.text.zh.pinyin_map import PINYIN_TO_SYMBOLS

    out: list[str] = []
    for syllable in syllables:
        match = _PINYIN.match(syllable.replace("v", "ü"))
        symbols = PINYIN_TO_SYMBOLS.get(match.group(1).replace("ü", "v")) if match else None
        if symbols is None:
            raise TextError(f"{syllable!r} is not a pinyin syllable with a tone digit (e.g. zhong4)")
        out.extend([symbols[0], symbols[1] + match.group(2)])  # type: ignore[union-attr]
    return out


def apply_zh(norm_text: str, phones: list[str], word2ph: list[int]) -> tuple[list[str], list[int]]:
    """Replace the phones of every character span of ``norm_text`` that is a user word (longest first)."""
    words = sorted(_ACTIVE.get().get("zh", {}).items(), key=lambda item: -len(item[0]))
    if not words:
        return phones, word2ph
    per_char: list[list[str]] = []
    position = 0
    for count in word2ph:
        per_char.append(phones[position : position + count])
        position += count
    taken = [False] * len(norm_text)
    for word, syllables in words:
        symbols = pinyin_symbols(syllables)
        for match in re.finditer(re.escape(word), norm_text):
            span = range(match.start(), match.end())
            if any(taken[i] for i in span):
                continue
            for k, i in enumerate(span):
                per_char[i], taken[i] = symbols[2 * k : 2 * k + 2], True
    return [p for chunk in per_char for p in chunk], [len(chunk) for chunk in per_char]
