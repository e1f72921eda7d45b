"""What a book reader returns: a `Book` of `Chapter` s, with word counts and reading-time estimates.

Counting (`Chapter.words`): alphabetic and Korean text is counted in *words* (runs of letters/digits, ``don't`` and
``2024`` are one word each); Chinese and Japanese text in *characters* (each Han character or kana is one unit;
punctuation is not counted). Mixed text adds both. Markup tags (``[pause 1s]``, ``[voice x]``) are not counted.

Speaking rates assumed by `Chapter.estimated_minutes` (unhurried audiobook narration; see `SPEAKING_RATES`):

=========================  =====================  ===================================================
script                     rate                   note
=========================  =====================  ===================================================
alphabetic words           155 words/min          English audiobooks are narrated at ~150-160 wpm
Han characters (zh, yue)   260 characters/min     Mandarin narration ~4-4.5 syllables/s
Han + kana (ja)            300 characters/min     used when kana are >= 10 % of the CJK characters
Korean words               100 words/min          ~4.5 syllables/s, ~2.7 syllables per written word
=========================  =====================  ===================================================

plus the pauses written in the markup. The figure is an estimate for planning, not a promise: real durations
depend on the voice, the ``speed`` setting and the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from pipelines.books.errors import BookError
from pipelines.books.markup import strip_markup, total_pause_seconds


__all__ = ["BACK", "BODY", "FRONT", "KINDS", "SPEAKING_RATES", "Book", "BookError", "Chapter", "TextCounts"]

FRONT, BODY, BACK = "front", "body", "back"
KINDS = (FRONT, BODY, BACK)
SPEAKING_RATES = {"words": 155.0, "zh_chars": 260.0, "ja_chars": 300.0, "ko_words": 100.0}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_KANA = re.compile(r"[\u3040-\u309f\u30a1-\u30fa\u31f0-\u31ff]")  # not the long-vowel mark / middle dot
_HANGUL_WORD = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+")
_CJK_ANY = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


@dataclass(frozen=True)
class TextCounts:
    """Units of a text by script: alphabetic words, Han characters, kana, Korean words."""

    words: int
    han: int
    kana: int
    ko_words: int

    @classmethod
    def of(cls, text: str) -> TextCounts:
        """Count `text` (markup tags already removed)."""
        han, kana = len(_HAN.findall(text)), len(_KANA.findall(text))
        ko_words = len(_HANGUL_WORD.findall(text))
        rest = _HANGUL_WORD.sub(" ", _CJK_ANY.sub(" ", text))
        return cls(len(_WORD.findall(rest)), han, kana, ko_words)

    @property
    def total(self) -> int:
        """Words plus CJK characters: the figure shown as "words"."""
        return self.words + self.han + self.kana + self.ko_words

    def minutes(self) -> float:
        """Speaking time at `SPEAKING_RATES` (Han characters count as Japanese when kana are >= 10 %)."""
        cjk = self.han + self.kana
        cjk_rate = SPEAKING_RATES["ja_chars"] if cjk and self.kana * 10 >= cjk else SPEAKING_RATES["zh_chars"]
        return self.words / SPEAKING_RATES["words"] + cjk / cjk_rate + self.ko_words / SPEAKING_RATES["ko_words"]


@dataclass(frozen=True)
class Chapter:
    """One chapter (or one piece of front/back matter) of a book.

    Attributes:
        index: 1-based position in the whole book, front and back matter included, so it does not change with
            the include flags of `read_book` (for a chapters manifest: the manifest's ``chapter`` number).
        title: from the book's table of contents, a heading, or the file name.
        text: paragraphs separated by blank lines, whitespace-normalised; the chapter's heading is its first
            paragraph; may hold narration markup (`pipelines.books.markup`).
        kind: "front" (cover, title page, copyright, contents, dedication...), "body", or "back" (acknowledgements,
            about the author, index...).
        source: where in the input the chapter starts (``OEBPS/ch03.xhtml#s2``, ``book.txt:120``, ``row 3``).
        voice_id: the chapter's voice when the input names one (chapters manifest), else None.
    """

    index: int
    title: str
    text: str = field(repr=False)
    kind: str
    source: str
    voice_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"chapter kind must be one of {KINDS}, got {self.kind!r}")

    @cached_property
    def counts(self) -> TextCounts:
        return TextCounts.of(strip_markup(self.text))

    @property
    def words(self) -> int:
        """Words of alphabetic (and Korean) text plus characters of Chinese/Japanese text; tags not counted."""
        return self.counts.total

    @property
    def estimated_minutes(self) -> float:
        """Speaking time at the rates of the module docstring, plus the markup's pauses."""
        return self.counts.minutes() + total_pause_seconds(self.text) / 60.0

    @property
    def body_text(self) -> str:
        """`text` without its first paragraph when that paragraph is the title (for a stage that speaks the title
        itself): ``"Chapter 1\n\nIt was..."`` titled "Chapter 1" -> ``"It was..."``."""
        head, _, rest = self.text.partition("\n\n")
        return rest if " ".join(head.split()).casefold() == " ".join(self.title.split()).casefold() else self.text

    @property
    def where(self) -> str:
        """The chapter in a message: ``chapter 3 'The Storm'``."""
        return f"chapter {self.index} {self.title!r}"


@dataclass(frozen=True)
class Book:
    """A book read from an EPUB, a text/Markdown file or a chapters manifest.

    Attributes:
        title: the book's title (metadata, else the file name).
        author: the author(s), ", "-joined; None when the input does not say.
        language: one of zh en ja ko yue when the metadata (or, lacking it, the text's script) allows, else the
            metadata's tag as given (lower case); "auto" when nothing tells.
        cover: the cover image's bytes (EPUB), else None.
        cover_type: its media type (``image/jpeg``), else None.
        chapters: the chapters to read, in reading order: every body chapter, plus front/back matter when asked.
        source: the input's URL.
        format: "epub", "txt", "markdown", "parquet" or "jsonl".
        skipped: front/back matter that was read but not asked for (shown by `inspect.format_table`).
    """

    title: str
    author: str | None
    language: str
    cover: bytes | None = field(repr=False)
    cover_type: str | None
    chapters: tuple[Chapter, ...] = field(repr=False)
    source: str
    format: str
    skipped: tuple[Chapter, ...] = field(default=(), repr=False)

    def body_chapters(self) -> tuple[Chapter, ...]:
        """The chapters of kind "body", in order."""
        return tuple(c for c in self.chapters if c.kind == BODY)

    def all_chapters(self) -> tuple[Chapter, ...]:
        """Chapters to read and skipped ones together, in book order (by index)."""
        return tuple(sorted(self.chapters + self.skipped, key=lambda c: c.index))

    @property
    def words(self) -> int:
        """Words (and CJK characters) of the chapters to read."""
        return sum(c.words for c in self.chapters)

    @property
    def estimated_minutes(self) -> float:
        """Estimated speaking time of the chapters to read."""
        return sum(c.estimated_minutes for c in self.chapters)
