"""EPUB reading: real EPUB 3 / EPUB 2 files (ebooklib-written and hand-written), matter detection, refusals."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from book_files import PNG, XHTML, opf, write_zip_epub

from pipelines.books import BookError, read_book
from pipelines.books.html_text import extract
from pipelines.storage import Storage


def _titles(chapters: tuple) -> list[str]:
    return [c.title for c in chapters]


# ------------------------------------------------------------------------------------------------------ EPUB 3
def test_epub3_metadata_cover_and_language(epub3_path: Path) -> None:
    book = read_book(str(epub3_path))
    assert (book.title, book.author, book.language, book.format) == ("The Storm Book", "Jane Doe", "en", "epub")
    assert book.cover == PNG and book.cover_type == "image/png"
    assert book.source == str(epub3_path)


def test_epub3_body_only_by_default(epub3_path: Path) -> None:
    book = read_book(str(epub3_path))
    assert _titles(book.chapters) == ["Chapter 1: The Storm", "第二章 风暴", "Chapter 3: Calm"]
    assert [c.kind for c in book.chapters] == ["body"] * 3
    assert book.body_chapters() == book.chapters
    assert [c.index for c in book.chapters] == [5, 6, 7]  # positions in the whole book, stable across flags
    assert _titles(book.skipped) == ["Cover", "Title Page", "Copyright", "Contents", "About the Author"]


def test_epub3_front_and_back_matter_listed_with_flags(epub3_path: Path) -> None:
    book = read_book(str(epub3_path), include_front=True, include_back=True)
    kinds = [(c.index, c.title, c.kind) for c in book.chapters]
    assert kinds == [
        (1, "Cover", "front"),
        (2, "Title Page", "front"),
        (3, "Copyright", "front"),
        (4, "Contents", "front"),
        (5, "Chapter 1: The Storm", "body"),
        (6, "第二章 风暴", "body"),
        (7, "Chapter 3: Calm", "body"),
        (8, "About the Author", "back"),
    ]
    assert book.skipped == ()
    only_back = read_book(str(epub3_path), include_back=True)
    assert _titles(only_back.chapters)[-1] == "About the Author" and len(only_back.chapters) == 4


def test_epub3_chapter_text_paragraphs(epub3_path: Path) -> None:
    ch1, ch2, ch3 = read_book(str(epub3_path)).chapters
    # heading first, inline markup flattened, image dropped, whitespace normalised, paragraphs by blank lines
    assert ch1.text == "Chapter 1: The Storm\n\nIt was a dark and stormy night.\n\nThe rain fell."
    # a source line break inside Chinese text is no space; the title's own space stays
    assert ch2.text == "第二章 风暴\n\n天黑了，风很大。\n\n雨下了一夜。"
    # footnote marker, footnote body and script dropped
    assert ch3.text == "Chapter 3: Calm\n\nThe sea was calm."
    assert ch1.source == "EPUB/text/ch1.xhtml"
    assert ch2.words == 16  # CJK counted by characters (punctuation not counted)
    assert ch1.words == 14


def test_epub3_through_memory_storage(epub3_path: Path) -> None:
    Storage("memory://books-test").write_bytes("storm.epub", epub3_path.read_bytes())
    book = read_book("memory://books-test/storm.epub")
    assert len(book.chapters) == 3 and book.source == "memory://books-test/storm.epub"


# ------------------------------------------------------------------------------------------------------ EPUB 2
def test_epub2_ncx_only_ebooklib(epub2_path: Path) -> None:
    with zipfile.ZipFile(epub2_path) as zf:
        assert not any("nav" in n for n in zf.namelist())
    book = read_book(str(epub2_path), include_front=True, include_back=True)
    assert book.language == "zh" and book.author == "Li Lei" and book.cover is None
    assert [(c.title, c.kind) for c in book.chapters] == [
        ("献词", "front"),
        ("第一章 开始", "body"),
        ("第二章 结束", "body"),
        ("致谢", "back"),
    ]
    assert book.chapters[1].text == "第一章 开始\n\n故事开始了。"


def test_epub2_hand_written(epub2_zip_path: Path) -> None:
    book = read_book(str(epub2_zip_path), include_front=True, include_back=True)
    assert (book.title, book.author, book.language) == (
        "Hand Made",
        "Ann Author",
        "en",
    )  # the illustrator is no author
    assert book.cover == PNG and book.cover_type == "image/png"  # EPUB 2 <meta name="cover">
    assert [(c.title, c.kind) for c in book.chapters] == [
        ("Cover", "front"),
        ("Title", "front"),
        ("Chapter One", "body"),
        ("Chapter Two", "body"),
        ("Chapter Three", "body"),
        ("Colophon", "back"),
    ]
    one, two, three = book.body_chapters()
    # one file, two NCX anchors -> two chapters; named entities decoded; the %20 in hrefs resolved
    assert one.text == "Chapter One\n\nFirst\u2014chapter text."
    assert two.text == "Chapter Two\n\nSecond chapter\u2026 text."
    assert one.source == "OEBPS/Text/chapter one.html#c1" and two.source.endswith("#c2")
    # a file without an NCX entry continues the chapter before it
    assert three.text == "Chapter Three\n\nThird, part A.\n\nThird, part B."
    assert "+1 more file" in three.source
    assert book.chapters[1].text == "Hand Made\n\nby Ann Author"


def _encryption(uri: str, algorithm: str) -> str:
    """A META-INF/encryption.xml encrypting `uri` with `algorithm`."""
    return (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        f'<enc:EncryptionMethod Algorithm="{algorithm}"/><enc:CipherData><enc:CipherReference URI="{uri}"/>'
        "</enc:CipherData></enc:EncryptedData></encryption>"
    )


IDPF_OBFUSCATION = "http://www.idpf.org/2008/embedding"
AES = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"


@pytest.mark.parametrize("algorithm", [IDPF_OBFUSCATION, AES])
def test_font_encryption_is_not_drm(small_epub: Callable[..., Path], algorithm: str) -> None:
    extra = {"META-INF/encryption.xml": _encryption("OEBPS/fonts/serif.otf", algorithm)}
    path = small_epub({"one.xhtml": "<p>Text.</p>"}, extra=extra)
    assert read_book(str(path)).chapters[0].text == "Text."


# ------------------------------------------------------------------------------------------------------ refusals
def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "book.epub"
    path.write_bytes(b"this is not an epub")
    with pytest.raises(BookError, match=r"^book\.epub: not an EPUB \(not a zip archive\)$"):
        read_book(str(path))


def test_zip_without_container(tmp_path: Path) -> None:
    path = tmp_path / "book.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(BookError, match=r"book\.epub: not an EPUB \(no META-INF/container\.xml"):
        read_book(str(path))


def test_drm_encrypted_chapter(small_epub: Callable[..., Path]) -> None:
    extra = {"META-INF/encryption.xml": _encryption("OEBPS/one.xhtml", AES)}
    path = small_epub({"one.xhtml": "<p>garbled</p>"}, extra=extra, name="locked.epub")
    with pytest.raises(BookError) as info:
        read_book(str(path))
    message = str(info.value)
    assert message.startswith("locked.epub: DRM-protected EPUB") and "OEBPS/one.xhtml" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("path", "what"), [("META-INF/rights.xml", "Adobe ADEPT rights.xml"), ("META-INF/license.lcpl", "Readium LCP")]
)
def test_drm_rights_files(small_epub: Callable[..., Path], path: str, what: str) -> None:
    book = small_epub({"one.xhtml": "<p>x</p>"}, extra={path: "<rights/>"})
    with pytest.raises(BookError, match=rf"^small\.epub: DRM-protected EPUB \({what}"):
        read_book(str(book))


def test_no_readable_chapter(small_epub: Callable[..., Path]) -> None:
    path = small_epub({"cover.xhtml": '<div><img src="c.png"/></div>', "copyright.xhtml": "<p>(c) 2024</p>"})
    with pytest.raises(BookError, match=r"^small\.epub: no readable chapter"):
        read_book(str(path))


def test_empty_body_chapter_is_named(small_epub: Callable[..., Path]) -> None:
    path = small_epub({"one.xhtml": "<h1>One</h1><p>Text.</p>", "two.xhtml": '<p><img src="map.png"/></p>'})
    with pytest.raises(BookError, match=r"^small\.epub: chapter 2 'Two' \(OEBPS/two\.xhtml\) is empty \(no text\)$"):
        read_book(str(path))


def test_broken_package_is_one_line(small_epub: Callable[..., Path], tmp_path: Path) -> None:
    path = small_epub({"one.xhtml": "<p>x</p>"})
    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            if info.filename != "OEBPS/one.xhtml":
                dst.writestr(info, src.read(info))
    with pytest.raises(BookError) as info:
        read_book(str(broken))
    assert str(info.value).startswith("broken.epub: ") and "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------------ HTML text
def test_html_text_anchors_lists_quotes_and_ruby() -> None:
    doc = (
        '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Intro</p><ul><li>one</li><li>two</li></ul>'
        "<blockquote>quoted<br/>line</blockquote><p><ruby>漢<rt>kan</rt></ruby>字</p>"
        '<h2 id="s2">Second</h2><p>Para <sup class="footnote">3</sup>after.</p></body></html>'
    ).encode()
    first, second = extract(doc, frozenset({"s2", "missing"}))
    assert first.paragraphs == ("Intro", "one", "two", "quoted line", "漢字") and first.anchor is None
    assert second.anchor == "s2" and second.heading == "Second" and second.paragraphs == ("Second", "Para after.")


def test_html_fallback_parser_for_broken_markup() -> None:
    (segment,) = extract(b"<html><body><p>a &nbsp; b &eacute;<p>unclosed &bogus; <br> c</body></html>")
    assert segment.paragraphs == ("a b \u00e9", "unclosed &bogus; c")


def test_epub3_hand_written_landmarks_types_and_anchors(epub3_zip_path: Path) -> None:
    book = read_book(str(epub3_zip_path), include_front=True, include_back=True)
    assert (book.title, book.author, book.language) == ("Livre", "Anne Autrice", "fr")  # translator left out, fr kept
    assert book.cover_type == "image/jpeg" and book.cover.startswith(b"\xff\xd8")
    assert [(c.title, c.kind, c.source) for c in book.chapters] == [
        ("Cover", "front", "book/text/cover.xhtml"),  # epub:type="cover" on the body, no nav entry
        ("Dedication", "front", "book/text/dedication.xhtml"),
        ("Part One", "body", "book/text/part1.xhtml"),  # a part page holding only its heading is kept
        ("Chapter 1", "body", "book/text/ch1.xhtml"),  # the nested "Section 1.1" entry does not cut it
        ("Chapter 2", "body", "book/text/ch23.xhtml#c2"),
        ("Chapter 3", "body", "book/text/ch23.xhtml#c3"),
        ("Notes", "back", "book/text/notes.xhtml"),
    ]
    by_title = {c.title: c for c in book.chapters}
    assert by_title["Chapter 1"].text == "Chapter 1\n\nUn.\n\nSection 1.1\n\nDeux."
    assert by_title["Chapter 3"].text == "Chapter 3\n\nQuatre."
    assert by_title["Notes"].text == "Une note."  # a notes document keeps its notes


def test_chapter_with_its_own_endnotes_section_stays_body(small_epub: Callable[..., Path]) -> None:
    doc = (
        '<section epub:type="chapter"><h1>One</h1><p>Text.<a href="#n1" epub:type="noteref">1</a></p></section>'
        '<section epub:type="endnotes"><h2>Notes</h2><ol><li id="n1" epub:type="endnote">A note.</li></ol></section>'
    )
    (chapter,) = read_book(str(small_epub({"one.xhtml": doc}))).chapters
    assert chapter.kind == "body" and chapter.text == "One\n\nText."


def test_unlisted_document_after_listed_front_matter_is_not_hidden(small_epub: Callable[..., Path]) -> None:
    docs = {"titlepage.xhtml": "<p>Small</p>", "part0003.xhtml": "<p>Opening words.</p>", "one.xhtml": "<p>Text.</p>"}
    book = read_book(str(small_epub(docs, unlisted=("part0003.xhtml",))), include_front=True)
    assert [(c.title, c.kind, c.text) for c in book.chapters] == [
        ("Titlepage", "front", "Small"),
        ("Part0003", "body", "Opening words."),
        ("One", "body", "Text."),
    ]


def test_unlisted_document_continues_the_body_chapter_before_it(small_epub: Callable[..., Path]) -> None:
    docs = {"one.xhtml": "<h1>One</h1><p>A.</p>", "one_split.xhtml": "<p>B.</p>", "two.xhtml": "<p>C.</p>"}
    book = read_book(str(small_epub(docs, unlisted=("one_split.xhtml",))))
    assert [(c.index, c.title, c.text) for c in book.chapters] == [(1, "One", "One\n\nA.\n\nB."), (2, "Two", "C.")]


def test_nav_that_ebooklib_cannot_parse(tmp_path: Path) -> None:
    # ebooklib's own nav parser wants <ol> right under <nav> and one attribute equal to "toc": neither holds here
    manifest = (
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        '<item id="a" href="a.xhtml" media-type="application/xhtml+xml"/>'
    )
    nav = '<body><nav epub:type="toc directory"><div><ol><li><a href="a.xhtml">The Only One</a></li></ol></div></nav>'
    nav += "</body>"
    files = {
        "OEBPS/content.opf": opf(
            manifest, '<itemref idref="a"/>', version="3.0", toc="", metadata="<dc:title>N</dc:title>"
        ),
        "OEBPS/nav.xhtml": XHTML.format(title="nav", body=nav),
        "OEBPS/a.xhtml": XHTML.format(title="a", body="<body><p>Words.</p></body>"),
    }
    book = read_book(str(write_zip_epub(tmp_path / "odd.epub", files)))
    assert [(c.title, c.text) for c in book.chapters] == [("The Only One", "Words.")]
    assert book.language == "en"  # no dc:language: guessed from the text


def test_one_file_book_with_typed_sections_and_listed_notes(tmp_path: Path) -> None:
    # the layout of the IDPF "wasteland" sample: one document, chapters at anchors, a title page section before
    # them, a rear-notes section the contents lists
    manifest = (
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        '<item id="t" href="text.xhtml" media-type="application/xhtml+xml"/>'
    )
    nav = (
        '<body><nav epub:type="toc"><ol><li><a href="text.xhtml#c1">I. One</a></li>'
        '<li><a href="text.xhtml#c2">II. Two</a></li><li><a href="text.xhtml#notes">Notes</a></li></ol></nav></body>'
    )
    body = (
        '<body><section epub:type="frontmatter"><section epub:type="titlepage"><h1>The Poem</h1></section></section>'
        '<section epub:type="bodymatter"><section id="c1"><h2>I. One</h2><p>April is cruel.<a epub:type="noteref"'
        ' href="#n1">1</a></p></section><section id="c2"><h2>II. Two</h2><p>The chair.</p></section></section>'
        '<section epub:type="backmatter"><section epub:type="rearnotes" id="notes"><h2>Notes</h2><ol>'
        '<li epub:type="rearnote" id="n1"><p>On April.</p></li></ol></section></section></body>'
    )
    files = {
        "OEBPS/content.opf": opf(
            manifest, '<itemref idref="t"/>', version="3.0", toc="", metadata="<dc:title>P</dc:title>"
        ),
        "OEBPS/nav.xhtml": XHTML.format(title="nav", body=nav),
        "OEBPS/text.xhtml": XHTML.format(title="t", body=body),
    }
    book = read_book(str(write_zip_epub(tmp_path / "poem.epub", files)), include_front=True, include_back=True)
    assert [(c.title, c.kind, c.text) for c in book.chapters] == [
        ("The Poem", "front", "The Poem"),
        ("I. One", "body", "I. One\n\nApril is cruel."),
        ("II. Two", "body", "II. Two\n\nThe chair."),
        ("Notes", "back", "Notes\n\nOn April."),
    ]
