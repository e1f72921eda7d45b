"""An EPUB's package: archive checks (zip, DRM), ebooklib loading, metadata, cover, table of contents, landmarks.

Paths: every document path here is relative to the folder of the package file (``content.opf``), as ebooklib's
``item.file_name`` is; `Package.zip_path` gives the path inside the archive. Hrefs from the nav document and the
NCX are resolved relative to those files and percent-decoded.

DRM: a book is refused when ``META-INF/rights.xml`` (Adobe ADEPT), ``META-INF/sinf.xml`` (Apple FairPlay) or
``META-INF/license.lcpl`` (Readium LCP) is present, or when ``META-INF/encryption.xml`` encrypts any text document
(xhtml, html, opf, ncx...) or any non-font resource with a real cipher. Font obfuscation (the IDPF and Adobe
algorithms) is not DRM and is ignored, as are encrypted fonts.
"""

from __future__ import annotations

import io
import logging
import posixpath
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lxml import etree

from pipelines.books.errors import BookError
from pipelines.books.html_text import epub_types, local_name, parse_document
from pipelines.books.textutil import normalize_ws


__all__ = ["NavEntry", "Package", "check_archive", "load_package"]

logger = logging.getLogger(__name__)
_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2", ".eot", ".pfb", ".pfm")
_TEXT_SUFFIXES = (".xhtml", ".html", ".htm", ".xml", ".opf", ".ncx", ".txt", ".css", ".svg", ".smil")
_DRM_FILES = {
    "META-INF/rights.xml": "Adobe ADEPT rights.xml",
    "META-INF/sinf.xml": "Apple FairPlay sinf.xml",
    "META-INF/license.lcpl": "Readium LCP license",
}
_DOCUMENT_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}


@dataclass(frozen=True)
class NavEntry:
    """One entry of the table of contents (nav ``toc`` or NCX navMap), or one landmark/guide reference.

    Attributes:
        title: its label, whitespace-normalised.
        path: the document it points to (package-relative, decoded).
        fragment: the anchor in that document, None for its start.
        depth: nesting level, 0 for the top (landmarks: 0).
        types: for landmarks and guide references, their epub:type / guide type values.
    """

    title: str
    path: str
    fragment: str | None
    depth: int = 0
    types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Package:
    """What the chapter builder needs from an EPUB's package.

    Attributes:
        book: the loaded ``ebooklib.epub.EpubBook``.
        opf_dir: folder of the package file inside the archive ("" at the root).
        toc: table-of-contents entries in order (from the EPUB 3 nav document, else the EPUB 2 NCX).
        landmarks: EPUB 3 landmarks and EPUB 2 guide references.
        nav_path: the nav document's path, None when there is none.
    """

    book: Any  # ebooklib.epub.EpubBook (ebooklib has no type hints)
    opf_dir: str
    toc: tuple[NavEntry, ...]
    landmarks: tuple[NavEntry, ...]
    nav_path: str | None

    def zip_path(self, path: str) -> str:
        return posixpath.join(self.opf_dir, path) if self.opf_dir else path

    def spine_documents(self) -> list[tuple[Any, bool]]:
        """``(item, linear)`` of the spine's (X)HTML documents, in order; unknown ids and other media are skipped."""
        out = []
        for idref, linear in self.book.spine:
            item = self.book.get_item_with_id(idref)
            if item is None:
                logger.warning("EPUB spine entry %r is not in the manifest: skipped", idref)
                continue
            if getattr(item, "media_type", None) not in _DOCUMENT_TYPES and not _is_html(item):
                logger.info("EPUB spine entry %r is %s, not an (X)HTML document: skipped", idref, item.media_type)
                continue
            out.append((item, str(linear).lower() != "no"))
        return out


def _is_html(item: Any) -> bool:
    from ebooklib import epub

    return isinstance(item, epub.EpubHtml)


def check_archive(data: bytes, name: str) -> None:
    """Refuse what is not a readable EPUB archive: not a zip, no container, DRM.

    Raises:
        BookError: ``book.epub: not an EPUB (not a zip archive)``, ``...: DRM-protected ...``.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise BookError(f"{name}: not an EPUB (not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            encryption = zf.read("META-INF/encryption.xml") if "META-INF/encryption.xml" in names else None
    except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
        raise BookError(f"{name}: not an EPUB (broken zip archive: {exc})") from None
    if "META-INF/container.xml" not in names:
        raise BookError(f"{name}: not an EPUB (no META-INF/container.xml in the archive)")
    for path, what in _DRM_FILES.items():
        if path in names:
            raise BookError(f"{name}: DRM-protected EPUB ({what}); only DRM-free books can be read")
    if encryption is not None:
        _check_encryption(encryption, name)


def _check_encryption(xml: bytes, name: str) -> None:
    try:
        root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise BookError(
            f"{name}: META-INF/encryption.xml is not valid XML ({exc}); cannot tell what is encrypted"
        ) from None
    locked = []
    for data in (el for el in root.iter() if local_name(el) == "encrypteddata"):
        method = next((el.get("Algorithm", "") for el in data.iter() if local_name(el) == "encryptionmethod"), "")
        uri = next((el.get("URI", "") for el in data.iter() if local_name(el) == "cipherreference"), "")
        path = unquote(uri).lower()
        is_text = path.endswith(_TEXT_SUFFIXES)
        if is_text or (method not in _OBFUSCATION and not path.endswith(_FONT_SUFFIXES)):
            locked.append(unquote(uri))
    if locked:
        more = f" and {len(locked) - 1} more" if len(locked) > 1 else ""
        raise BookError(
            f"{name}: DRM-protected EPUB (META-INF/encryption.xml encrypts {locked[0]}{more}); "
            "only DRM-free books can be read"
        )


def load_package(data: bytes, name: str) -> Package:
    """Load the package with ebooklib and parse its table of contents and landmarks.

    Raises:
        BookError: ebooklib cannot load the package (a file the manifest lists is missing, a broken OPF...).
    """
    from ebooklib import epub

    reader = _reader_class()(io.BytesIO(data), {"ignore_ncx": True})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = reader.load()
    except KeyError as exc:
        raise BookError(f"{name}: broken EPUB: {str(exc).strip(chr(34) + chr(39))}") from None
    except Exception as exc:  # ebooklib raises bare IndexError/AttributeError/EpubException on malformed packages
        raise BookError(f"{name}: cannot read the EPUB package ({type(exc).__name__}: {exc})") from None
    nav = next((i for i in book.get_items() if isinstance(i, epub.EpubNav)), None)
    toc, landmarks = _read_nav(nav) if nav is not None else ((), ())
    if not toc:
        ncx = next((i for i in book.get_items() if isinstance(i, epub.EpubNcx)), None)
        toc = _read_ncx(ncx.content, ncx.file_name) if ncx is not None and ncx.content else ()
    landmarks += _read_guide(book.guide)
    return Package(book, reader.opf_dir, tuple(toc), tuple(landmarks), nav.file_name if nav is not None else None)


def _reader_class() -> type:
    """ebooklib's reader minus its own nav/NCX parsing, which fails on valid books (a toc ``nav`` whose epub:type
    holds more than "toc", a nav without ``<ol>``...) and which `load_package` does itself (`_read_nav`, `_read_ncx`).
    """
    from ebooklib import epub

    class _Reader(epub.EpubReader):
        def _parse_nav(self, data: bytes, base_path: str, navtype: str = "toc") -> None:
            return None

        def _parse_ncx(self, data: bytes) -> None:
            return None

    return _Reader


def resolve(base: str, href: str) -> tuple[str, str | None] | None:
    """``(path, fragment)`` of an href found in document `base`; None for external links."""
    href = (href or "").strip()
    if not href or "://" in href or href.startswith(("mailto:", "data:")):
        return None
    path, _, fragment = href.partition("#")
    path = unquote(path)
    full = posixpath.normpath(posixpath.join(posixpath.dirname(base), path)) if path else base
    return full.lstrip("/"), (unquote(fragment) or None)


def _read_nav(nav: Any) -> tuple[tuple[NavEntry, ...], tuple[NavEntry, ...]]:
    root = parse_document(nav.content)
    toc: list[NavEntry] = []
    landmarks: list[NavEntry] = []
    for el in root.iter():
        if local_name(el) != "nav":
            continue
        types = epub_types(el)
        if "toc" in types and not toc:
            toc = _nav_entries(el, nav.file_name)
        elif "landmarks" in types:
            landmarks += _landmark_entries(el, nav.file_name)
    return tuple(toc), tuple(landmarks)


def _nav_entries(nav: etree._Element, base: str) -> list[NavEntry]:
    entries = []
    for li in (el for el in nav.iter() if local_name(el) == "li"):
        link = next((c for c in li if local_name(c) == "a"), None)
        target = resolve(base, link.get("href", "")) if link is not None else None
        if target is None:
            continue
        depth = sum(1 for a in li.iterancestors() if local_name(a) == "li")
        title = normalize_ws(link.xpath("string()")) or normalize_ws(link.get("title") or "")
        entries.append(NavEntry(title, target[0], target[1], depth))
    return entries


def _landmark_entries(nav: etree._Element, base: str) -> list[NavEntry]:
    entries = []
    for link in (el for el in nav.iter() if local_name(el) == "a"):
        target = resolve(base, link.get("href", ""))
        if target is not None:
            entries.append(NavEntry(normalize_ws(link.xpath("string()")), *target, 0, frozenset(epub_types(link))))
    return entries


def _read_ncx(content: bytes, base: str) -> tuple[NavEntry, ...]:
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
    except etree.XMLSyntaxError:
        return ()
    entries = []
    for point in (el for el in root.iter() if local_name(el) == "navpoint"):
        label = next((el for el in point if local_name(el) == "navlabel"), None)
        src = next((el.get("src", "") for el in point if local_name(el) == "content"), "")
        target = resolve(base, src)
        if target is None:
            continue
        depth = sum(1 for a in point.iterancestors() if local_name(a) == "navpoint")
        title = normalize_ws(label.xpath("string()")) if label is not None else ""
        entries.append(NavEntry(title, target[0], target[1], depth))
    return tuple(entries)


def _read_guide(guide: list[dict[str, str]]) -> tuple[NavEntry, ...]:
    entries = []
    for ref in guide or []:
        target = resolve("content.opf", ref.get("href") or "")
        if target is not None:
            entries.append(
                NavEntry(normalize_ws(ref.get("title") or ""), *target, 0, frozenset({ref.get("type") or ""}))
            )
    return tuple(entries)


def metadata(book: Any) -> tuple[str | None, str | None, str | None]:
    """``(title, author, language)`` from the package metadata (dc:title, dc:creator, dc:language).

    Authors are the creators whose role is ``aut`` (EPUB 2 ``opf:role`` or an EPUB 3 ``role`` refinement) or who
    have no role; all creators when that leaves none. Several are joined with ", ".
    """
    title = next((normalize_ws(v) for v, _ in _meta(book, "DC", "title") if v and v.strip()), None)
    language = next((v.strip() for v, _ in _meta(book, "DC", "language") if v and v.strip()), None)
    return title, _authors(book), language


def _meta(book: Any, namespace: str, name: str) -> list[tuple[str | None, dict[str, str]]]:
    """ebooklib metadata values, [] when the namespace is absent (ebooklib raises KeyError then)."""
    try:
        return [(value, attrs or {}) for value, attrs in book.get_metadata(namespace, name)]
    except KeyError:
        return []


def _opf_metas(book: Any) -> list[tuple[str | None, dict[str, str]]]:
    """The package's ``<meta>`` elements. ebooklib files them under "meta" (it compares the tag with the namespace
    without braces), or under their name / None when that comparison works; all three are looked at."""
    return _meta(book, "OPF", "meta") + _meta(book, "OPF", None) + _meta(book, "OPF", "cover")


def _authors(book: Any) -> str | None:
    refined = {}
    for value, attrs in _opf_metas(book):
        if attrs.get("property") == "role" and attrs.get("refines", "").startswith("#"):
            refined[attrs["refines"][1:]] = (value or "").strip()
    creators = []
    for value, attrs in _meta(book, "DC", "creator"):
        attrs = attrs or {}
        role = next((v for k, v in attrs.items() if k.endswith("role")), None) or refined.get(attrs.get("id", ""))
        if value and value.strip():
            creators.append((normalize_ws(value), role))
    authors = [c for c, role in creators if role in (None, "", "aut")] or [c for c, _ in creators]
    return ", ".join(dict.fromkeys(authors)) or None


def cover(book: Any) -> tuple[bytes | None, str | None]:
    """``(image bytes, media type)`` of the cover: the ``cover-image`` item (EPUB 3), the item named by
    ``<meta name="cover">`` (EPUB 2), else an image whose id or file name says "cover"; ``(None, None)`` if none."""
    from ebooklib import epub

    images = [i for i in book.get_items() if isinstance(i, epub.EpubImage | epub.EpubCover)]
    item = next((i for i in images if isinstance(i, epub.EpubCover)), None)
    if item is None:
        for _, attrs in _opf_metas(book):
            if attrs.get("name") != "cover":
                continue
            ref = attrs.get("content", "")
            item = book.get_item_with_id(ref) or next((i for i in images if i.file_name == ref), None)
            if item is not None:
                break
    if item is None:
        item = next((i for i in images if "cover" in f"{i.id} {i.file_name}".lower()), None)
    if item is None or not item.content:
        return None, None
    return item.content, item.media_type
