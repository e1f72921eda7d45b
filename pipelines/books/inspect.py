"""What a person reads before spending GPU hours on a book: its chapters, their size and estimated duration.

`describe` gives one dict per chapter; `format_table` a plain-text table with totals, e.g.::

    The Storm Book - Jane Doe (en, epub, 7 chapters, 3 to read)
      #  title                                        words  est. min  kind
      1  Cover                                            0       0.0  front  (skipped)
      4  Chapter 1: The Storm                         3,210      20.7  body
    ...
         to read: 3 chapters                         9,876      63.7  (1 h 04 min)
         skipped: 4 chapters                           321       2.1

"words" counts words of alphabetic text and characters of Chinese/Japanese text (`pipelines.books.model`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pipelines.books.markup import parse_markup
from pipelines.books.model import Book, BookError, Chapter


__all__ = ["check_markup", "describe", "format_table"]

_TITLE_WIDTH = 42


def _row(chapter: Chapter, included: bool) -> dict[str, Any]:
    return {
        "index": chapter.index,
        "kind": chapter.kind,
        "title": chapter.title,
        "words": chapter.words,
        "estimated_minutes": round(chapter.estimated_minutes, 2),
        "source": chapter.source,
        "included": included,
    }


def describe(book: Book, *, include_all: bool = False) -> list[dict[str, Any]]:
    """One row per chapter to read (with `include_all`, skipped front/back matter too, in book order).

    Returns:
        Dicts with index, kind, title, words, estimated_minutes (rounded to 0.01), source, included.
    """
    chapters = book.all_chapters() if include_all else book.chapters
    kept = {id(c) for c in book.chapters}
    return [_row(c, id(c) in kept) for c in chapters]


def _width(text: str) -> int:
    """Columns a terminal gives `text` (wide CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cell(text: str, width: int) -> str:
    """`text` clipped to `width` columns (with an ellipsis) and padded to exactly `width`."""
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "\u2026"
    return text + " " * (width - _width(text))


def _hours(minutes: float) -> str:
    total = round(minutes)
    return f"({total // 60} h {total % 60:02d} min)"


def _total_line(label: str, rows: list[dict[str, Any]]) -> str:
    words = sum(r["words"] for r in rows)
    minutes = sum(r["estimated_minutes"] for r in rows)
    text = f"{label}: {len(rows)} chapter{'s' if len(rows) != 1 else ''}"
    return f"     {text:<{_TITLE_WIDTH}} {words:>9,} {minutes:>9.1f}"


def format_table(book: Book, include_all: bool = False) -> str:
    """A plain-text table of the chapters (index, title, words, est. minutes, kind) with totals.

    Args:
        book: the book.
        include_all: list skipped front/back matter too (marked "(skipped)", with their own total line).
    """
    rows = describe(book, include_all=include_all)
    n_all = len(book.chapters) + len(book.skipped)
    lines = [
        f"{book.title} - {book.author or 'unknown author'} ({book.language}, {book.format}, "
        f"{n_all} chapters, {len(book.chapters)} to read)",
        f"{'#':>3}  {'title':<{_TITLE_WIDTH}} {'words':>9} {'est. min':>9}  kind",
    ]
    for r in rows:
        mark = "" if r["included"] else "  (skipped)"
        title = _cell(r["title"], _TITLE_WIDTH)
        lines.append(f"{r['index']:>3}  {title} {r['words']:>9,} {r['estimated_minutes']:>9.1f}  {r['kind']}{mark}")
    kept = [r for r in rows if r["included"]] if include_all else rows
    to_read = _total_line("to read", kept)
    lines.append(f"{to_read}  {_hours(sum(r['estimated_minutes'] for r in kept))}")
    if include_all and book.skipped:
        lines.append(_total_line("skipped", [r for r in rows if not r["included"]]))
    return "\n".join(lines)


def check_markup(book: Book, known_voices: set[str] | None = None) -> list[str]:
    """The markup problems of the chapters to read, one message per chapter with a problem (empty: all good).

    Args:
        book: the book.
        known_voices: voice ids ``[voice ...]`` may name (None: any safe id).
    """
    problems = []
    for chapter in book.chapters:
        try:
            parse_markup(chapter.text, where=chapter.where, known_voices=known_voices)
        except BookError as exc:
            problems.append(str(exc))
    return problems
