"""Chapters manifests (Parquet or JSON Lines): one row per chapter of one book.

=============  ==========================  =====================================================================
column         type                        meaning
=============  ==========================  =====================================================================
``book_id``    string, required            the book; every row the same (one book per file)
``chapter``    integer, required           the chapter's number: its `Chapter.index` and its order; unique
``title``      string, required            the chapter title (empty or null: "Chapter N")
``text``       string, required            the chapter text (may hold narration markup)
``voice_id``   string, optional            the chapter's voice (a safe id); null: the job's voice
``kind``       string, optional            front / body / back (default body)
``language``   string, optional            the book's language (first non-null value), else guessed from text
``author``     string, optional            the book's author (first non-null value)
=============  ==========================  =====================================================================

The book's title is its ``book_id``. Text is whitespace-normalised paragraph by paragraph (blank lines separate
paragraphs) like the other formats.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from manifests.common import ManifestError, check_id, read_table_bytes
from pipelines.books.model import KINDS, Book, BookError, Chapter
from pipelines.books.textutil import guess_language, map_language, normalize_ws, paragraphs, to_text


__all__ = ["REQUIRED_COLUMNS", "read_chapters_manifest"]

REQUIRED_COLUMNS = ("book_id", "chapter", "title", "text")


def _table(data: bytes, name: str, fmt: str) -> pa.Table:
    suffix = {"parquet": ".parquet", "jsonl": ".jsonl"}[fmt]
    try:
        table = read_table_bytes(data, name if name.lower().endswith(suffix) else f"{name}{suffix}")
    except ManifestError as exc:
        raise BookError(str(exc).replace(f"{name}{suffix}", name)) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise BookError(
            f"{name}: chapters manifest lacks column(s) {', '.join(missing)} (has {', '.join(table.column_names)})"
        )
    return table


def _book_id(rows: list[dict[str, Any]], name: str) -> str:
    ids = list(dict.fromkeys(r.get("book_id") for r in rows))
    if any(not isinstance(i, str) or not i.strip() for i in ids):
        row = next(n for n, r in enumerate(rows) if not isinstance(r.get("book_id"), str) or not r["book_id"].strip())
        raise BookError(f"{name}: row {row}: book_id is missing or not a string")
    if len(ids) > 1:
        shown = ", ".join(repr(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise BookError(f"{name}: holds {len(ids)} books ({shown}); a chapters manifest holds one book per file")
    return ids[0]


def _chapter_number(value: Any, row: int, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise BookError(f"{name}: row {row}: chapter must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise BookError(f"{name}: row {row}: chapter must be an integer, got {value!r}")
    return value


def _chapter(row: dict[str, Any], number: int, n: int, name: str) -> Chapter:
    voice = row.get("voice_id")
    if voice is not None and (reason := check_id(voice, "voice_id")):
        raise BookError(f"{name}: row {n} (chapter {number}): {reason}")
    kind = row.get("kind") or "body"
    if kind not in KINDS:
        raise BookError(f"{name}: row {n} (chapter {number}): kind {kind!r} is not one of {', '.join(KINDS)}")
    text = row.get("text")
    if text is not None and not isinstance(text, str):
        raise BookError(f"{name}: row {n} (chapter {number}): text must be a string, got {type(text).__name__}")
    title = normalize_ws(str(row.get("title") or "")) or f"Chapter {number}"
    text = to_text(normalize_ws(p) for p in paragraphs(text or ""))
    return Chapter(number, title, text, kind, f"{name} row {n}", voice)


def read_chapters_manifest(data: bytes, name: str, fmt: str) -> Book:
    """A book from a chapters manifest (see the module docstring for the columns).

    Args:
        data: the file's bytes.
        name: its name, for messages.
        fmt: "parquet" or "jsonl".

    Raises:
        BookError: unreadable file, missing columns, several books, a bad or duplicated chapter number, a bad
            voice id or kind.
    """
    rows = _table(data, name, fmt).to_pylist()
    if not rows:
        raise BookError(f"{name}: the chapters manifest has no rows")
    book_id = _book_id(rows, name)
    seen: dict[int, int] = {}
    numbered = []
    for n, row in enumerate(rows):
        number = _chapter_number(row.get("chapter"), n, name)
        if number in seen:
            raise BookError(f"{name}: chapter {number} appears twice (rows {seen[number]} and {n})")
        seen[number] = n
        numbered.append((number, n, row))
    chapters = tuple(_chapter(row, number, n, name) for number, n, row in sorted(numbered, key=lambda t: t[0]))
    language = next((r["language"] for r in rows if r.get("language")), None)
    author = next((r["author"] for r in rows if r.get("author")), None)
    sample = " ".join(c.text[:2000] for c in chapters)
    return Book(book_id, author, map_language(language) or guess_language(sample), None, None, chapters, name, fmt)
