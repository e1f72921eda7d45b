"""Markdown books -> chapters at the top heading level, Markdown syntax stripped.

* Chapters start at the top heading level the file uses (``#`` or ``##``..., ATX or Setext). When that level
  occurs once, as the first heading, above deeper ones, it is the book's title and chapters start at the next
  level used. Deeper headings stay in their chapter as paragraphs. A chapter's heading is its first paragraph.
* Text before the first chapter heading is a front-matter chapter "Front matter"; a file without headings is one
  chapter titled by the front matter's title or the file name. A chapter whose title names front/back matter
  (Acknowledgements, About the Author, Copyright...; `roles.role_of_title`) gets that kind.
* A YAML front matter block (``---`` ... ``---`` at the top) gives ``title``, ``author`` (or ``authors`` /
  ``creator``: a string or a list) and ``language`` (or ``lang``).
* Stripped: emphasis (``*``, ``_``, ``~~``), heading marks, blockquote marks, list markers (each item is a
  paragraph), links (their text stays), images, reference definitions, footnote references and definitions,
  HTML tags and comments, horizontal rules, table separator rows (a table row becomes one paragraph, cells joined
  by ", "), backslash escapes. **Code blocks** (fenced with ````` or ``~~~``) **are dropped**: code is not read
  aloud; inline ```code``` keeps its text. Indented text is kept as text (prose is often indented).
* Narration markup (``[pause 1s]``, ``[voice x]``) is left alone: a bracket is a link only when a ``(url)`` or a
  defined ``[ref]`` follows it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

import yaml

from pipelines.books.model import BODY, FRONT, Book, BookError
from pipelines.books.plaintext import decode_utf8
from pipelines.books.roles import Draft, build_chapters, role_of_title
from pipelines.books.textutil import guess_language, join_lines, map_language, normalize_ws


__all__ = ["read_markdown", "strip_inline"]

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HR = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(.*)")
_QUOTE = re.compile(r"[ \t]*>[ \t]?")
_TABLE_SEP = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
_REF_DEF = re.compile(r" {0,3}\[([^\]^][^\]]*)\]:[ \t]*\S.*")
_FOOTNOTE_DEF = re.compile(r" {0,3}\[\^[^\]]+\]:.*")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|])")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[[^\]]*\](?:\((?:[^()]|\([^)]*\))*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[([^\]]*)\]")
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]*>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_EMPHASIS = [
    re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"(~~)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"(\*)(?=[^\s*])(.+?)(?<=[^\s*])\1"),
    re.compile(r"(?<![\w\\])(_)(?=\S)(.+?)(?<=\S)\1(?!\w)"),
]


@dataclass(frozen=True)
class _Block:
    line: int
    text: str
    level: int = 0  # heading level, 0 for a paragraph


def strip_inline(text: str, refs: frozenset[str] = frozenset()) -> str:
    """One paragraph's Markdown inline syntax removed (links keep their text, images go).

    Args:
        text: the paragraph's text.
        refs: reference names defined in the document (lower case), which make ``[text][ref]`` a link.
    """
    kept: list[str] = []  # escaped characters and code spans, put back once the rest is stripped

    def keep(literal: str) -> str:
        kept.append(literal)
        return f"\ue000{len(kept) - 1}\ue001"

    text = _ESCAPE.sub(lambda m: keep(m.group(1)), text)
    text = _INLINE_CODE.sub(lambda m: keep(m.group(2).strip()), text)
    text = _IMAGE.sub("", _AUTOLINK.sub("", text))
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(lambda m: m.group(1) if (m.group(2) or m.group(1)).lower() in refs else m.group(0), text)
    text = re.sub(r"\[([^\]]+)\](?![(\[])", lambda m: m.group(1) if m.group(1).lower() in refs else m.group(0), text)
    text = _HTML_TAG.sub("", _FOOTNOTE_REF.sub("", text))
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\2", text)
    text = re.sub("\ue000(\\d+)\ue001", lambda m: kept[int(m.group(1))], text)
    return normalize_ws(text)


def _front_matter(text: str, name: str) -> tuple[dict[str, object], str, int]:
    """``(front matter, the rest, lines used)``; empty front matter when there is none."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text, 0
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BookError(f"{name}: the front matter is not valid YAML ({first})") from None
    if not isinstance(meta, dict):
        raise BookError(f"{name}: the front matter must be a YAML mapping (title: ..., author: ...)")
    return meta, text[match.end() :], match.group(0).count("\n")


def _meta_text(meta: dict[str, object], *keys: str) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value if v)
        if value:
            return normalize_ws(str(value))
    return None


class _BlockReader:
    """Turns Markdown lines into paragraphs and headings (block syntax only)."""

    def __init__(self, refs: frozenset[str]) -> None:
        self.refs = refs
        self.blocks: list[_Block] = []
        self.lines: list[str] = []
        self.start = 0

    def flush(self) -> None:
        if self.lines:
            text = strip_inline(join_lines(self.lines), self.refs)
            if text:
                self.blocks.append(_Block(self.start, text))
        self.lines = []

    def add(self, number: int, line: str) -> None:
        if not self.lines:
            self.start = number
        self.lines.append(line)

    def heading(self, number: int, level: int, text: str) -> None:
        self.flush()
        clean = strip_inline(text, self.refs)
        if clean:
            self.blocks.append(_Block(number, clean, level))

    def feed(self, number: int, line: str) -> None:
        while _QUOTE.match(line):
            line = _QUOTE.sub("", line, count=1)
        if not line.strip() or _REF_DEF.fullmatch(line) or _FOOTNOTE_DEF.fullmatch(line) or _is_table_rule(line):
            self.flush()
        elif (atx := _ATX.fullmatch(line)) is not None:
            self.heading(number, len(atx.group(1)), atx.group(2) or "")
        elif self.lines and len(self.lines) == 1 and _SETEXT.fullmatch(line):
            text, start = self.lines[0], self.start
            self.lines = []
            self.heading(start, 1 if line.strip()[0] == "=" else 2, text)
        elif _HR.fullmatch(line):
            self.flush()
        elif (item := _LIST_ITEM.fullmatch(line)) is not None:
            self.flush()
            self.add(number, item.group(1))
        elif line.strip().startswith("|") and line.strip().endswith("|"):
            self.flush()
            self.add(number, ", ".join(c.strip() for c in line.strip().strip("|").split("|") if c.strip()))
            self.flush()
        else:
            self.add(number, line)


def _blocks(body: str, first_line: int) -> list[_Block]:
    body = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), body)
    lines = body.split("\n")
    refs = frozenset(m.group(1).lower() for line in lines if (m := _REF_DEF.fullmatch(line)))
    reader = _BlockReader(refs)
    fence: str | None = None
    for number, line in enumerate(lines, start=first_line):
        opening = _FENCE.match(line)
        if fence is not None:
            fence = (
                None if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) else fence
            )
        elif opening is not None:
            reader.flush()
            fence = opening.group(1)
        else:
            reader.feed(number, line)
    reader.flush()
    return reader.blocks


def _chapter_level(blocks: list[_Block]) -> tuple[int | None, bool]:
    """``(heading level of chapters, whether the first heading is the book's title)``."""
    levels = [b.level for b in blocks if b.level]
    if not levels:
        return None, False
    top = min(levels)
    deeper = sorted({lv for lv in levels if lv > top})
    if levels.count(top) == 1 and levels[0] == top and deeper:
        return deeper[0], True
    return top, False


def _draft(title: str, role: str, blocks: list[_Block], name: str) -> Draft:
    return Draft(title, role, tuple(b.text for b in blocks), f"{name}:{blocks[0].line if blocks else 1}")


def read_markdown(data: bytes, name: str) -> Book:
    """Every chapter of a Markdown book (see the module docstring).

    Raises:
        BookError: not UTF-8, or a front matter block that is not a YAML mapping.
    """
    meta, body, used = _front_matter(decode_utf8(data, name), name)
    blocks = _blocks(body, used + 1)
    level, titled = _chapter_level(blocks)
    book_title = _meta_text(meta, "title") or (next(b.text for b in blocks if b.level) if titled else None)
    if titled:
        del blocks[next(i for i, b in enumerate(blocks) if b.level)]
    starts = [i for i, b in enumerate(blocks) if level is not None and b.level == level]
    stem = posixpath.splitext(name)[0]
    drafts: list[Draft] = []
    first = starts[0] if starts else len(blocks)
    if not starts or first > 0:
        title, role = ("Front matter", FRONT) if starts else (book_title or stem, BODY)
        drafts.append(_draft(title, role, blocks[:first], name))
    ends = [*starts[1:], len(blocks)] if starts else []
    for start, end in zip(starts, ends, strict=True):
        title = blocks[start].text
        drafts.append(_draft(title, role_of_title(title) or BODY, blocks[start:end], name))
    chapters = build_chapters(drafts)
    sample = " ".join(c.text[:2000] for c in chapters if c.kind == BODY)
    language = map_language(_meta_text(meta, "language", "lang")) or guess_language(sample)
    author = _meta_text(meta, "author", "authors", "creator")
    return Book(book_title or stem, author, language, None, None, chapters, name, "markdown")


def _is_table_rule(line: str) -> bool:
    """A table's header separator (``|---|:-:|``), which needs at least one pipe (else it is a Setext/rule line)."""
    return "|" in line and _TABLE_SEP.fullmatch(line) is not None
