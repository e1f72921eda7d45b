"""Chapters manifests (Parquet and JSON Lines) and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.books import BookError, read_book


ROWS = [
    {"book_id": "storm", "chapter": 3, "title": "The Calm", "text": "Calm sea.", "voice_id": None},
    {"book_id": "storm", "chapter": 1, "title": "The Storm", "text": "Rain\nfell.\n\nWind blew.", "voice_id": "nar_a"},
    {"book_id": "storm", "chapter": 2, "title": "", "text": "第二章。", "voice_id": "nar_b"},
]


def _parquet(tmp_path: Path, rows: list[dict], name: str = "storm.parquet") -> str:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def _jsonl(tmp_path: Path, rows: list[dict], name: str = "storm.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("write", [_parquet, _jsonl])
def test_manifest_sorted_by_chapter(tmp_path: Path, write) -> None:
    book = read_book(write(tmp_path, ROWS))
    assert book.title == "storm" and book.format in ("parquet", "jsonl")
    assert [(c.index, c.title, c.voice_id) for c in book.chapters] == [
        (1, "The Storm", "nar_a"),
        (2, "Chapter 2", "nar_b"),  # an empty title falls back to "Chapter N"
        (3, "The Calm", None),
    ]
    assert book.chapters[0].text == "Rain fell.\n\nWind blew."
    assert book.chapters[0].source.endswith("row 1")


def test_manifest_optional_kind_and_language(tmp_path: Path) -> None:
    rows = [
        {"book_id": "b", "chapter": 0, "title": "Credits", "text": "Thanks.", "kind": "front", "language": "en-US"},
        {"book_id": "b", "chapter": 1, "title": "One", "text": "Text.", "kind": None, "language": None},
    ]
    book = read_book(_jsonl(tmp_path, rows))
    assert book.language == "en" and [c.title for c in book.chapters] == ["One"]
    assert [c.title for c in book.skipped] == ["Credits"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ROWS + [{**ROWS[0], "book_id": "other", "chapter": 9}],
            r"^storm\.parquet: holds 2 books \('storm', 'other'\)",
        ),
        (ROWS + [{**ROWS[0], "chapter": 1}], r"^storm\.parquet: chapter 1 appears twice \(rows 1 and 3\)$"),
        ([{**ROWS[0], "chapter": None}], r"^storm\.parquet: row 0: chapter must be an integer, got None$"),
        ([{**ROWS[0], "voice_id": "bad id"}], r"^storm\.parquet: row 0 \(chapter 3\): voice_id 'bad id' must match"),
        (
            [{**ROWS[0], "text": ""}],
            r"^storm\.parquet: chapter 3 'The Calm' \(storm\.parquet row 0\) is empty \(no text\)$",
        ),
        (
            [{k: v for k, v in ROWS[0].items() if k != "text"}],
            r"^storm\.parquet: chapters manifest lacks column\(s\) text",
        ),
    ],
)
def test_manifest_refusals(tmp_path: Path, rows: list[dict], message: str) -> None:
    with pytest.raises(BookError, match=message):
        read_book(_parquet(tmp_path, rows))


def test_manifest_chapter_must_be_integer_jsonl(tmp_path: Path) -> None:
    with pytest.raises(BookError, match=r"row 0: chapter must be an integer, got '1'"):
        read_book(_jsonl(tmp_path, [{**ROWS[0], "chapter": "1"}]))


def test_manifest_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"book_id": "b"\n', encoding="utf-8")
    with pytest.raises(BookError, match=r"^broken\.jsonl: line 1 is not valid JSON"):
        read_book(str(path))
