"""Plain-text books (UTF-8) -> chapters found by their headings.

A heading is a line that starts a paragraph and matches one of:

* English chapters: ``Chapter 12``, ``CHAPTER XII``, ``Chapter Twelve``, ``Chap. 3``, with an optional title after
  ``:``, ``.``, a dash or a space (``Chapter 3: The Storm``; after a bare space the title must start with a capital,
  so ``Chapter 3 was long`` is prose). A short line right under a bare heading, alone in its paragraph, is its
  title (``CHAPTER I.`` / ``Down the Rabbit-Hole``).
* Chinese chapters: ``第十二章``, ``第12章``, ``第12回``, ``第十二话`` with an optional title (``第三章 风暴``, at most
  30 characters, no ``，`` or ``。``). ``第X节`` (a section) is not a chapter.
* Named chapters: Prologue, Epilogue, Preface, Foreword, Introduction, Afterword, Interlude (body), Acknowledgements
  and About the Author (back matter); 序章 序言 序 楔子 引子 前言 尾声 后记 终章 番外 (body), 致谢 (back).
* Parts: ``Part 3``, ``PART III``, ``Book Two``, ``Volume 1``, ``第一卷``, ``第二部``, ``第三篇``. When the book also
  has chapter headings, a part heading is not a chapter of its own: it (and any text under it) opens the next
  chapter, whose title stays the chapter's. In a book with part headings only, parts are the chapters.

Three or more chapter headings in a row with no text between them (or three heading lines in one paragraph) are a
table of contents, not chapters: they stay text. A heading line inside a paragraph starts a new one. Text before
the first heading is a front-matter chapter "Front matter"; a book without headings is one chapter titled by the
file name. Project Gutenberg files: everything from the
``*** END OF THE PROJECT GUTENBERG EBOOK`` line on is a back-matter chapter "Project Gutenberg license".

Paragraphs are separated by blank lines; a line starting with an indent (a tab, two spaces, or the ideographic
space U+3000) starts a new paragraph too, and in a file with (almost) no blank lines every line is a paragraph.
Lines of one paragraph are joined with a space (alphabetic text) or nothing (CJK). Metadata lines in the front
matter (``Title:``, ``Author:``, ``by Jane Doe``, ``Language:``, ``作者：``, ``书名：``, a ``《书名》`` line) name
the book.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from pipelines.books.model import BACK, BODY, FRONT, Book, BookError
from pipelines.books.roles import Draft, build_chapters
from pipelines.books.textutil import guess_language, has_cjk, join_lines, map_language, normalize_ws


__all__ = ["Block", "Heading", "decode_utf8", "find_heading", "read_txt", "split_blocks"]

CHAPTER, PART = "chapter", "part"
_NUM_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)"
)
_EN_NUM = rf"(?P<num>\d{{1,4}}|[ivxlcdm]{{1,8}}|{_NUM_WORD}(?:[\s-]+(?:and[\s-]+)?{_NUM_WORD})*)"
_EN_TAIL = r"\.?(?:(?P<sep>\s*[:.\-\u2013\u2014]\s*|\s+)(?P<title>\S.{0,79}))?"
_ROMAN = re.compile(r"m{0,4}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})", re.IGNORECASE)
_ZH_NUM = r"(?:[0-9\uff10-\uff19]+|[零〇一二两三四五六七八九十百千万]+)"
_ZH_TAIL = r"(?:[\s\u3000:：.、\-—]*(?P<title>.{1,30}))?"
_EN_BACK = r"acknowledge?ments?|about the author"
_ZH_BACK = r"致谢|致謝"
_PATTERNS = [
    (re.compile(rf"(?:chapter|chap\.)\s+{_EN_NUM}{_EN_TAIL}", re.IGNORECASE), CHAPTER),
    (re.compile(rf"(?:part|book|volume)\s+{_EN_NUM}{_EN_TAIL}", re.IGNORECASE), PART),
    (re.compile(rf"第\s*{_ZH_NUM}\s*[章回话話]{_ZH_TAIL}"), CHAPTER),
    (re.compile(rf"第\s*{_ZH_NUM}\s*[卷部篇集]{_ZH_TAIL}"), PART),
    (
        re.compile(
            rf"(?P<kw>prologue|epilogue|preface|foreword|introduction|afterword|interlude|{_EN_BACK})"
            r"(?:\s*[:.\-\u2013\u2014]\s*(?P<title>\S.{0,79}))?",
            re.IGNORECASE,
        ),
        CHAPTER,
    ),
    (
        re.compile(
            rf"(?P<kw>序章|序言|序|楔子|引子|前言|尾声|尾聲|后记|後記|终章|終章|番外篇?|{_ZH_BACK})"
            rf"(?:[\s\u3000:：.、\-—]+(?P<title>.{{1,30}})|[0-9一二三四五六七八九十]*)"
        ),
        CHAPTER,
    ),
]
_BACK_KEYWORDS = re.compile(f"{_EN_BACK}|{_ZH_BACK}", re.IGNORECASE)
_GUTENBERG_END = re.compile(r"\*{3}\s*END OF (THE |THIS )?PROJECT GUTENBERG.*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?,;:。！？，；：]$")
_INDENT = ("\t", "\u3000", "  ")
_META = [
    ("title", re.compile(r"(?:title|书名|書名)\s*[:：]\s*(.+)", re.IGNORECASE)),
    ("title", re.compile(r"《([^》]{1,60})》")),  # a line that is just 《书名》
    ("author", re.compile(r"(?:author|作者|著者)\s*[:：]\s*(.+)", re.IGNORECASE)),
    ("author", re.compile(r"(?:by|BY|By)\s+([A-Z][\w.'\u2019-]*(?:\s+[A-Z][\w.'\u2019-]*){0,5})")),  # "by Jane Doe"
    ("language", re.compile(r"language\s*:\s*(.+)", re.IGNORECASE)),
]
_MAX_TITLE_LINE = 60


@dataclass(frozen=True)
class Heading:
    """A heading line: "chapter" or "part" level, the role of its chapter, its text, whether it has a title."""

    level: str
    role: str
    text: str
    has_title: bool


@dataclass(frozen=True)
class Block:
    """A paragraph (heading None) or a heading, with its 1-based line number."""

    line: int
    text: str
    heading: Heading | None = None


def decode_utf8(data: bytes, name: str) -> str:
    """The file as text (a UTF-8 BOM is dropped, newlines normalised to ``\\n``).

    Raises:
        BookError: ``book.txt: invalid UTF-8 at byte 1234 (line 56): b'\\xff'; save the file as UTF-8``.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + 1
        raise BookError(
            f"{name}: invalid UTF-8 at byte {start} (line {line}): {data[start : start + 4]!r}; save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def find_heading(line: str) -> Heading | None:
    """The heading a line is, or None (see the module docstring for the patterns)."""
    text = line.strip(" \t\u3000")
    if not text or len(text) > 100:
        return None
    if _GUTENBERG_END.fullmatch(text):
        return Heading(CHAPTER, BACK, "Project Gutenberg license", True)
    for pattern, level in _PATTERNS:
        match = pattern.fullmatch(text)
        if match and _plausible(match):
            role = BACK if match.groupdict().get("kw") and _BACK_KEYWORDS.fullmatch(match.group("kw")) else BODY
            return Heading(level, role, normalize_ws(text), bool(match.groupdict().get("title")))
    return None


def _plausible(match: re.Match[str]) -> bool:
    groups = match.groupdict()
    num, title, sep = groups.get("num"), groups.get("title"), groups.get("sep")
    if num and re.fullmatch(r"[ivxlcdm]+", num, re.IGNORECASE) and not _ROMAN.fullmatch(num):
        return False
    if title and sep is not None and not sep.strip() and not (title[0].isupper() or not title[0].isalpha()):
        return False  # "Chapter 3 was long" is prose, "Chapter 3 The Storm" a heading
    return not (title and re.search(r"[，。]", title))


def _line_mode(lines: list[str]) -> bool:
    """True for files with (almost) no blank lines: every line is a paragraph."""
    filled = sum(1 for line in lines if line.strip())
    blank = sum(1 for i in range(1, len(lines)) if not lines[i].strip() and lines[i - 1].strip())
    return filled >= 10 and blank * 20 < filled


def _raw_paragraphs(lines: list[str]) -> list[tuple[int, list[str]]]:
    """``(first line number, lines)`` of each paragraph (module docstring: blank lines, indents, line mode)."""
    line_mode = _line_mode(lines)
    paras: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or line_mode or raw.startswith(_INDENT) or (current and _breaks_paragraph(raw)):
            if current:
                paras.append((number - len(current), current))
            current = []
        if raw.strip():
            current.append(raw.strip(" \t\u3000"))
    if current:
        paras.append((len(lines) + 1 - len(current), current))
    return paras


def _breaks_paragraph(line: str) -> bool:
    """A heading inside a paragraph starts a new one when it cannot be wrapped prose: bare or Chinese."""
    heading = find_heading(line)
    return heading is not None and (not heading.has_title or has_cjk(heading.text))


def split_blocks(text: str) -> list[Block]:
    """Paragraphs and headings of a text, in order (tables of contents already turned back into text)."""
    blocks: list[Block] = []
    for line, lines in _raw_paragraphs(text.split("\n")):
        blocks += _paragraph_blocks(line, lines)
    return _demote_toc_runs(blocks)


def _paragraph_blocks(line: int, lines: list[str]) -> list[Block]:
    """One raw paragraph as blocks: a heading and the text under it, a contents list, or plain text."""
    heads = [i for i, x in enumerate(lines) if find_heading(x) is not None]
    if len(heads) >= 3:  # a contents list written as one paragraph
        return [Block(line, normalize_ws(join_lines(lines)))]
    if heads and heads[-1] > 0:  # a heading inside: cut the paragraph there
        cut = heads[-1]
        return _paragraph_blocks(line, lines[:cut]) + _paragraph_blocks(line + cut, lines[cut:])
    if not heads:
        return [Block(line, normalize_ws(join_lines(lines)))]
    heading, rest = find_heading(lines[0]), lines[1:]
    if len(lines) == 2 and not heading.has_title and not has_cjk(lines[1]) and _is_title_line(lines[1]):
        heading, rest = Heading(heading.level, heading.role, f"{lines[0]} {lines[1]}", True), []
    blocks = [Block(line, heading.text, heading)]
    return blocks + ([Block(line + 1, normalize_ws(join_lines(rest)))] if rest else [])


def _is_title_line(line: str) -> bool:
    """A short line that can be a chapter's title: capitalised words, or no sentence punctuation at its end."""
    words = [w for w in line.split() if w[:1].isalpha()]
    title_case = bool(words) and sum(w[0].isupper() for w in words) * 2 >= len(words)
    ends_clean = not _SENTENCE_END.search(line) or (line.endswith(".") and title_case)
    return len(line) <= _MAX_TITLE_LINE and (line.isupper() or ends_clean)


def _demote_toc_runs(blocks: list[Block]) -> list[Block]:
    """A run of three or more chapter headings with no text between them is a contents list: plain text.

    The run's last chapter heading (with the part headings just before it) stays a heading when text follows it
    and no later heading repeats it: a contents list is often followed at once by the first real chapter.
    """
    out = list(blocks)
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and out[j].heading is not None:
            j += 1
        chapters = [k for k in range(i, j) if out[k].heading.level == CHAPTER]
        if len(chapters) >= 3:
            keep = _real_tail(out, i, chapters[-1], j)
            out[i:keep] = [Block(b.line, b.text) for b in out[i:keep]]
        i = j + 1
    return out


def _real_tail(blocks: list[Block], start: int, last: int, end: int) -> int:
    """First index of the run's tail that stays headings (`end` when none does)."""
    later = {b.heading.text.casefold() for b in blocks[end:] if b.heading is not None}
    if end >= len(blocks) or blocks[last].heading.text.casefold() in later:
        return end
    keep = last
    while keep > start and blocks[keep - 1].heading.level == PART:
        keep -= 1
    return keep


def _chapter_starts(blocks: list[Block]) -> list[tuple[int, int]]:
    """``(first block, heading block)`` of each chapter; a part heading opens the next chapter (module docstring)."""
    has_chapters = any(b.heading is not None and b.heading.level == CHAPTER for b in blocks)
    starts: list[tuple[int, int]] = []
    pending: int | None = None
    for i, block in enumerate(blocks):
        if block.heading is None:
            continue
        if block.heading.level == PART and has_chapters:
            pending = i if pending is None else pending
            continue
        starts.append((i if pending is None else pending, i))
        pending = None
    return starts


def _front_metadata(lines: list[str]) -> dict[str, str]:
    """Title, author and language named by the first lines of the front matter."""
    found: dict[str, str] = {}
    for line in lines[:60]:
        for key, pattern in _META:
            match = pattern.fullmatch(line.strip(" \t\u3000"))
            if match and key not in found:
                found[key] = match.group(1).strip()
    return found


def _draft(title: str, role: str, blocks: list[Block], name: str) -> Draft:
    return Draft(title, role, tuple(b.text for b in blocks), f"{name}:{blocks[0].line if blocks else 1}")


def read_txt(data: bytes, name: str) -> Book:
    """Every chapter of a UTF-8 text book (see the module docstring for how chapters are found).

    Raises:
        BookError: the file is not UTF-8.
    """
    text = decode_utf8(data, name)
    blocks = split_blocks(text)
    stem = posixpath.splitext(name)[0]
    starts = _chapter_starts(blocks)
    first = starts[0][0] if starts else len(blocks)
    drafts: list[Draft] = []
    if not starts or first > 0:
        title, role = ("Front matter", FRONT) if starts else (stem, BODY)
        drafts.append(_draft(title, role, blocks[:first], name))
    ends = [s for s, _ in starts[1:]] + ([len(blocks)] if starts else [])
    for (start, heading), end in zip(starts, ends, strict=True):
        drafts.append(_draft(blocks[heading].heading.text, blocks[heading].heading.role, blocks[start:end], name))
    chapters = build_chapters(drafts)
    meta = _front_metadata(text.split("\n")[: blocks[first].line - 1] if starts else [])
    sample = " ".join(c.text[:2000] for c in chapters if c.kind == BODY)
    language = map_language(meta.get("language")) or guess_language(sample)
    return Book(meta.get("title", stem), meta.get("author"), language, None, None, chapters, name, "txt")
