"""(X)HTML content documents -> paragraphs of plain text, optionally cut at anchors.

Paragraphs are the text of block elements (``p``, ``h1``-``h6``, ``li``, ``blockquote``, ``div``, ``dd``/``dt``,
table rows, ``figcaption``...), separated by blank lines; ``br`` is a space. Dropped: ``script``, ``style``,
``head``, images and other media, ``svg``/``math``, ruby readings (``rt``/``rp``: the base text stays), footnote
markers (``epub:type="noteref"``, ``role="doc-noteref"``, a link or ``sup.footnote`` whose text is a number or a
``*†‡§`` mark) and footnote bodies (``aside``/``li`` typed footnote, endnote, rearnote) - except in a document that
*is* a notes section. Whitespace is normalised (`textutil.normalize_ws`).

Documents are parsed as XML first (named HTML entities such as ``&nbsp;`` are turned into numeric ones), then, if
that fails, with lxml's forgiving HTML parser.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html

from pipelines.books.textutil import normalize_ws


__all__ = ["Segment", "epub_types", "extract", "local_name", "parse_document"]

_EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
_BLOCKS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "dd", "dt", "pre", "figcaption",
    "caption", "tr", "section", "article", "aside", "header", "footer", "nav", "figure", "ul", "ol", "dl",
    "table", "address", "hr", "body", "center", "main",
}  # fmt: skip
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_DROPPED = {
    "script", "style", "head", "title", "img", "image", "svg", "math", "rt", "rp", "object", "video", "audio",
    "iframe", "noscript", "template", "embed", "canvas", "map", "input", "button", "select", "textarea",
}  # fmt: skip
_NOTE_MARKER = re.compile(r"[\[(]?(\d{1,4}|[*\u2020\u2021\u00a7\u00b6]{1,3})[\])]?")
_NOTE_BODIES = {"footnote", "endnote", "rearnote", "note"}
_NOTE_SECTIONS = {"footnotes", "endnotes", "rearnotes", "notes"}
_NOTE_TAGS = {"aside", "li", "div", "section", "p", "ol", "ul", "dl", "footer"}
_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}


@dataclass(frozen=True)
class Segment:
    """A stretch of one document: all of it, or the part from one anchor to the next.

    Attributes:
        anchor: the id that starts the segment; None for the start of the document.
        paragraphs: its paragraphs, in order.
        heading: the text of its first ``h1``-``h6``, None when it has none.
        types: epub:type values and DPUB-ARIA roles of the element that starts it (for the first segment: of the
            ``body`` and of the sections at its top).
    """

    anchor: str | None
    paragraphs: tuple[str, ...]
    heading: str | None
    types: frozenset[str]


def local_name(el: etree._Element) -> str:
    """Tag name without namespace, lower case ("" for comments and processing instructions)."""
    tag = el.tag
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def epub_types(el: etree._Element) -> set[str]:
    """The element's epub:type values (XML or HTML parse) and its ``doc-*`` roles without the prefix."""
    raw = el.get(_EPUB_TYPE) or el.get("epub:type") or ""
    roles = (el.get("role") or "").split()
    return set(raw.split()) | {r.removeprefix("doc-") for r in roles if r.startswith("doc-")}


def _numeric_entities(data: bytes) -> bytes:
    def repl(match: re.Match[bytes]) -> bytes:
        name = match.group(1)
        code = html.entities.name2codepoint.get(name.decode("ascii"))
        return match.group(0) if name in _XML_ENTITIES or code is None else b"&#%d;" % code

    return _ENTITY.sub(repl, data)


def parse_document(data: bytes) -> etree._Element:
    """The root element of an XHTML (or, failing XML, HTML) document; no network, no external entities.

    An empty or unparseable document is an empty ``<html><body/></html>`` (it then has no text).
    """
    data = _numeric_entities(data)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True, remove_pis=True
    )
    try:
        root = etree.fromstring(data, parser)
        if root is not None:
            return root
    except etree.XMLSyntaxError:
        pass
    try:
        return lxml_html.document_fromstring(data, parser=lxml_html.HTMLParser(remove_comments=True, remove_pis=True))
    except (etree.ParserError, ValueError):
        return etree.fromstring(b"<html><body/></html>")


def _body(root: etree._Element) -> etree._Element:
    return next((el for el in root.iter() if local_name(el) == "body"), root)


def _top_types(body: etree._Element) -> set[str]:
    """epub:type values of the body and of its first section (looking through one untyped wrapper ``div``).

    Only the first: a chapter whose file ends with its own ``<section epub:type="endnotes">`` is still a chapter.
    """
    types = epub_types(body)
    first = next((c for c in body if local_name(c) in _BLOCKS), None)
    if first is not None and not epub_types(first) and local_name(first) == "div":
        first = next((c for c in first if local_name(c) in ("section", "article", "nav", "div")), first)
    return types | (epub_types(first) if first is not None else set())


def _is_note_marker(el: etree._Element, tag: str, types: set[str]) -> bool:
    if "noteref" in types:
        return True
    if tag == "a" and "#" in (el.get("href") or ""):
        return bool(_NOTE_MARKER.fullmatch(normalize_ws(el.xpath("string()"))))
    if tag == "sup":
        hint = (el.get("class") or "").lower()
        return ("note" in hint or "fn" in hint) and bool(_NOTE_MARKER.fullmatch(normalize_ws(el.xpath("string()"))))
    return False


class _Walker:
    """Collects segments while walking one document's body in order."""

    def __init__(self, split_ids: frozenset[str], first_types: set[str], keep_notes: bool) -> None:
        self.split_ids = split_ids
        self.keep_notes = keep_notes
        self.segments: list[tuple[str | None, list[str], list[str], set[str]]] = [(None, [], [], first_types)]
        self.buffer: list[str] = []

    def flush(self, heading: bool = False) -> None:
        text = normalize_ws("".join(self.buffer))
        self.buffer = []
        if text:
            _, paras, headings, _ = self.segments[-1]
            paras.append(text)
            if heading:
                headings.append(text)

    def skip(self, el: etree._Element, tag: str) -> bool:
        if tag in _DROPPED or not tag:
            return True
        types = epub_types(el)
        if el.get("id") in self.split_ids:  # the table of contents lists it (a notes section): read it
            return False
        if not self.keep_notes and types & (_NOTE_BODIES | _NOTE_SECTIONS) and tag in _NOTE_TAGS:
            return True
        return _is_note_marker(el, tag, types)

    def start(self, el: etree._Element, tag: str) -> None:
        if tag in _BLOCKS:
            self.flush()
        anchor = el.get("id") or (el.get("name") if tag == "a" else None)
        if anchor in self.split_ids and all(seg[0] != anchor for seg in self.segments):
            self.flush()
            self.segments.append((anchor, [], [], epub_types(el)))
            self.keep_notes = self.keep_notes or bool(epub_types(el) & _NOTE_SECTIONS)
        if tag in ("td", "th", "br"):
            self.buffer.append(" ")
        self.buffer.append(el.text or "")

    def end(self, el: etree._Element, tag: str) -> None:
        if tag in _BLOCKS:
            self.flush(heading=tag in _HEADINGS)
        self.buffer.append(el.tail or "")


def extract(data: bytes, split_ids: frozenset[str] = frozenset()) -> list[Segment]:
    """The text of a content document as segments, cut where an element's id is in `split_ids`.

    Args:
        data: the document's bytes (XHTML or HTML).
        split_ids: ids (or ``<a name>``) that start a new segment; ids the document lacks are ignored. An anchor
            inside a paragraph cuts the paragraph there.

    Returns:
        The first segment (anchor None, possibly empty), then one per anchor found, in document order.
    """
    body = _body(parse_document(data))
    types = _top_types(body)
    walker = _Walker(split_ids, types, keep_notes=bool(types & _NOTE_SECTIONS))
    walk = etree.iterwalk(body, events=("start", "end"))
    for event, el in walk:
        tag = local_name(el)
        if event == "end":
            walker.end(el, tag)
        elif el is not body and walker.skip(el, tag):
            walk.skip_subtree()
        else:
            walker.start(el, tag)
    walker.flush()
    return [Segment(a, tuple(p), (h or [None])[0], frozenset(t)) for a, p, h, t in walker.segments]
