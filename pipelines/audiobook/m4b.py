"""Assemble chapter files into one M4B audiobook (AAC in MP4) with chapter marks, tags and a cover.

Two ways to get the audio in, chosen by ``mode``:

* ``copy`` (what ``auto`` picks when every chapter is already AAC at the book's rate, channels and decoder config,
  e.g. chapters rendered with the "standard" preset): the AAC packets are stream-copied, no re-encoding. Each
  chapter file starts with 1024 priming samples and ends with a partly padded frame; both stay in the book between
  chapters (<= ~46 ms of near-silence inside the room tone). Packet timestamps are laid end to end with each
  packet's *full* decoded length, so the timeline matches what a decoder plays, and each chapter mark points at the
  chapter's first real sample (after its priming). The first chapter's priming is hidden by the MP4 edit list.
* ``encode`` (anything else: MP3, FLAC, WAV, Opus, AAC at another rate): every chapter is decoded with PyAV,
  resampled (soxr) and mixed to mono, and the whole book is encoded once; chapter marks are sample-exact.

Chapter marks go in with PyAV's ``OutputContainer.set_chapters``; FFmpeg's MP4 muxer writes them both as a Nero
``chpl`` box (what ``mutagen.mp4.MP4(path).chapters`` reads) and as a QuickTime chapter text track (what Apple
players and ``av.open(path).chapters()`` read). Titles are UTF-8 (``chpl`` holds at most 255 bytes per title;
longer titles are cut at a character boundary). Tags (title, artist, album artist, album, genre, media kind
"Audiobook") and the cover (``covr``) are written with mutagen after muxing; the language goes into the audio
track's ``mdhd`` (ISO 639-2). The file is written next to ``out_path`` under a temporary name and renamed over it
when complete.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import soxr
from mutagen.mp4 import MP4, MP4Cover

from pipelines.audiobook.encode import AudioReader


__all__ = ["BookMetadata", "ChapterMark", "M4bResult", "build_m4b", "iso639_2"]

logger = logging.getLogger(__name__)

ChapterSource = str | os.PathLike[str] | bytes
_ISO639_1_TO_2 = {
    "ar": "ara", "de": "deu", "en": "eng", "es": "spa", "fr": "fra", "hi": "hin", "id": "ind", "it": "ita",
    "ja": "jpn", "ko": "kor", "nl": "nld", "pl": "pol", "pt": "por", "ru": "rus", "sv": "swe", "th": "tha",
    "tr": "tur", "uk": "ukr", "vi": "vie", "zh": "zho",
}  # fmt: skip
_CHPL_TITLE_BYTES = 255


@dataclass(frozen=True)
class BookMetadata:
    """Tags of the book.

    Attributes:
        title: book title (also the album unless ``album`` is given).
        author: written as artist and album artist.
        language: BCP 47 / ISO 639 code ("en", "zh-CN", "yue", "eng"); stored as ISO 639-2 in the track header.
        cover: image bytes (JPEG or PNG) or None.
        cover_type: "image/jpeg" or "image/png"; guessed from the bytes when None.
        album / genre / year: optional extra tags.
    """

    title: str
    author: str
    language: str = "und"
    cover: bytes | None = None
    cover_type: str | None = None
    album: str | None = None
    genre: str = "Audiobook"
    year: str | None = None


@dataclass(frozen=True)
class ChapterMark:
    """A chapter as written into the book (seconds from the start of the book)."""

    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class M4bResult:
    """The finished book."""

    path: Path
    chapters: tuple[ChapterMark, ...]
    duration_s: float
    sample_rate: int
    stream_copied: bool


def iso639_2(language: str) -> str:
    """ISO 639-2 (three-letter) code for a BCP 47 / ISO 639 tag: "zh-CN" -> "zho", "en" -> "eng", "yue" -> "yue"."""
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    if len(primary) == 3 and primary.isalpha():
        return primary
    return _ISO639_1_TO_2.get(primary, "und")


def build_m4b(
    chapter_files: Sequence[tuple[str, ChapterSource]],
    metadata: BookMetadata,
    out_path: str | os.PathLike[str],
    *,
    bit_rate: int = 64_000,
    sample_rate: int = 44100,
    mode: Literal["auto", "copy", "encode"] = "auto",
) -> M4bResult:
    """Write one M4B from ``(title, file)`` chapters, in order.

    Args:
        chapter_files: (chapter title, local path or bytes of any audio file PyAV decodes) per chapter.
        metadata: the book's tags and cover.
        out_path: the local .m4b to write (replaced atomically when complete).
        bit_rate: AAC bit rate when encoding (bit/s).
        sample_rate: the book's rate when encoding; with ``copy`` the chapters' own rate is kept.
        mode: "copy" (stream copy, AAC chapters only), "encode" (decode + encode once), or "auto".

    Raises:
        ValueError: no chapters, or ``mode="copy"`` with chapters that cannot be copied.
    """
    if not chapter_files:
        raise ValueError("build_m4b: no chapters")
    out_path = Path(out_path)
    copy_rate = _copy_rate(chapter_files) if mode != "encode" else None
    if mode == "copy" and copy_rate is None:
        raise ValueError("build_m4b: mode='copy' needs AAC chapters with one rate, channel count and decoder config")
    use_copy = copy_rate is not None and (mode == "copy" or copy_rate == sample_rate)
    rate = copy_rate if use_copy else sample_rate
    options = {"brand": "M4B ", "movie_timescale": str(rate)}  # a movie time scale of 1/rate: sample-exact edit list
    tmp = out_path.with_name(f".{out_path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        with av.open(str(tmp), "w", format="ipod", options=options) as out:
            mux = _mux_copy if use_copy else _mux_encode
            sources = [src for _, src in chapter_files]
            starts, total = mux(out, sources, iso639_2(metadata.language), rate, bit_rate)
            titles = [_chpl_safe(title) for title, _ in chapter_files]
            out.set_chapters(_chapters(titles, starts, total, rate))
        _write_tags(tmp, metadata)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    marks = tuple(
        ChapterMark(t, s / rate, e / rate) for t, s, e in zip(titles, starts, [*starts[1:], total], strict=True)
    )
    logger.info(
        "built %s: %d chapters, %.1f s, %s", out_path, len(marks), total / rate, "copied" if use_copy else "encoded"
    )
    return M4bResult(out_path, marks, total / rate, rate, use_copy)


def _open(source: ChapterSource) -> av.container.InputContainer:
    return av.open(io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source))


def _signature(source: ChapterSource) -> tuple[str, int, int, bytes, Fraction]:
    with _open(source) as container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        return ctx.name, int(stream.rate), int(stream.channels), bytes(ctx.extradata or b""), stream.time_base


def _copy_rate(chapter_files: Sequence[tuple[str, ChapterSource]]) -> int | None:
    """The chapters' rate when all are AAC with one rate, channel count and decoder config (time base 1/rate)."""
    signatures = {_signature(src) for _, src in chapter_files}
    if len(signatures) != 1:
        return None
    codec, rate, _, _, time_base = next(iter(signatures))
    return rate if codec == "aac" and time_base == Fraction(1, rate) else None


def _mux_copy(
    out: av.container.OutputContainer, sources: list[ChapterSource], language: str, _rate: int, _bit_rate: int
) -> tuple[list[int], int]:
    """Stream-copy the AAC packets of every chapter, end to end; returns (chapter starts, total) in samples."""
    starts: list[int] = []
    pos: int | None = None
    ostream = None
    held, held_trimmed = None, 0  # the last packet is muxed when the next arrives: the book's last keeps its trim
    for source in sources:
        with _open(source) as container:
            stream = container.streams.audio[0]
            if ostream is None:
                ostream = out.add_stream_from_template(stream)
                ostream.metadata["language"] = language
            frame = stream.codec_context.frame_size or 1024
            for i, packet in enumerate(_packets(container, stream)):
                if i == 0:
                    pos = int(packet.pts) if pos is None else pos  # chapter 1 keeps its negative (priming) start
                    starts.append(0 if not starts else pos - int(packet.pts))  # skip this chapter's priming
                if held is not None:
                    out.mux(held)
                held_trimmed = int(packet.duration or frame)
                packet.pts = packet.dts = pos
                packet.stream = ostream
                packet.duration = max(held_trimmed, frame)
                pos += packet.duration
                held = packet
    if held is None or pos is None or ostream is None:
        raise ValueError("build_m4b: the chapters hold no audio packets")
    total = pos - held.duration + held_trimmed
    held.duration = held_trimmed
    out.mux(held)
    return starts, total


def _packets(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.Packet]:
    for packet in container.demux(stream):
        if packet.size and packet.pts is not None:
            yield packet


def _mux_encode(
    out: av.container.OutputContainer, sources: list[ChapterSource], language: str, rate: int, bit_rate: int
) -> tuple[list[int], int]:
    """Decode every chapter, resample to ``rate`` mono, encode once as AAC; returns (starts, total) in samples."""
    ostream = out.add_stream("aac", rate=rate, layout="mono")
    ostream.bit_rate = bit_rate
    ostream.metadata["language"] = language
    starts: list[int] = []
    pts = 0
    for source in sources:
        starts.append(pts)
        with AudioReader(source) as reader:
            for block in _resampled(reader, rate):
                pts = _encode(out, ostream, block, pts, rate)
    for packet in ostream.encode(None):
        out.mux(packet)
    return starts, pts


def _resampled(reader: AudioReader, rate: int) -> Iterator[np.ndarray]:
    if reader.sample_rate == rate:
        yield from reader.blocks()
        return
    resampler = soxr.ResampleStream(reader.sample_rate, rate, 1, dtype="float32")
    for block in reader.blocks():
        yield resampler.resample_chunk(block)
    yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def _encode(out: av.container.OutputContainer, stream: av.AudioStream, block: np.ndarray, pts: int, rate: int) -> int:
    if len(block) == 0:
        return pts
    data = np.clip(np.ascontiguousarray(block, dtype=np.float32), -1.0, 1.0)
    frame = av.AudioFrame.from_ndarray(data[None, :], format="flt", layout="mono")
    frame.sample_rate, frame.pts = rate, pts
    for packet in stream.encode(frame):
        out.mux(packet)
    return pts + len(block)


def _chpl_safe(title: str) -> str:
    """The title cut to what a Nero ``chpl`` entry holds (255 UTF-8 bytes), at a character boundary."""
    raw = title.encode("utf-8")
    return title if len(raw) <= _CHPL_TITLE_BYTES else raw[:_CHPL_TITLE_BYTES].decode("utf-8", errors="ignore")


def _chapters(titles: list[str], starts: list[int], total: int, rate: int) -> list[dict]:
    ends = [*starts[1:], total]
    return [
        {"id": i + 1, "start": s, "end": e, "time_base": Fraction(1, rate), "metadata": {"title": t}}
        for i, (t, s, e) in enumerate(zip(titles, starts, ends, strict=True))
    ]


def _write_tags(path: Path, metadata: BookMetadata) -> None:
    mp4 = MP4(str(path))
    if mp4.tags is None:
        mp4.add_tags()
    tags = mp4.tags
    tags["\xa9nam"] = [metadata.title]
    tags["\xa9ART"] = [metadata.author]
    tags["aART"] = [metadata.author]
    tags["\xa9alb"] = [metadata.album or metadata.title]
    tags["\xa9gen"] = [metadata.genre]
    tags["stik"] = [2]  # media kind: Audiobook
    if metadata.year:
        tags["\xa9day"] = [metadata.year]
    if metadata.cover:
        tags["covr"] = [MP4Cover(metadata.cover, imageformat=_cover_format(metadata.cover, metadata.cover_type))]
    mp4.save()


def _cover_format(data: bytes, mime: str | None) -> int:
    kind = (mime or "").lower()
    if "png" in kind or (not kind and data[:8] == b"\x89PNG\r\n\x1a\n"):
        return MP4Cover.FORMAT_PNG
    if "jp" in kind or (not kind and data[:2] == b"\xff\xd8"):
        return MP4Cover.FORMAT_JPEG
    raise ValueError(f"cover must be JPEG or PNG (got type {mime!r}, bytes {data[:4]!r})")
