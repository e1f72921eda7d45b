"""Builders of real book files for the books tests: EPUB 3 and EPUB 2 through ebooklib, EPUBs written by hand with
zipfile (so that ebooklib's own writing quirks cannot hide reader bugs), and small helpers.

Imported by this folder's conftest.py (fixtures) and tests (constants); the module name is unique in the repo."""

from __future__ import annotations

import zipfile
from pathlib import Path


# A valid 1x1 PNG (the cover and an in-chapter image).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
XHTML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
    "<head><title>{title}</title><style>p {{ margin: 0 }}</style></head>{body}</html>"
)
CONTAINER = (
    '<?xml version="1.0"?>\n<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="{opf}" media-type="application/oebps-package+xml"/></rootfiles></container>'
)


def _html(epub_module: object, uid: str, file_name: str, title: str, body: str) -> object:
    item = epub_module.EpubHtml(uid=uid, title=title, file_name=file_name, lang="en")
    item.content = XHTML.format(title=title, body=body).encode("utf-8")
    return item


def build_epub3(path: Path) -> Path:
    """EPUB 3 (ebooklib): cover image + cover page, title page, copyright, nav (contents) in the spine, three body
    chapters (the second in Chinese, the first with an image, the third with a footnote), About the Author."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("storm-1")
    book.set_title("The Storm Book")
    book.set_language("en-US")
    book.add_author("Jane Doe")
    book.set_cover("images/cover.png", PNG)
    docs = [
        _html(epub, "tp", "text/titlepage.xhtml", "Title Page", "<body><h1>The Storm Book</h1><p>Jane Doe</p></body>"),
        _html(epub, "cr", "text/copyright.xhtml", "Copyright",
              '<body><section epub:type="copyright-page"><p>Copyright 2024 Jane Doe.</p></section></body>'),
        _html(epub, "c1", "text/ch1.xhtml", "Chapter 1",
              '<body><section epub:type="chapter"><h1>Chapter 1: The Storm</h1><p>It was a <i>dark</i> and stormy'
              ' night.</p><p><img src="../images/fig.png" alt="A figure"/></p><p>The rain   fell.</p>'
              "</section></body>"),
        _html(epub, "c2", "text/ch2.xhtml", "第二章",
              '<body><section epub:type="chapter"><h1>第二章 风暴</h1><p>天黑了，\n风很大。</p>'
              "<p>雨下了一夜。</p></section></body>"),
        _html(epub, "c3", "text/ch3.xhtml", "Chapter 3",
              '<body><section epub:type="chapter"><h1>Chapter 3: Calm</h1><p>The sea was calm.<a epub:type="noteref"'
              ' href="#n1">1</a></p><aside epub:type="footnote" id="n1"><p>A note.</p></aside><script>x()</script>'
              "</section></body>"),
        _html(epub, "ab", "text/about.xhtml", "About the Author",
              "<body><h1>About the Author</h1><p>Jane sails.</p></body>"),
    ]  # fmt: skip
    for doc in docs:
        book.add_item(doc)
    book.add_item(epub.EpubImage(uid="fig", file_name="images/fig.png", media_type="image/png", content=PNG))
    titles = ["Title Page", None, "Chapter 1: The Storm", "第二章 风暴", "Chapter 3: Calm", "About the Author"]
    book.toc = [epub.Link(d.file_name, t, d.id) for d, t in zip(docs, titles, strict=True) if t]
    book.guide = [{"href": "text/ch1.xhtml", "title": "Start", "type": "text"}]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["cover", docs[0], docs[1], "nav", *docs[2:]]
    epub.write_epub(str(path), book)
    return path


def build_epub2_ebooklib(path: Path) -> Path:
    """EPUB with an NCX and no nav document (ebooklib): dedication, two chapters, acknowledgements."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("ncx-1")
    book.set_title("Only NCX")
    book.set_language("zh-CN")
    book.add_author("Li Lei")
    docs = [
        _html(epub, "ded", "dedication.xhtml", "Dedication", "<body><p>献给我的母亲。</p></body>"),
        _html(epub, "c1", "c1.xhtml", "第一章", "<body><h2>第一章 开始</h2><p>故事开始了。</p></body>"),
        _html(epub, "c2", "c2.xhtml", "第二章", "<body><h2>第二章 结束</h2><p>故事结束了。</p></body>"),
        _html(epub, "ack", "acknowledgements.xhtml", "致谢", "<body><h2>致谢</h2><p>谢谢大家。</p></body>"),
    ]
    for doc in docs:
        book.add_item(doc)
    book.toc = [
        epub.Link(d.file_name, t, d.id)
        for d, t in zip(docs, ["献词", "第一章 开始", "第二章 结束", "致谢"], strict=True)
    ]
    book.add_item(epub.EpubNcx())
    book.spine = docs
    epub.write_epub(str(path), book)
    return path


def write_zip_epub(path: Path, files: dict[str, str | bytes], opf_path: str = "OEBPS/content.opf") -> Path:
    """A zip EPUB written by hand: mimetype first and stored, the container pointing at `opf_path`, then `files`."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER.format(opf=opf_path))
        for name, content in files.items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def opf(
    manifest: str, spine: str, *, version: str = "2.0", metadata: str = "", guide: str = "", toc: str = "ncx"
) -> str:
    """A package document with the given manifest items, spine itemrefs, extra metadata and guide."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://www.idpf.org/2007/opf" version="{version}"'
        ' unique-identifier="uid"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:opf="http://www.idpf.org/2007/opf"><dc:identifier id="uid">x-1</dc:identifier>'
        f"{metadata}</metadata><manifest>{manifest}</manifest>"
        f'<spine toc="{toc}">{spine}</spine>{f"<guide>{guide}</guide>" if guide else ""}</package>'
    )


def ncx(points: list[tuple[str, str]]) -> str:
    """An NCX whose navMap lists (label, src) in order, flat."""
    nav_points = "".join(
        f'<navPoint id="p{i}" playOrder="{i}"><navLabel><text>{label}</text></navLabel>'
        f'<content src="{src}"/></navPoint>'
        for i, (label, src) in enumerate(points, start=1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
        f'<head><meta name="dtb:uid" content="x-1"/></head><docTitle><text>T</text></docTitle><navMap>{nav_points}'
        "</navMap></ncx>"
    )


def build_epub2_zip(path: Path) -> Path:
    """EPUB 2 written by hand: OPF in OEBPS/, documents in OEBPS/Text/ (HTML entities, a file name with a space),
    NCX-only table of contents with anchors (one file holds two chapters), a chapter split over two files, an
    EPUB 2 cover (meta name="cover"), a guide, an illustrator among the creators."""
    item = '<item id="{0}" href="{1}" media-type="{2}"/>'
    html = "application/xhtml+xml"
    manifest = "".join([
        item.format("ncx", "toc.ncx", "application/x-dtbncx+xml"),
        item.format("img01", "Images/front.png", "image/png"),
        item.format("coverpage", "Text/cover.html", html),
        item.format("title", "Text/title.html", html),
        item.format("two", "Text/chapter%20one.html", html),
        item.format("c3a", "Text/ch3a.html", html),
        item.format("c3b", "Text/ch3b.html", html),
        item.format("colophon", "Text/colophon.html", html),
    ])  # fmt: skip
    spine = "".join(f'<itemref idref="{i}"/>' for i in ("coverpage", "title", "two", "c3a", "c3b", "colophon"))
    metadata = (
        "<dc:title>Hand Made</dc:title><dc:language>en-GB</dc:language>"
        '<dc:creator opf:role="aut">Ann Author</dc:creator><dc:creator opf:role="ill">Ivy Illustrator</dc:creator>'
        '<meta name="cover" content="img01"/>'
    )
    guide = (
        '<reference type="cover" title="Cover" href="Text/cover.html"/>'
        '<reference type="title-page" title="Title" href="Text/title.html"/>'
        '<reference type="text" title="Start" href="Text/chapter%20one.html#c1"/>'
    )
    page = XHTML.replace('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n', "")
    files = {
        "OEBPS/content.opf": opf(manifest, spine, metadata=metadata, guide=guide),
        "OEBPS/toc.ncx": ncx([
            ("Title", "Text/title.html"), ("Chapter One", "Text/chapter%20one.html#c1"),
            ("Chapter Two", "Text/chapter%20one.html#c2"), ("Chapter Three", "Text/ch3a.html"),
            ("Colophon", "Text/colophon.html"),
        ]),  # fmt: skip
        "OEBPS/Images/front.png": PNG,
        "OEBPS/Text/cover.html": page.format(title="Cover",
                                             body='<body><div><img src="../Images/front.png"/></div></body>'),
        "OEBPS/Text/title.html": page.format(title="Title",
                                             body="<body><h1>Hand Made</h1><p>by Ann&nbsp;Author</p></body>"),
        "OEBPS/Text/chapter one.html": page.format(title="One", body=(
            '<body><h2 id="c1">Chapter One</h2><p>First&mdash;chapter text.</p>'
            '<h2><a id="c2"></a>Chapter Two</h2><p>Second chapter&hellip; text.</p></body>')),
        "OEBPS/Text/ch3a.html": page.format(title="Three",
                                            body="<body><h2>Chapter Three</h2><p>Third, part A.</p></body>"),
        "OEBPS/Text/ch3b.html": page.format(title="Three", body="<body><p>Third, part B.</p></body>"),
        "OEBPS/Text/colophon.html": page.format(title="Colophon", body="<body><p>Set in Garamond.</p></body>"),
    }  # fmt: skip
    return write_zip_epub(path, files)


def simple_zip_epub(
    path: Path, docs: dict[str, str], *, extra: dict[str, str | bytes] | None = None, unlisted: tuple[str, ...] = ()
) -> Path:
    """A minimal hand-written EPUB 2: `docs` (file name -> body HTML) in spine order, each listed in the NCX by its
    file stem title-cased (except those `unlisted`); `extra` files are added as they are (META-INF/encryption.xml...).
    """
    manifest = '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>' + "".join(
        f'<item id="d{i}" href="{n}" media-type="application/xhtml+xml"/>' for i, n in enumerate(docs)
    )
    spine = "".join(f'<itemref idref="d{i}"/>' for i in range(len(docs)))
    points = [(n.rsplit(".", 1)[0].title(), n) for n in docs if n not in unlisted]
    files: dict[str, str | bytes] = {
        "OEBPS/content.opf": opf(manifest, spine, metadata="<dc:title>Small</dc:title><dc:language>en</dc:language>"),
        "OEBPS/toc.ncx": ncx(points),
    }
    files |= {f"OEBPS/{n}": XHTML.format(title=n, body=f"<body>{body}</body>") for n, body in docs.items()}
    return write_zip_epub(path, files | (extra or {}))


def build_epub3_zip(path: Path) -> Path:
    """EPUB 3 written by hand: package in book/, nav in book/nav/ (hrefs with ../), landmarks, epub:type on bodies
    (cover, dedication, endnotes), a part page holding only its heading, a chapter whose nested section entry must
    not cut it, one file holding two chapters, EPUB 3 creator roles, a cover-image item, dc:language fr."""
    item = '<item id="{0}" href="{1}" media-type="application/xhtml+xml"{2}/>'
    names = ["cover", "dedication", "part1", "ch1", "ch23", "notes"]
    manifest = item.format("nav", "nav/toc.xhtml", ' properties="nav"') + "".join(
        item.format(n, f"text/{n}.xhtml", "") for n in names
    )
    manifest += '<item id="img" href="images/c.jpg" media-type="image/jpeg" properties="cover-image"/>'
    metadata = (
        '<dc:title>Livre</dc:title><dc:language>fr</dc:language><dc:creator id="c1">Anne Autrice</dc:creator>'
        '<meta refines="#c1" property="role" scheme="marc:relators">aut</meta><dc:creator id="c2">Tom Traducteur'
        '</dc:creator><meta refines="#c2" property="role" scheme="marc:relators">trl</meta>'
    )
    nav = (
        '<body><nav epub:type="toc"><h1>Table</h1><ol>'
        '<li><a href="../text/part1.xhtml">Part One</a><ol>'
        '<li><a href="../text/ch1.xhtml">Chapter 1</a>'
        '<ol><li><a href="../text/ch1.xhtml#s11">Section 1.1</a></li></ol></li>'
        '<li><a href="../text/ch23.xhtml#c2">Chapter 2</a></li><li><a href="../text/ch23.xhtml#c3">Chapter 3</a></li>'
        '</ol></li><li><a href="../text/notes.xhtml">Notes</a></li></ol></nav>'
        '<nav epub:type="landmarks"><ol><li><a epub:type="cover" href="../text/cover.xhtml">Cover</a></li>'
        '<li><a epub:type="bodymatter" href="../text/part1.xhtml">Start</a></li></ol></nav></body>'
    )
    bodies = {
        "cover": '<body epub:type="cover"><img src="../images/c.jpg" alt="cover"/></body>',
        "dedication": '<body epub:type="frontmatter dedication"><p>For Marie.</p></body>',
        "part1": "<body><h1>Part One</h1></body>",
        "ch1": '<body><h2>Chapter 1</h2><p>Un.</p><h3 id="s11">Section 1.1</h3><p>Deux.</p></body>',
        "ch23": '<body><section id="c2"><h2>Chapter 2</h2><p>Trois.</p></section>'
        '<section id="c3"><h2>Chapter 3</h2><p>Quatre.</p></section></body>',
        "notes": '<body epub:type="backmatter"><section epub:type="endnotes"><ol><li epub:type="endnote" id="n1">'
        "<p>Une note.</p></li></ol></section></body>",
    }
    files: dict[str, str | bytes] = {
        "book/package.opf": opf(
            manifest, "".join(f'<itemref idref="{n}"/>' for n in names), version="3.0", metadata=metadata, toc=""
        ),
        "book/nav/toc.xhtml": XHTML.format(title="nav", body=nav),
        "book/images/c.jpg": b"\xff\xd8\xff\xe0 fake jpeg",
    }
    files |= {f"book/text/{n}.xhtml": XHTML.format(title=n, body=b) for n, b in bodies.items()}
    return write_zip_epub(path, files, opf_path="book/package.opf")
