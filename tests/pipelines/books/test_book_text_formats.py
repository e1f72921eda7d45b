"""Plain-text and Markdown books: heading patterns, paragraphs, front matter, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.books import BookError, read_book
from pipelines.books.markdown import strip_inline
from pipelines.books.plaintext import find_heading


def _write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


EN_BOOK = """Title: The Test Book
Author: Jane Doe

Contents

Chapter 1
Chapter 2
Chapter 3

Part One

Chapter 1: The Storm

It was a dark
and stormy night.

  An indented paragraph
that wraps.

CHAPTER II.
Down the Hole

Text two.

Chapter Three

Text three.

About the Author

Jane lives by the sea.
"""


@pytest.mark.parametrize(
    ("line", "level", "titled"),
    [
        ("Chapter 12", "chapter", False),
        ("CHAPTER XII", "chapter", False),
        ("Chapter Twelve", "chapter", False),
        ("Chapter Twenty-One", "chapter", False),
        ("Chapter 3: The Storm", "chapter", True),
        ("Chapter 3 The Storm", "chapter", True),
        ("Part 3", "part", False),
        ("PART III", "part", False),
        ("Book Two", "part", False),
        ("第十二章", "chapter", False),
        ("第12章", "chapter", False),
        ("第12回", "chapter", False),
        ("第三章 风暴", "chapter", True),
        ("第二卷", "part", False),
        ("序章", "chapter", False),
        ("尾声", "chapter", False),
        ("Prologue", "chapter", False),
    ],
)
def test_heading_patterns(line: str, level: str, titled: bool) -> None:
    heading = find_heading(line)
    assert heading is not None and heading.level == level and heading.has_title == titled


@pytest.mark.parametrize(
    "line", ["Chapter 3 was long and dull.", "第一章说的是，他来了", "Chapter Civil War", "Parts 3", ""]
)
def test_not_headings(line: str) -> None:
    assert find_heading(line) is None


def test_txt_english_book(tmp_path: Path) -> None:
    url = _write(tmp_path, "test.txt", EN_BOOK)
    book = read_book(url, include_front=True, include_back=True)
    assert (book.title, book.author, book.language, book.format) == ("The Test Book", "Jane Doe", "en", "txt")
    assert [(c.title, c.kind) for c in book.chapters] == [
        ("Front matter", "front"),
        ("Chapter 1: The Storm", "body"),
        ("CHAPTER II. Down the Hole", "body"),  # a short line right under a bare heading is its title
        ("Chapter Three", "body"),
        ("About the Author", "back"),
    ]
    front, ch1, ch2 = book.chapters[:3]
    assert "Chapter 1\n\nChapter 2\n\nChapter 3" in front.text  # the contents list stayed text
    # the part heading opens the next chapter; lines of a paragraph joined with a space; indent starts a paragraph
    assert (
        ch1.text
        == "Part One\n\nChapter 1: The Storm\n\nIt was a dark and stormy night.\n\nAn indented paragraph that wraps."
    )
    assert ch1.source == "test.txt:10"
    assert ch2.text == "CHAPTER II. Down the Hole\n\nText two."
    assert [c.title for c in read_book(url).chapters] == [
        "Chapter 1: The Storm",
        "CHAPTER II. Down the Hole",
        "Chapter Three",
    ]


def test_txt_chinese_book_line_per_paragraph(tmp_path: Path) -> None:
    lines = [
        "《三体》",
        "作者：刘慈欣",
        "序章",
        "　　很久以前。",
        "第一章 风暴",
        "　　天黑了，",
        "风很大。",
        "　　第二段。",
    ]
    lines += ["第2章", "　　内容二。", "第三回 远方", "　　内容三。", "尾声", "　　结束了。"]
    url = _write(tmp_path, "santi.txt", "\n".join(lines) + "\n")
    book = read_book(url, include_front=True)
    assert (book.title, book.author, book.language) == ("三体", "刘慈欣", "zh")
    assert [c.title for c in book.chapters] == ["Front matter", "序章", "第一章 风暴", "第2章", "第三回 远方", "尾声"]
    assert [c.kind for c in book.chapters] == ["front"] + ["body"] * 5
    # a wrapped (not indented) line joins its paragraph without a space
    assert book.chapters[2].text == "第一章 风暴\n\n天黑了，风很大。\n\n第二段。"
    assert book.chapters[2].words == 14  # characters, punctuation not counted


def test_txt_without_headings_is_one_chapter(tmp_path: Path) -> None:
    url = _write(tmp_path, "short story.txt", "One paragraph\nover two lines.\n\nAnother one.\n")
    (chapter,) = read_book(url).chapters
    assert chapter.title == "short story" and chapter.kind == "body" and chapter.index == 1
    assert chapter.text == "One paragraph over two lines.\n\nAnother one."


def test_txt_by_line_names_the_author(tmp_path: Path) -> None:
    url = _write(
        tmp_path, "moby.txt", "MOBY-DICK\n\nby Herman Melville\n\nCHAPTER 1.\nLoomings.\n\nCall me Ishmael.\n"
    )
    book = read_book(url)
    assert book.author == "Herman Melville" and [c.title for c in book.chapters] == ["CHAPTER 1. Loomings."]


def test_txt_parts_only_are_chapters(tmp_path: Path) -> None:
    url = _write(tmp_path, "parts.txt", "Part 1\n\nFirst.\n\nPart 2: After\n\nSecond.\n")
    assert [c.title for c in read_book(url).chapters] == ["Part 1", "Part 2: After"]


def test_txt_gutenberg_license_is_back_matter(tmp_path: Path) -> None:
    text = "Chapter 1\n\nText.\n\n*** END OF THE PROJECT GUTENBERG EBOOK TEST ***\n\nLicense terms.\n"
    book = read_book(_write(tmp_path, "pg.txt", text), include_back=True)
    assert [(c.title, c.kind) for c in book.chapters] == [("Chapter 1", "body"), ("Project Gutenberg license", "back")]


def test_txt_invalid_utf8_names_the_byte(tmp_path: Path) -> None:
    url = _write(tmp_path, "bad.txt", b"Chapter 1\n\nok\n\xff\xfe broken")
    with pytest.raises(BookError, match=r"^bad\.txt: invalid UTF-8 at byte 14 \(line 4\)"):
        read_book(url)


def test_txt_empty_chapter_is_named(tmp_path: Path) -> None:
    url = _write(tmp_path, "gap.txt", "Chapter 1\n\nText.\n\nChapter 2\n\nChapter 3\n\nMore.\n")
    with pytest.raises(
        BookError, match=r"^gap\.txt: chapter 2 'Chapter 2' \(gap\.txt:5\) is empty \(nothing after its heading\)$"
    ):
        read_book(url)


def test_fmt_overrides_suffix_and_unknown_suffix_refused(tmp_path: Path) -> None:
    url = _write(tmp_path, "book.data", "Chapter 1\n\nHello.\n")
    assert read_book(url, fmt="txt").chapters[0].title == "Chapter 1"
    with pytest.raises(BookError, match=r"^book\.data: unknown book format"):
        read_book(url)
    with pytest.raises(BookError, match=r"^book\.data\.missing: not found"):
        read_book(str(tmp_path / "book.data") + ".missing", fmt="txt")


# ------------------------------------------------------------------------------------------------------ Markdown
MD_BOOK = """---
title: My Book
author: [Ann, Bob]
language: en-GB
---

# My Book

Some intro with a [link](http://x.com "t") and ![img](a.png) here.

## Chapter 1: Start

It was *very* **dark** and _wet_, see [the ref][r1], [pause 1.5s] then `code` here.
Second line of the paragraph.

```python
print("dropped")
```

- item one
- item two

> quoted text

### A sub heading

| a | b |
|---|---|
| 1 | 2 |

[r1]: http://example.com

Chapter Two
-----------

Text two with snake_case_word and a footnote[^1].

[^1]: The note.

## Acknowledgements

Thanks.
"""


def test_markdown_book(tmp_path: Path) -> None:
    book = read_book(_write(tmp_path, "my.md", MD_BOOK), include_front=True, include_back=True)
    assert (book.title, book.author, book.language, book.format) == ("My Book", "Ann, Bob", "en", "markdown")
    assert [(c.title, c.kind) for c in book.chapters] == [
        ("Front matter", "front"),
        ("Chapter 1: Start", "body"),
        ("Chapter Two", "body"),
        ("Acknowledgements", "back"),
    ]
    front, one, two, _ = book.chapters
    assert front.text == "Some intro with a link and here."
    assert one.text == (
        "Chapter 1: Start\n\nIt was very dark and wet, see the ref, [pause 1.5s] then code here. Second line of the "
        "paragraph.\n\nitem one\n\nitem two\n\nquoted text\n\nA sub heading\n\na, b\n\n1, 2"
    )
    assert two.text == "Chapter Two\n\nText two with snake_case_word and a footnote."


def test_markdown_top_level_chapters_and_no_headings(tmp_path: Path) -> None:
    book = read_book(_write(tmp_path, "flat.markdown", "# One\n\nA.\n\n# Two\n\nB.\n"))
    assert [c.title for c in book.chapters] == ["One", "Two"] and book.title == "flat"
    (single,) = read_book(_write(tmp_path, "plain.md", "---\ntitle: Plain\n---\nJust *text*.\n")).chapters
    assert single.title == "Plain" and single.text == "Just text."


def test_markdown_bad_front_matter(tmp_path: Path) -> None:
    with pytest.raises(BookError, match=r"^bad\.md: the front matter is not valid YAML"):
        read_book(_write(tmp_path, "bad.md", "---\ntitle: [unclosed\n---\n# A\n\nb\n"))


def test_strip_inline_keeps_narration_tags_and_escapes() -> None:
    text = r"\*not em\* [voice a]hi[/voice] [x][y] <b>bold</b> <https://a.b> [sic]"
    assert strip_inline(text) == "*not em* [voice a]hi[/voice] [x][y] bold [sic]"
