"""The input side of the audiobook mode: books (EPUB, text, Markdown, chapters manifests) read into chapters.

Public API::

    from pipelines.books import read_book, Book, Chapter, BookError
    book = read_book("s3://bucket/books/storm.epub", include_front=False, include_back=False)
    print(format_table(book, include_all=True))
    spans = parse_markup(book.chapters[0].text, where=book.chapters[0].where, known_voices={"narrator_b"})
    lexicon = Lexicon.load("s3://bucket/books/storm.lexicon.csv")

Modules: `model` (Book, Chapter, counting), `reader` (read_book), `epub` / `epub_package` / `html_text`,
`plaintext`, `markdown`, `manifest` (the readers), `roles` (front/back matter), `markup` (pauses, voices),
`lexicon` (pronunciations), `inspect` (tables for people).
"""

from pipelines.books.errors import BookError
from pipelines.books.inspect import check_markup, describe, format_table
from pipelines.books.lexicon import Lexicon, LexiconEntry, affects
from pipelines.books.markup import Span, parse_markup, strip_markup
from pipelines.books.model import Book, Chapter
from pipelines.books.reader import FORMATS, read_book


__all__ = [
    "FORMATS",
    "Book",
    "BookError",
    "Chapter",
    "Lexicon",
    "LexiconEntry",
    "Span",
    "affects",
    "check_markup",
    "describe",
    "format_table",
    "parse_markup",
    "read_book",
    "strip_markup",
]
