"""jobs.audiobook end to end with the tiny model: a real EPUB and a Markdown book in, chapter files, captions, a
timeline and an M4B whose chapter marks read back out; reruns, re-renders and bad books."""

from __future__ import annotations

import json
from pathlib import Path

import mutagen.mp4
import pyarrow.parquet as pq
import pytest
from ebooklib import epub

from jobs.audiobook import main
from pipelines.audiobook.master import get_preset


def _epub(path: Path) -> Path:
    book = epub.EpubBook()
    book.set_identifier("test-book-1")
    book.set_title("雨夜 Rain")
    book.set_language("zh")
    book.add_author("测试作者")
    chapters = [
        ("第一章 雨", "<h1>第一章 雨</h1><p>雨下了一整夜。</p><p>她打开窗户。[pause 0.5s]外面很安静。</p>"),
        ("第二章 晴", "<h1>第二章 晴</h1><p>早上天晴了。[voice zh_b]我们出去走走吧。[/voice]</p>"),
    ]
    items = []
    for n, (title, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=title, file_name=f"ch{n}.xhtml", lang="zh")
        item.content = f"<html><body>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    copyright_page = epub.EpubHtml(title="版权", file_name="copyright.xhtml")
    copyright_page.content = "<html><body><p>版权所有。</p></body></html>"
    book.add_item(copyright_page)
    book.toc = [copyright_page, *items]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", copyright_page, *items]
    epub.write_epub(str(path), book)
    return path


def _argv(book: Path, bank: str, model: Path, out: Path, *extra: str) -> list[str]:
    return ["render", "--book", str(book), "--voice", "zh_a", "--voices", bank, "--model-dir", str(model), "--out",
            str(out), "--workers", "0", "--qc", "off", "--max-new-tokens", "12", "--no-progress", *extra]  # fmt: skip


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and "_job" not in p.parts}


def test_render_an_epub_then_rerun_and_rerender(synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path) -> None:
    book, out = _epub(tmp_path / "rain.epub"), tmp_path / "out"
    argv = _argv(book, synth_voice_bank, synth_model_dir, out)
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())["audiobook"]
    chapters = summary["chapters"]
    assert [c["title"] for c in chapters] == ["第一章 雨", "第二章 晴"]  # the copyright page is skipped
    for chapter in chapters:
        assert (out / chapter["key"]).exists() and chapter["key"].endswith(".m4a")
        assert (out / "captions" / f"{chapter['index']:03d}.vtt").read_text().startswith("WEBVTT")
        assert "-->" in (out / "captions" / f"{chapter['index']:03d}.srt").read_text()
    marks = mutagen.mp4.MP4(out / "book.m4b").chapters
    assert [m.title for m in marks] == ["第一章 雨", "第二章 晴"] and marks[0].start == 0
    assert abs(marks[1].start - chapters[0]["duration_s"]) < 0.1

    timeline = pq.read_table(out / "timeline.parquet").to_pylist()
    results = {r["id"]: r for r in pq.read_table(out / "results.parquet").to_pylist()}
    assert len(timeline) == len(results) and {t["voice_id"] for t in timeline} == {"zh_a", "zh_b"}
    assert [t["text"] for t in timeline if t["chapter"] == chapters[1]["index"]] == [
        "第二章 晴",
        "早上天晴了。",
        "我们出去走走吧。",
    ]
    _check_durations(chapters[0], [t for t in timeline if t["chapter"] == chapters[0]["index"]], results)
    report = (out / "report.html").read_text()
    assert 'id="chapters"' in report and "第一章 雨" in report  # the book report: one line per chapter

    before = _files(out)
    assert main(argv) == 0  # a finished book: nothing is redone or rewritten
    assert _files(out) == before

    redo = [t["id"] for t in timeline if t["chapter"] == chapters[1]["index"]][1]
    again = ["rerender", "--out", str(out), "--segments", redo, "--workers", "0", "--no-progress"]
    assert main(again) == 0
    after = _files(out)
    assert after[chapters[0]["key"]] == before[chapters[0]["key"]]  # the other chapter is byte-identical
    assert after[chapters[1]["key"]] != before[chapters[1]["key"]] and after["book.m4b"] != before["book.m4b"]
    new = {r["id"]: r for r in pq.read_table(out / "results.parquet").to_pylist()}
    assert new[redo]["take"] == 1 and all(new[i]["take"] == 0 for i in new if i != redo)  # a new seed for it only


def _check_durations(chapter: dict, timeline: list[dict], results: dict[str, dict]) -> None:
    """The chapter lasts its segments, the pauses between them and its head and tail room tone."""
    settings = get_preset("standard").stitch
    pauses = {"clause": settings.clause_pause_s, "sentence": settings.sentence_pause_s,
              "paragraph": settings.paragraph_pause_s, "title": settings.title_pause_s, "end": 0.0}  # fmt: skip
    speech = sum(results[t["id"]]["duration"] for t in timeline)
    starts = [t["start"] for t in timeline]
    assert starts == sorted(starts) and abs(starts[0] - settings.head_s) < 0.01
    gaps = [b["start"] - a["end"] for a, b in zip(timeline[:-1], timeline[1:], strict=True)]
    assert min(gaps) > 0.2 and abs(gaps[0] - pauses["title"]) < 0.02  # after the title
    expected = settings.head_s + speech + sum(gaps) + settings.tail_s
    assert abs(chapter["duration_s"] - expected) < 0.02


def test_markdown_book_with_a_lexicon_and_chapter_choice(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "book.md").write_text(
        "# 书\n\n## 第一章\n\n重庆很远。\n\n## 第二章\n\n北京很近。\n\n## 第三章\n\n上海也近。\n", encoding="utf-8"
    )
    (tmp_path / "lexicon.csv").write_text("word,respelling\n北京,北平\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = _argv(tmp_path / "book.md", synth_voice_bank, synth_model_dir, out, "--chapters", "2-3", "--lexicon",
                 str(tmp_path / "lexicon.csv"), "--format", "mp3", "--no-m4b")  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())["audiobook"]
    assert [c["title"] for c in summary["chapters"]] == ["第二章", "第三章"] and not (out / "book.m4b").exists()
    assert all(c["key"].endswith(".mp3") for c in summary["chapters"])
    ids = {t["text"]: t["id"] for t in pq.read_table(out / "timeline.parquet").to_pylist()}

    (tmp_path / "lexicon2.csv").write_text("word,respelling\n北京,北京城\n上海,沪\n", encoding="utf-8")
    before = {r["id"]: r["take"] for r in pq.read_table(out / "results.parquet").to_pylist()}
    again = ["rerender", "--out", str(out), "--lexicon", str(tmp_path / "lexicon2.csv"), "--workers", "0"]
    assert main(again) == 0
    after = {r["id"]: r["take"] for r in pq.read_table(out / "results.parquet").to_pylist()}
    redone = sorted(i for i in after if after[i] != before[i])
    assert redone == sorted([ids["北京很近。"], ids["上海也近。"]])  # only the sentences with a changed word


@pytest.mark.parametrize(
    "case, message",
    [
        ("not-a-zip", "not an EPUB"),
        ("unknown-voice", "nobody"),
        ("bad-lexicon", "lexicon.csv"),
        ("no-chapter-9", "--chapters 9"),
        ("unknown-narrator", "--voice ghost"),
    ],
)
def test_bad_books_exit_2_before_anything(
    case: str, message: str, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path, caplog
) -> None:
    import logging

    good = tmp_path / "book.md"
    good.write_text("# 第一章\n\n你好。\n", encoding="utf-8")
    extra: list[str] = []
    book = good
    if case == "not-a-zip":
        book = tmp_path / "broken.epub"
        book.write_bytes(b"this is not a zip")
    elif case == "unknown-voice":
        good.write_text("# 第一章\n\n[voice nobody]你好。[/voice]\n", encoding="utf-8")
    elif case == "bad-lexicon":
        (tmp_path / "lexicon.csv").write_text("word,phones\n重庆,zhong99 qing4\n", encoding="utf-8")
        extra = ["--lexicon", str(tmp_path / "lexicon.csv")]
    elif case == "no-chapter-9":
        extra = ["--chapters", "9"]
    argv = _argv(book, synth_voice_bank, synth_model_dir, tmp_path / "out", *extra)
    if case == "unknown-narrator":
        argv[argv.index("zh_a")] = "ghost"
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and message in errors[0], errors
    assert not (tmp_path / "out").exists()


def test_inspect_lists_the_chapters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = _epub(tmp_path / "rain.epub")
    assert main(["inspect", str(book)]) == 0
    table = capsys.readouterr().out
    assert "第一章 雨" in table and "第二章 晴" in table and "版权" not in table
    assert main(["inspect", str(book), "--all"]) == 0
    assert "版权" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "missing.epub")]) == 2


@pytest.mark.slow
def test_render_on_the_ray_pool_stitches_on_cpu_tasks(
    ray_local: None, synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    book, out = _epub(tmp_path / "rain.epub"), tmp_path / "out"
    argv = _argv(book, synth_voice_bank, synth_model_dir, out, "--rows-per-shard", "3", "--master", "acx")
    argv[argv.index("--workers") + 1] = "1"
    code = main(argv)
    summary = json.loads((out / "summary.json").read_text())["audiobook"]
    assert [c["key"].rsplit(".", 1)[1] for c in summary["chapters"]] == ["mp3", "mp3"]
    for chapter in summary["chapters"]:
        assert chapter["compliance"] is not None and (
            chapter["compliance"]["passed"] or chapter["compliance"]["failed"]
        )
    assert code == (0 if all(c["compliance"]["passed"] for c in summary["chapters"]) else 3)
    assert [m.title for m in mutagen.mp4.MP4(out / "book.m4b").chapters] == ["第一章 雨", "第二章 晴"]
