"""The one error type of the books package."""

from __future__ import annotations


__all__ = ["BookError"]


class BookError(ValueError):
    """A book (or its markup or lexicon) cannot be used as given.

    The message is one line naming the file, the chapter or the entry, and the reason, e.g.
    ``book.epub: not an EPUB (not a zip archive)`` or ``chapter 3 'The Storm', paragraph 2: stray [/voice]``.
    It is an input error: rerunning does not help, fixing the file does.
    """
