"""M4B assembly: chapter marks read back with mutagen and PyAV, tags, cover, language, stream copy vs encode."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from audiobook_signals import speechlike
from mutagen.mp4 import MP4

from pipelines.audiobook.encode import AudioReader, open_encoder, probe
from pipelines.audiobook.m4b import BookMetadata, build_m4b, iso639_2
from pipelines.audiobook.master import get_preset, render_chapter
from pipelines.audiobook.stitch import Piece
from pipelines.storage import Storage


TITLES = ["第一章 风暴", "Chapter 2: Calm & <After>", "Глава 3 — Ночь"]


def _png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


METADATA = BookMetadata(title="风暴之书", author="A. Writer", language="zh-CN", cover=_png(), year="2026")


def _chapter_file(fmt: str, seconds: float, seed: int, rate: int = 44100) -> Path:
    audio = speechlike(seconds, rate, seed=seed, level=0.3)
    with open_encoder(fmt, rate) as encoder:
        encoder.write(audio)
    return encoder.close().path


def _decoded(source: Path | bytes) -> np.ndarray:
    with AudioReader(source) as reader:
        return np.concatenate(list(reader.blocks()))


def _check_marks(path: Path, result_marks: list[tuple[str, float]]) -> None:
    """mutagen and PyAV both read the chapters back: titles exact, starts within 50 ms of what was written."""
    chapters = MP4(str(path)).chapters
    assert chapters is not None
    assert [c.title for c in chapters] == [t for t, _ in result_marks]
    for chapter, (_, start) in zip(chapters, result_marks, strict=True):
        assert chapter.start == pytest.approx(start, abs=0.05)
    with av.open(str(path)) as container:
        pyav = container.chapters()
    assert [c["metadata"]["title"] for c in pyav] == [t for t, _ in result_marks]
    for chapter, (_, start) in zip(pyav, result_marks, strict=True):
        assert float(chapter["start"] * chapter["time_base"]) == pytest.approx(start, abs=0.05)


def _check_tags(path: Path) -> None:
    tags = MP4(str(path)).tags
    assert tags["\xa9nam"] == ["风暴之书"] and tags["\xa9alb"] == ["风暴之书"]
    assert tags["\xa9ART"] == ["A. Writer"] and tags["aART"] == ["A. Writer"]
    assert tags["\xa9day"] == ["2026"] and tags["stik"] == [2] and tags["\xa9gen"] == ["Audiobook"]
    assert bytes(tags["covr"][0]) == METADATA.cover and tags["covr"][0].imageformat == tags["covr"][0].FORMAT_PNG
    with av.open(str(path)) as container:
        assert container.metadata["title"] == "风暴之书" and container.metadata["artist"] == "A. Writer"
        assert container.streams.audio[0].metadata["language"] == "zho"
        assert any(s.type == "video" for s in container.streams)  # the cover, as an attached picture
    assert path.read_bytes()[8:12] == b"M4B "


def test_aac_chapters_are_stream_copied(tmp_path: Path) -> None:
    files = [_chapter_file("m4a", s, i) for i, s in enumerate([3.3, 2.05, 4.0])]
    out = tmp_path / "book.m4b"
    result = build_m4b(list(zip(TITLES, files, strict=True)), METADATA, out)
    assert result.stream_copied and result.sample_rate == 44100
    marks = [(c.title, c.start_s) for c in result.chapters]
    _check_marks(out, marks)
    _check_tags(out)
    assert [p.name for p in tmp_path.iterdir()] == ["book.m4b"]  # no temporary file left
    # each mark is where its chapter's audio begins, to the sample (AAC: the same decoded audio once the first
    # frame's overlap with the previous chapter has passed; decoder state makes it equal to ~1e-5, not bit-exact)
    book = _decoded(out)
    assert len(book) == probe(out).n_samples == round(result.duration_s * 44100)
    for chapter, path in zip(result.chapters, files, strict=True):
        start = round(chapter.start_s * 44100)
        alone = _decoded(path)[2048:6144]
        errors = [np.abs(book[start + shift + 2048 : start + shift + 6144] - alone).max() for shift in (-1, 0, 1)]
        assert errors[1] < 1e-3 < min(errors[0], errors[2])
    # between chapters, each adds at most its priming (1024) and padding (< 1024) samples
    naive = np.cumsum([0.0] + [3.3, 2.05])
    for chapter, expected in zip(result.chapters, naive, strict=True):
        assert 0 <= chapter.start_s - expected < 2 * 2048 / 44100
    for path in files:
        path.unlink()


def test_mixed_chapters_are_encoded_once_with_exact_marks(tmp_path: Path) -> None:
    files = [_chapter_file("mp3", 2.5, 1), _chapter_file("flac", 1.75, 2, rate=32000), _chapter_file("m4a", 3.0, 3)]
    sources = [files[0], files[1].read_bytes(), files[2]]  # paths and bytes
    out = tmp_path / "mixed.m4b"
    result = build_m4b(list(zip(TITLES, sources, strict=True)), METADATA, out, bit_rate=48_000)
    assert not result.stream_copied
    assert [c.start_s for c in result.chapters] == pytest.approx([0.0, 2.5, 4.25], abs=1e-6)
    assert result.duration_s == pytest.approx(7.25, abs=1e-6)
    assert probe(out).n_samples == round(7.25 * 44100)  # one priming, hidden by a sample-exact edit list
    _check_marks(out, [(c.title, c.start_s) for c in result.chapters])
    _check_tags(out)
    for path in files:
        path.unlink()


def test_chapters_rendered_from_segments_become_a_book(
    storage: Storage, segment_keys: list[str], tmp_path: Path
) -> None:
    preset = get_preset("standard")
    for n, keys in enumerate([segment_keys[:3], segment_keys[3:]]):
        render_chapter(storage, [Piece.audio(k) for k in keys], f"chapters/{n:02d}.m4a", preset)
    chapters = [(TITLES[n], storage.read_bytes(f"chapters/{n:02d}.m4a")) for n in range(2)]
    result = build_m4b(chapters, BookMetadata("Book", "Author", "en"), tmp_path / "b.m4b")
    assert result.stream_copied  # the "standard" chapters are AAC at 44.1 kHz: no re-encoding
    _check_marks(tmp_path / "b.m4b", [(c.title, c.start_s) for c in result.chapters])
    with av.open(str(tmp_path / "b.m4b")) as container:
        assert container.streams.audio[0].metadata["language"] == "eng"


def test_errors_and_languages(tmp_path: Path) -> None:
    mp3 = _chapter_file("mp3", 1.0, 1)
    with pytest.raises(ValueError, match="mode='copy'"):
        build_m4b([("one", mp3)], METADATA, tmp_path / "x.m4b", mode="copy")
    with pytest.raises(ValueError, match="no chapters"):
        build_m4b([], METADATA, tmp_path / "x.m4b")
    with pytest.raises(ValueError, match="JPEG or PNG"):
        build_m4b([("one", mp3)], BookMetadata("t", "a", cover=b"GIF89a..."), tmp_path / "x.m4b")
    assert not list(tmp_path.iterdir())  # nothing half-written
    mp3.unlink()
    assert [iso639_2(x) for x in ("en", "zh-CN", "yue", "en_US", "deu", "xx")] == [
        "eng",
        "zho",
        "yue",
        "eng",
        "deu",
        "und",
    ]
