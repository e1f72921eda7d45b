"""`read_book`: one entry point for every book format, reading its bytes through `pipelines.storage`.

=================================  ============  =============================================
suffix                             format        reader
=================================  ============  =============================================
``.epub``                          epub          `pipelines.books.epub`
``.txt``, ``.text``                txt           `pipelines.books.plaintext`
``.md``, ``.markdown``             markdown      `pipelines.books.markdown`
``.parquet``, ``.pq``              parquet       `pipelines.books.manifest` (chapters manifest)
``.jsonl``, ``.ndjson``            jsonl         `pipelines.books.manifest` (chapters manifest)
=================================  ============  =============================================

Every reader returns all chapters; `read_book` then checks that the book has a body chapter and that no body
chapter is empty, and keeps front/back matter only when asked (the rest goes to `Book.skipped`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from pipelines.books.epub import read_epub
from pipelines.books.manifest import read_chapters_manifest
from pipelines.books.markdown import read_markdown
from pipelines.books.markup import strip_markup
from pipelines.books.model import BACK, BODY, FRONT, Book, BookError
from pipelines.books.plaintext import read_txt
from pipelines.storage import Storage, StorageNotFound, split_url


__all__ = ["FORMATS", "read_book"]

logger = logging.getLogger(__name__)
_SUFFIXES = {
    ".epub": "epub", ".txt": "txt", ".text": "txt", ".md": "markdown", ".markdown": "markdown",
    ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip
_READERS: dict[str, Callable[[bytes, str], Book]] = {
    "epub": read_epub,
    "txt": read_txt,
    "markdown": read_markdown,
    "parquet": lambda data, name: read_chapters_manifest(data, name, "parquet"),
    "jsonl": lambda data, name: read_chapters_manifest(data, name, "jsonl"),
}
# Formats whose chapters are cut at headings we found: there a chapter holding only its heading is empty too (an
# EPUB part page holding only "Part One" is a chapter the book's own contents lists, and is kept).
_HEADED_FORMATS = {"txt", "markdown"}
_ALIASES = {"md": "markdown", "text": "txt", "pq": "parquet", "ndjson": "jsonl"}
FORMATS = tuple(_READERS)


def read_book(url: str, *, include_front: bool = False, include_back: bool = False, fmt: str | None = None) -> Book:
    """Read a book from any storage URL (local path, ``s3://``, ``memory://``...).

    Args:
        url: the book file.
        include_front: keep front matter (cover, title page, copyright, contents, dedication...) in `Book.chapters`.
        include_back: keep back matter (acknowledgements, about the author, index...).
        fmt: the format when the suffix does not tell: one of `FORMATS` (or md, text, pq, ndjson).

    Raises:
        BookError: an unknown format, a missing file, or a book that cannot be read (one line naming the file and
            the chapter or entry).
    """
    folder, name = split_url(url)
    reader = _READERS[_format(name, fmt)]
    try:
        data = Storage(folder).read_bytes(name)
    except StorageNotFound:
        raise BookError(f"{name}: not found ({url})") from None
    book = reader(data, name)
    book = dataclasses.replace(book, source=url)
    _check(book, name)
    return _select(book, include_front, include_back)


def _format(name: str, fmt: str | None) -> str:
    if fmt is not None:
        fmt = _ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
        if fmt not in _READERS:
            raise BookError(f"{name}: unknown book format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    lower = name.lower()
    for suffix, found in _SUFFIXES.items():
        if lower.endswith(suffix):
            return found
    raise BookError(f"{name}: unknown book format; name it {', '.join(_SUFFIXES)} or pass fmt")


def _check(book: Book, name: str) -> None:
    body = book.body_chapters()
    if not body:
        n = len(book.chapters)
        found = f"only {n} front/back matter chapter{'s' if n != 1 else ''}" if n else "no text found"
        raise BookError(f"{name}: no readable chapter ({found})")
    for chapter in body:
        text = strip_markup(chapter.text).strip()
        if not text:
            raise BookError(f"{name}: {chapter.where} ({chapter.source}) is empty (no text)")
        if book.format in _HEADED_FORMATS and text == chapter.title:
            raise BookError(f"{name}: {chapter.where} ({chapter.source}) is empty (nothing after its heading)")


def _select(book: Book, include_front: bool, include_back: bool) -> Book:
    wanted = {BODY} | ({FRONT} if include_front else set()) | ({BACK} if include_back else set())
    kept = tuple(c for c in book.chapters if c.kind in wanted)
    skipped = tuple(c for c in book.chapters if c.kind not in wanted)
    result = dataclasses.replace(book, chapters=kept, skipped=skipped)
    logger.info(
        "%s: %r by %s (%s): %d chapters to read, %d skipped, %d words, ~%.0f min",
        book.source,
        book.title,
        book.author or "unknown author",
        book.language,
        len(kept),
        len(skipped),
        result.words,
        result.estimated_minutes,
    )
    return result
