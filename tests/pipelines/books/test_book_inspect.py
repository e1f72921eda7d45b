"""Word counts, time estimates, `describe` rows and the `format_table` a person reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.books import Chapter, check_markup, describe, format_table, read_book
from pipelines.books.model import SPEAKING_RATES


def _chapter(text: str) -> Chapter:
    return Chapter(1, "t", text, "body", "x")


def test_counts_words_and_cjk_characters() -> None:
    assert _chapter("Don't stop: 2024 was well-known.").words == 6  # don't, stop, 2024, was, well, known
    assert _chapter("天黑了，风很大。").words == 6  # punctuation is not counted
    assert _chapter("我用GPT模型 and more").words == 4 + 3
    assert _chapter("안녕하세요 여러분").words == 2  # Korean counts words
    assert _chapter("Hello [pause 2s] [voice b]you[/voice]").words == 2  # tags are not counted


def test_estimated_minutes_use_documented_rates() -> None:
    assert _chapter(" ".join(["word"] * 155)).estimated_minutes == pytest.approx(1.0)
    assert _chapter("字" * 260).estimated_minutes == pytest.approx(1.0)
    assert _chapter("ひらがな" * 75).estimated_minutes == pytest.approx(300 / SPEAKING_RATES["ja_chars"])
    assert _chapter("word [pause 30s] [pause 30s]").estimated_minutes == pytest.approx(1 / 155 + 1.0)


def test_body_text_drops_the_heading_paragraph() -> None:
    assert Chapter(1, "Chapter 1", "Chapter  1\n\nIt was.\n\nMore.", "body", "x").body_text == "It was.\n\nMore."
    assert Chapter(1, "The Storm", "Chapter 1\n\nIt was.", "body", "x").body_text == "Chapter 1\n\nIt was."
    assert Chapter(1, "Solo", "Solo", "body", "x").body_text == ""


def test_chapter_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        Chapter(1, "t", "x", "middle", "x")


@pytest.fixture
def book_path(tmp_path: Path) -> Path:
    words = " ".join(["word"] * 310)
    chinese = "字" * 255
    text = (
        f"Author: Ann\n\nChapter 1: Long\n\n{words}\n\n第二章 中文\n\n{chinese}\n\nAcknowledgements\n\nThanks all.\n"
    )
    path = tmp_path / "counted.txt"
    path.write_text(text, encoding="utf-8")
    return path


def _numbers(line: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", line)


def test_format_table_numbers(book_path: Path) -> None:
    book = read_book(str(book_path))
    table = format_table(book, include_all=True)
    lines = table.splitlines()
    assert "counted" in lines[0] and "Ann" in lines[0] and "4 chapters, 2 to read" in lines[0]
    rows = {line.split()[0]: line for line in lines[2:-2]}
    assert set(rows) == {"1", "2", "3", "4"}
    assert _numbers(rows["2"])[-2:] == ["313", "2.0"] and rows["2"].rstrip().endswith(
        "body"
    )  # 310 + "Chapter 1: Long"
    assert _numbers(rows["3"])[-2:] == ["260", "1.0"]  # 255 + 第二章中文 (5), at 260 characters a minute
    assert "(skipped)" in rows["1"] and "(skipped)" in rows["4"] and "(skipped)" not in rows["2"]
    assert _numbers(lines[-2])[:3] == ["2", "573", "3.0"] and "(0 h 03 min)" in lines[-2]
    assert "skipped: 2 chapters" in lines[-1]
    short = format_table(book)
    assert "(skipped)" not in short and len(short.splitlines()) == 2 + 2 + 1


def test_describe_rows(book_path: Path) -> None:
    book = read_book(str(book_path))
    rows = describe(book)
    assert [(r["index"], r["kind"], r["words"]) for r in rows] == [(2, "body", 313), (3, "body", 260)]
    assert rows[0]["estimated_minutes"] == pytest.approx(313 / 155, abs=0.01)
    assert rows[0]["source"] == "counted.txt:3" and rows[0]["title"] == "Chapter 1: Long" and rows[0]["included"]
    every = describe(book, include_all=True)
    assert [r["index"] for r in every] == [1, 2, 3, 4] and not every[0]["included"]


def test_check_markup_lists_problems(tmp_path: Path) -> None:
    path = tmp_path / "marked.txt"
    path.write_text("Chapter 1\n\nHi [pause 1s].\n\nChapter 2\n\nOops [pasue 1s].\n", encoding="utf-8")
    assert check_markup(read_book(str(path))) == [
        "chapter 2 'Chapter 2', paragraph 2: unknown tag [pasue 1s]; known: pause, voice"
    ]
