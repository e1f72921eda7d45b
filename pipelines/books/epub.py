"""EPUB 2 and 3 books -> chapters, in spine order.

How documents become chapters:

* Every spine document with a table-of-contents entry (EPUB 3 nav ``toc``, else the EPUB 2 NCX) starts a chapter,
  titled by the entry.
* A document holding several entries (``book.xhtml#ch1``, ``book.xhtml#ch2``) is cut at those anchors, one chapter
  each. Text before the first anchor joins the first of them, unless its epub:type makes it front/back matter
  (a title-page section): then it is a chapter of its own.
* Entries nested *deeper* than a document's first entry are sections of its chapter and do not cut it
  (``ch1.xhtml`` > ``ch1.xhtml#s1.2`` stays one chapter) - unless the chapter would then run longer than
  `LONG_CHAPTER_MINUTES` (an hour): then the next level cuts it too, so a part document holding its chapters as
  anchors is cut into those chapters. An anchor the document lacks is ignored (when it has none of its anchors,
  the entry names the document's start).
* A document without an entry continues the chapter before it (a chapter split over several files), unless it is
  front/back matter by its own signals (epub:type, landmark/guide, heading, file name), is out of the reading
  order (``linear="no"``), or the chapter before it is not a listed body chapter (text after a listed title page
  is not hidden in front matter): then it is a chapter of its own, titled by its first heading, a label of its
  epub:type, or its file name. Such a document without text (an image page) is dropped.
* Kind: the first signal that says something: the document is non-linear (matter); a specific epub:type or
  DPUB-ARIA role on its body or first section (``copyright-page``, ``toc``, ``doc-dedication``, ``preface``...);
  a landmark/guide reference; the entry's title; the first heading; the file name (`roles`); a generic epub:type
  (``frontmatter``, ``bodymatter``, ``chapter``); being the nav document (front). Without a signal, documents
  before the landmark/guide start of the text are front matter, the rest body. `roles.place_matter` then files
  matter by position (before the first body chapter: front; after the last: back).

Not handled: chapters that start in the middle of a document without an anchor the table of contents points to
(they stay in the chapter before them), and spine items that are not (X)HTML (images, SVG: skipped).

The book's language is dc:language mapped to zh en ja ko yue when possible, else the text's script decides.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass, field
from typing import Any

from pipelines.books.epub_package import NavEntry, Package, check_archive, cover, load_package, metadata
from pipelines.books.html_text import Segment, extract
from pipelines.books.model import BACK, BODY, FRONT, Book, Chapter, TextCounts
from pipelines.books.roles import place_matter, role_of_file, role_of_title, role_of_types
from pipelines.books.textutil import guess_language, map_language, to_text


__all__ = ["read_epub"]

logger = logging.getLogger(__name__)
_START_TYPES = {"bodymatter", "text", "start"}
LONG_CHAPTER_MINUTES = 60.0  # a longer piece of one document is cut at deeper table-of-contents anchors
_TYPE_LABELS = {
    "copyright-page": "Copyright",
    "toc": "Contents",
    "titlepage": "Title Page",
    "title-page": "Title Page",
}


@dataclass(frozen=True)
class _Piece:
    """A spine document, or the part of one from an anchor to the next."""

    path: str
    anchor: str | None
    entry: NavEntry | None
    segment: Segment
    linear: bool
    is_nav: bool


_Tagged = tuple[NavEntry | None, Segment]  # a segment and the table-of-contents entry that starts it


@dataclass
class _Draft:
    """A chapter being assembled from pieces."""

    pieces: list[_Piece] = field(default_factory=list)

    @property
    def first(self) -> _Piece:
        return self.pieces[0]


def read_epub(data: bytes, name: str) -> Book:
    """Every chapter of an EPUB (front, body and back matter), with its metadata and cover.

    Args:
        data: the file's bytes.
        name: its name, for messages (``book.epub``).

    Raises:
        BookError: not a zip, no container, DRM, a package ebooklib cannot load.
    """
    check_archive(data, name)
    package = load_package(data, name)
    pieces = [p for item, linear in package.spine_documents() for p in _pieces(package, item, linear)]
    drafts = _group(pieces, package)
    kinds = place_matter(_roles(drafts, package))
    chapters = tuple(
        Chapter(
            i, _title(d), to_text(p for piece in d.pieces for p in piece.segment.paragraphs), kind, _source(d, package)
        )
        for i, (d, kind) in enumerate(zip(drafts, kinds, strict=True), start=1)
    )
    title, author, language = metadata(package.book)
    cover_bytes, cover_type = cover(package.book)
    body_text = " ".join(c.text[:2000] for c in chapters if c.kind == BODY)
    return Book(
        title=title or posixpath.splitext(name)[0],
        author=author,
        language=map_language(language) or guess_language(body_text),
        cover=cover_bytes,
        cover_type=cover_type,
        chapters=chapters,
        source=name,
        format="epub",
    )


def _pieces(package: Package, item: Any, linear: bool) -> list[_Piece]:
    """The pieces of one spine document: one per table-of-contents anchor that cuts it (see the module doc)."""
    path = item.file_name
    entries = [e for e in package.toc if e.path == path]
    by_anchor = {e.fragment: e for e in reversed(entries) if e.fragment}
    segments = extract(item.content or b"", frozenset(by_anchor))
    found = {s.anchor for s in segments[1:]}
    top = next((e for e in entries if e.fragment is None), None)
    if top is None and not found:  # anchors the document lacks: the entry names its start
        top = next((e for e in entries if e.fragment not in found), None)
    if top is None and len(segments) > 1 and role_of_types(segments[0].types, weak=True) in (None, BODY):
        # text before the first anchor joins the first anchored piece (unless it is typed front/back matter)
        head, first = segments[0], segments[1]
        paragraphs = head.paragraphs + first.paragraphs
        segments = [
            Segment(first.anchor, paragraphs, head.heading or first.heading, head.types | first.types),
            *segments[2:],
        ]
    tagged = [(by_anchor.get(s.anchor) if s.anchor else top, s) for s in segments]
    depth = entries[0].depth if entries else 0
    deepest = max((e.depth for e in entries), default=0)
    is_nav = path == package.nav_path
    return [_piece(path, group, linear, is_nav) for group in _group_segments(tagged, depth, deepest)]


def _group_segments(tagged: list[_Tagged], depth: int, deepest: int) -> list[list[_Tagged]]:
    """Segments grouped into pieces: an entry no deeper than `depth` starts one; a group longer than
    `LONG_CHAPTER_MINUTES` is grouped again one level deeper."""
    groups: list[list[_Tagged]] = []
    for entry, segment in tagged:
        if not groups or (entry is not None and entry.depth <= depth):
            groups.append([(entry, segment)])
        else:
            groups[-1].append((entry, segment))
    out: list[list[_Tagged]] = []
    for group in groups:
        text = " ".join(p for _, s in group for p in s.paragraphs)
        if depth < deepest and len(group) > 1 and TextCounts.of(text).minutes() > LONG_CHAPTER_MINUTES:
            out += _group_segments(group, depth + 1, deepest)
        else:
            out.append(group)
    return out


def _piece(path: str, group: list[_Tagged], linear: bool, is_nav: bool) -> _Piece:
    entry, first = group[0]
    paragraphs = tuple(p for _, s in group for p in s.paragraphs)
    heading = next((s.heading for _, s in group if s.heading), None)
    return _Piece(path, first.anchor, entry, Segment(first.anchor, paragraphs, heading, first.types), linear, is_nav)


def _own_role(piece: _Piece, package: Package) -> str | None:
    """What a piece says about itself (without its table-of-contents title)."""
    return (
        role_of_types(piece.segment.types)
        or _landmark_role(piece, package)
        or (role_of_title(piece.segment.heading) if piece.entry is None else None)
        or (role_of_file(piece.path) if piece.anchor is None else None)
    )


def _group(pieces: list[_Piece], package: Package) -> list[_Draft]:
    drafts: list[_Draft] = []
    for piece in pieces:
        own = _own_role(piece, package)
        last = drafts[-1] if drafts else None
        continues = last is not None and last.first.entry is not None and piece.linear
        continues = continues and _signal_role(last.first, package) in (None, BODY)
        if piece.entry is None and continues and own is None and not piece.is_nav:
            last.pieces.append(piece)
        elif piece.entry is None and not piece.segment.paragraphs and own is None:
            logger.debug("%s: no text and no table-of-contents entry: skipped", piece.path)
        else:
            drafts.append(_Draft([piece]))
    return drafts


def _landmark_role(piece: _Piece, package: Package) -> str | None:
    for mark in package.landmarks:
        if mark.path == piece.path and mark.fragment in (None, piece.anchor):
            role = role_of_types(mark.types, weak=True) or role_of_title(mark.title)
            if role:
                return role
    return None


def _signal_role(piece: _Piece, package: Package) -> str | None:
    """The role a draft's first piece signals, None when nothing says (module docstring: order of the signals)."""
    return (
        (None if piece.linear else BACK)
        or role_of_types(piece.segment.types)
        or _landmark_role(piece, package)
        or role_of_title(piece.entry.title if piece.entry else None)
        or role_of_title(piece.segment.heading)
        or (role_of_file(piece.path) if piece.anchor is None else None)
        or role_of_types(piece.segment.types, weak=True)
        or (FRONT if piece.is_nav else None)
    )


def _roles(drafts: list[_Draft], package: Package) -> list[str]:
    """Each draft's role before `place_matter`: its signals, else front before the text's start, else body."""
    start = _text_start(drafts, package)
    roles = [_signal_role(d.first, package) for d in drafts]
    return [role or (FRONT if i < start else BODY) for i, role in enumerate(roles)]


def _text_start(drafts: list[_Draft], package: Package) -> int:
    """Index of the draft where the landmarks/guide say the text begins (0 when they do not say)."""
    starts = {(m.path, m.fragment) for m in package.landmarks if m.types & _START_TYPES}
    for i, draft in enumerate(drafts):
        if any((p.path, None) in starts or (p.path, p.anchor) in starts for p in draft.pieces):
            return i
    return 0


def _title(draft: _Draft) -> str:
    piece = draft.first
    if piece.entry is not None and piece.entry.title:
        return piece.entry.title
    if piece.is_nav:
        return "Contents"
    if piece.segment.heading:
        return piece.segment.heading
    return (
        _type_label(piece.segment.types)
        or posixpath.splitext(posixpath.basename(piece.path))[0].replace("_", " ").title()
    )


def _type_label(types: frozenset[str]) -> str | None:
    """A title from a front/back matter epub:type ("copyright-page" -> "Copyright", "dedication" -> "Dedication")."""
    matter = sorted(t for t in types if role_of_types({t}) in (FRONT, BACK))
    return _TYPE_LABELS.get(matter[0], matter[0].replace("-", " ").title()) if matter else None


def _source(draft: _Draft, package: Package) -> str:
    piece = draft.first
    where = package.zip_path(piece.path) + (f"#{piece.anchor}" if piece.anchor else "")
    extra = len({p.path for p in draft.pieces}) - 1
    return where + (f" (+{extra} more file{'s' if extra > 1 else ''})" if extra else "")
