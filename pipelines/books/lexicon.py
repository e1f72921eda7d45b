"""A book's pronunciation lexicon: respellings applied to the text, phones handed to the frontend.

Files (read through `pipelines.storage`, UTF-8):

* CSV with a header naming ``word`` and ``respelling`` and/or ``phones``, optionally ``lang``
  (``word,respelling`` / ``word,phones``); without a header, two columns ``word,respelling``. Blank lines and
  lines starting with ``#`` are skipped.
* JSON: ``{"word": "respelling"}`` or ``{"word": {"phones": "...", "lang": "en"}}`` (or ``{"respelling": ...}``).

An entry has a respelling *or* phones, not both: a respelling changes the text (the frontend then reads the
respelling), phones are handed to the frontend for the word as written (`Lexicon.phones`).

Phones are validated: ARPAbet with stress digits for English (``JH IY1 P IY1 T IY1``: each token an ARPAbet
phoneme, a 0/1/2 stress digit on vowels only), or pinyin with tone numbers for Chinese (``zhong4 qing4``: each
syllable ``[a-zü]+[1-5]``, ``v`` for ü allowed; one syllable per Han character of the word). A word containing Han
characters needs pinyin. ``lang`` (optional: en, zh, ja, ko, yue) limits an entry to texts of that language.

Matching: alphabetic words match whole words only, case-insensitively (``GPT`` matches ``gpt`` in "gpt's", not
in "GPTs"); words with CJK characters match exactly, anywhere (Chinese has no spaces). Longer words win over their
prefixes. Narration tags (``[voice gpt]``) are never touched. Two entries with the same word (same after case
folding, for alphabetic words) are an error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipelines.books.errors import BookError
from pipelines.books.markup import split_tags
from pipelines.books.textutil import has_cjk
from pipelines.storage import Storage, StorageNotFound, split_url


__all__ = ["ARPABET", "Lexicon", "LexiconEntry", "affects", "phones_language"]

ARPABET_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
ARPABET = ARPABET_VOWELS | frozenset("B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split())
_ARPA_TOKEN = re.compile(r"([A-Z]{1,2})([012]?)")
_PINYIN = re.compile(r"[a-zü]+[1-5]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN = r"0-9A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_LANGS = {"en", "zh", "ja", "ko", "yue"}
_ENTRY_KEYS = {"respelling", "phones", "lang"}


def phones_language(phones: str) -> str | None:
    """ "en" for ARPAbet phones, "zh" for tone-numbered pinyin, None for neither."""
    tokens = phones.split()
    if tokens and all(_arpabet_ok(t) for t in tokens):
        return "en"
    if tokens and all(_PINYIN.fullmatch(t.lower()) and t == t.lower() for t in tokens):
        return "zh"
    return None


def _arpabet_ok(token: str) -> bool:
    match = _ARPA_TOKEN.fullmatch(token)
    return bool(match) and match.group(1) in ARPABET and (not match.group(2) or match.group(1) in ARPABET_VOWELS)


def _key(word: str) -> str:
    """The word as entries are compared: case-folded when it is alphabetic, as is when it has CJK characters."""
    word = " ".join(word.split())
    return word if has_cjk(word) else word.casefold()


@dataclass(frozen=True)
class LexiconEntry:
    """One word of a lexicon.

    Attributes:
        word: the word as written in the file.
        respelling: what to write instead of it in the text, or None (phones only).
        phones: ARPAbet or pinyin phones for the frontend, or None.
        lang: the language the entry is limited to, or None (every language).
        where: where it was defined, for messages (``line 4``, ``key 'GPT'``).
    """

    word: str
    respelling: str | None
    phones: str | None
    lang: str | None
    where: str = field(compare=False)

    @property
    def key(self) -> str:
        return _key(self.word)

    @property
    def phones_lang(self) -> str | None:
        """ "en" or "zh": the phones' alphabet (None without phones)."""
        return phones_language(self.phones) if self.phones else None

    def fingerprint(self) -> str:
        """Hash of what the entry does (not where it was written): equal across versions iff unchanged."""
        payload = json.dumps([self.key, self.respelling, self.phones, self.lang], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _entry(word: str, respelling: str | None, phones: str | None, lang: str | None, where: str) -> LexiconEntry:
    """A validated entry (raises with `where` as the message's prefix)."""
    word = " ".join((word or "").split())
    respelling = " ".join(respelling.split()) if respelling else None
    phones = " ".join(phones.split()) if phones else None
    lang = (lang or "").strip().lower() or None
    if not word:
        raise BookError(f"{where}: the word is empty")
    if not respelling and not phones:
        raise BookError(f"{where}: {word!r} has neither a respelling nor phones")
    if respelling and phones:
        raise BookError(
            f"{where}: {word!r} has both a respelling and phones; give one (phones are for the word as written)"
        )
    if lang is not None and lang not in _LANGS:
        raise BookError(f"{where}: {word!r}: lang {lang!r} is not one of {', '.join(sorted(_LANGS))}")
    if phones:
        _check_phones(word, phones, lang, where)
    return LexiconEntry(word, respelling, phones, lang, where)


def _check_phones(word: str, phones: str, lang: str | None, where: str) -> None:
    found = phones_language(phones)
    if found is None:
        raise BookError(
            f"{where}: {word!r}: phones {phones!r} are neither ARPAbet with stress digits "
            "(en, e.g. 'JH IY1 P IY1 T IY1')"
            " nor pinyin with tone numbers (zh, e.g. 'zhong4 qing4')"
        )
    han = len(_HAN.findall(word))
    if han and found != "zh":
        raise BookError(f"{where}: {word!r}: a Chinese word needs pinyin with tone numbers, got {phones!r}")
    if lang is not None and lang != found:
        raise BookError(
            f"{where}: {word!r}: phones {phones!r} are {found} phones but lang is {lang} "
            "(phones exist for en and zh; give other languages a respelling)"
        )
    if han and han == len(word) and len(phones.split()) != han:
        raise BookError(f"{where}: {word!r}: {len(phones.split())} pinyin syllables for {han} characters")


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BookError(f"{name}: invalid UTF-8 at byte {exc.start}; save the lexicon as UTF-8") from None


def _parse_csv(text: str, name: str) -> list[LexiconEntry]:
    reader = csv.reader(io.StringIO(text))
    entries, columns = [], None
    for cells in reader:
        line = reader.line_num
        if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in cells]
        if columns is None:
            columns = _csv_columns(cells, name)
            if cells[0].lower() == "word":
                continue
        if len(cells) > len(columns):
            raise BookError(
                f"{name}: line {line}: {len(cells)} cells for {len(columns)} columns ({', '.join(columns)})"
            )
        row = dict(zip(columns, cells, strict=False))
        where = f"{name}: line {line}"
        entries.append(_entry(row["word"], row.get("respelling"), row.get("phones"), row.get("lang"), where))
    return entries


def _csv_columns(first: list[str], name: str) -> list[str]:
    if first[0].lower() != "word":
        return ["word", "respelling"]
    columns = [c.lower() for c in first]
    unknown = [c for c in columns[1:] if c not in _ENTRY_KEYS]
    if unknown or not ({"respelling", "phones"} & set(columns)):
        raise BookError(f"{name}: line 1: header must be word plus respelling and/or phones (and lang), got {first}")
    return columns


def _parse_json(text: str, name: str) -> list[LexiconEntry]:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, value in pairs:
            if key in seen:
                raise BookError(f"{name}: key {key!r}: duplicate word")
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise BookError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise BookError(f'{name}: a JSON lexicon is an object {{"word": "respelling" or {{"phones": ...}}}}')
    return [_json_entry(word, value, f"{name}: key {word!r}") for word, value in data.items()]


def _json_entry(word: str, value: object, where: str) -> LexiconEntry:
    if isinstance(value, str):
        return _entry(word, value, None, None, where)
    if not isinstance(value, dict):
        raise BookError(f"{where}: value must be a respelling string or an object with phones/respelling/lang")
    unknown = sorted(set(value) - _ENTRY_KEYS)
    if unknown:
        raise BookError(f"{where}: unknown field(s) {', '.join(unknown)}; known: lang, phones, respelling")
    if any(v is not None and not isinstance(v, str) for v in value.values()):
        raise BookError(f"{where}: phones, respelling and lang must be strings")
    return _entry(word, value.get("respelling"), value.get("phones"), value.get("lang"), where)


def _check_duplicates(entries: Iterable[LexiconEntry], name: str) -> None:
    first: dict[str, LexiconEntry] = {}
    for entry in entries:
        if entry.key in first:
            other = first[entry.key]
            raise BookError(
                f"{entry.where}: duplicate word {entry.word!r} (also {other.where.removeprefix(name + ': ')})"
            )
        first[entry.key] = entry


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of `words` by the rules of the module docstring (longest first)."""
    alpha = sorted({_key(w) for w in words if not has_cjk(w)}, key=len, reverse=True)
    cjk = sorted({_key(w) for w in words if has_cjk(w)}, key=len, reverse=True)
    parts = []
    if alpha:
        body = "|".join(r"\s+".join(map(re.escape, w.split())) for w in alpha)
        parts.append(f"(?i:(?<![{_LATIN}])(?:{body})(?![{_LATIN}]))")
    if cjk:
        parts.append("|".join(map(re.escape, cjk)))
    return re.compile("|".join(parts)) if parts else None


def _outside_tags(text: str, fn: Callable[[str], str]) -> str:
    return "".join(piece if is_tag else fn(piece) for is_tag, piece in split_tags(text))


@dataclass(frozen=True)
class Lexicon:
    """A book's pronunciation lexicon (see the module docstring for files and matching rules).

    Attributes:
        entries: the entries, in file order.
        source: the file it was read from ("" for one built in code).
    """

    entries: tuple[LexiconEntry, ...] = ()
    source: str = ""
    _cache: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_duplicates(self.entries, self.source)

    @classmethod
    def load(cls, url: str) -> Lexicon:
        """Read a ``.csv`` or ``.json`` lexicon from any storage URL.

        Raises:
            BookError: a missing file, an unknown suffix, a malformed file or a bad entry (naming file, line or key).
        """
        folder, name = split_url(url)
        try:
            data = Storage(folder).read_bytes(name)
        except StorageNotFound:
            raise BookError(f"{name}: lexicon not found ({url})") from None
        return cls.from_bytes(data, name)

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> Lexicon:
        """Parse a lexicon file's bytes; the format comes from `name` (``.csv``, ``.json``)."""
        text = _decode(data, name)
        if name.lower().endswith(".csv"):
            return cls(tuple(_parse_csv(text, name)), name)
        if name.lower().endswith(".json"):
            return cls(tuple(_parse_json(text, name)), name)
        raise BookError(f"{name}: unknown lexicon format; use .csv or .json")

    @property
    def phones(self) -> dict[str, str]:
        """Word -> phones, for the entries that have phones (ARPAbet or pinyin; see `LexiconEntry.phones_lang`)."""
        return {e.word: e.phones for e in self.entries if e.phones}

    def _by_key(self) -> dict[str, LexiconEntry]:
        if "by_key" not in self._cache:
            self._cache["by_key"] = {e.key: e for e in self.entries}
        return self._cache["by_key"]

    def _respell_pattern(self, lang: str) -> re.Pattern[str] | None:
        if ("pattern", lang) not in self._cache:
            words = [e.word for e in self.entries if e.respelling and e.lang in (None, lang)]
            self._cache[("pattern", lang)] = _pattern(words)
        return self._cache[("pattern", lang)]

    def apply(self, text: str, lang: str) -> str:
        """`text` with every word of the lexicon that has a respelling replaced by it.

        Args:
            text: text to be spoken (narration tags are left alone).
            lang: the text's language; entries limited to another language are not applied ("auto" applies only
                entries without a language).
        """
        pattern = self._respell_pattern(lang)
        if pattern is None:
            return text
        by_key = self._by_key()
        return _outside_tags(text, lambda piece: pattern.sub(lambda m: by_key[_key(m.group(0))].respelling, piece))

    def fingerprint(self, word: str) -> str:
        """The entry's fingerprint (see `LexiconEntry.fingerprint`).

        Raises:
            KeyError: the word is not in the lexicon.
        """
        entry = self._by_key().get(_key(word))
        if entry is None:
            raise KeyError(f"{word!r} is not in lexicon {self.source or '(unnamed)'}")
        return entry.fingerprint()

    def words_changed(self, other: Lexicon) -> set[str]:
        """Words whose entry differs between `self` and `other`: added, removed or changed (as written here, or in
        `other` for removed ones). Segments containing any of them need rendering again (`affects`)."""
        mine, theirs = self._by_key(), other._by_key()
        changed = {e.word for k, e in mine.items() if k not in theirs or theirs[k].fingerprint() != e.fingerprint()}
        return changed | {e.word for k, e in theirs.items() if k not in mine}

    @staticmethod
    def affects(text: str, changed_words: Iterable[str], lang: str) -> bool:
        """The module-level `affects`, reachable from an instance."""
        return affects(text, changed_words, lang)


def affects(text: str, changed_words: Iterable[str], lang: str) -> bool:
    """True when `text` contains one of `changed_words` by the lexicon's matching rules (outside narration tags).

    Args:
        text: a segment's text, as written in the book (before `Lexicon.apply`).
        changed_words: from `Lexicon.words_changed`.
        lang: the text's language; matching depends only on each word's script today (kept for symmetry with
            `Lexicon.apply`).
    """
    del lang
    pattern = _pattern(list(changed_words))
    if pattern is None:
        return False
    return any(not is_tag and pattern.search(piece) for is_tag, piece in split_tags(text))
