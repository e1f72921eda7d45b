"""A book as engine rows: every sentence-sized segment of every chapter is one row of the synthesis stage.

Each chapter becomes, in order: its title (boundary ``title``), then its text, paragraph by paragraph, cut into
sentences with the frontend's segmentation (``sovits_core.text.segment.split_text``; a sentence longer than
``max_chars`` is cut at its clauses). Markup decides the voice of each passage (``[voice x]…[/voice]``) and adds
explicit pauses (``[pause 1.5s]``), which are carried as ``pause_after`` of the segment before them (or of the
chapter's title). Row ids are ``c{chapter:03d}-s{segment:05d}``: stable, so reruns and re-renders find them again.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from manifests.utterances import OPTIONAL, UTTERANCE_SCHEMA


SEGMENT_FIELDS = [
    pa.field("chapter", pa.int32(), nullable=False),  # the chapter's index in the book (as `inspect` lists it)
    pa.field("segment", pa.int32(), nullable=False),  # position within the chapter (the title is segment 0)
    pa.field("boundary", pa.string(), nullable=False),  # after it: clause | sentence | paragraph | title | end
    pa.field("pause_after", pa.float64(), nullable=False),  # explicit pause (markup) after it, seconds
]
SEGMENT_SCHEMA = pa.schema([*UTTERANCE_SCHEMA, *SEGMENT_FIELDS])
MAX_SEGMENT_CHARS = 300
_CJK_LANGS = ("zh", "ja", "yue")


def segment_id(chapter: int, segment: int) -> str:
    return f"c{chapter:03d}-s{segment:05d}"


@dataclass(frozen=True)
class SegmentRow:
    """One segment to synthesize."""

    chapter: int
    segment: int
    text: str
    voice_id: str
    lang: str
    boundary: str
    pause_after: float = 0.0


def _joiner(lang: str, left: str, right: str) -> str:
    if lang in _CJK_LANGS or (left and ord(left[-1]) > 0x2E80) or (right and ord(right[0]) > 0x2E80):
        return ""
    return " "


_SENTENCE_END = re.compile(r"""[.!?。！？…]+["'”’」』）)\]]*(?:\s+|$)|[。！？…]+["'”’」』）)\]]*""")
_CLAUSE_END = re.compile(r"""[,;:，；：、—]+["'”’」』）)]*\s*""")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof mt vs etc no vol fig jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


def _is_abbreviation(text: str, end: int) -> bool:
    """Whether a full stop at ``end`` closes an abbreviation (``Dr.``) or an initial (``J.``), not a sentence."""
    word = re.search(r"(\w+)\.$", text[:end])
    return bool(word) and (
        word.group(1).lower() in _ABBREVIATIONS or len(word.group(1)) == 1 and word.group(1).isupper()
    )


def _cut(text: str, pattern: re.Pattern[str], sentences: bool = False) -> list[str]:
    pieces, start = [], 0
    for match in pattern.finditer(text):
        stop = match.end()
        if stop >= len(text) or (sentences and _is_abbreviation(text, match.start() + 1)):
            continue
        pieces.append(text[start:stop].strip())
        start = stop
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def _pack(pieces: list[str], lang: str, max_chars: int) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        joined = out[-1] + _joiner(lang, out[-1], piece) + piece if out else piece
        if out and len(joined) <= max_chars:
            out[-1] = joined
        else:
            out.append(piece)
    return out


def sentences(paragraph: str, lang: str, max_chars: int = MAX_SEGMENT_CHARS) -> list[str]:
    """The paragraph's sentences, verbatim (closing quotes stay with their sentence); a sentence over ``max_chars`` is
    cut at its clauses, and a clause still too long at ``max_chars`` by the frontend's segmentation."""
    from sovits_core.text.segment import split_text

    text = " ".join(paragraph.split()) if lang not in _CJK_LANGS else "".join(paragraph.split())
    out: list[str] = []
    for sentence in _cut(text, _SENTENCE_END, sentences=True):
        if len(sentence) <= max_chars:
            out.append(sentence)
            continue
        for clause in _pack(_cut(sentence, _CLAUSE_END), lang, max_chars):
            if len(clause) <= max_chars:
                out.append(clause)
            else:
                out.extend(s.text for s in split_text(clause, method="cut0", max_chars=max_chars, min_chars=0))
    return out


def chapter_segments(
    index: int, title: str, spans: list, voice: str, lang: str, max_chars: int = MAX_SEGMENT_CHARS
) -> list[SegmentRow]:
    """The segments of one chapter from its markup spans (``pipelines.books.markup.Span``)."""
    rows: list[SegmentRow] = []
    if title.strip():
        rows.append(SegmentRow(index, 0, title.strip(), voice, lang, "title"))
    for run in _runs(spans):
        if run.seconds:  # an explicit pause: after the segment before it
            if rows:
                rows[-1] = replace(rows[-1], pause_after=rows[-1].pause_after + run.seconds)
            continue
        if run.new_paragraph and rows and rows[-1].boundary == "sentence":
            rows[-1] = replace(rows[-1], boundary="paragraph")
        for sentence in sentences(run.text, lang, max_chars):
            rows.append(SegmentRow(index, len(rows), sentence, run.voice or voice, lang, "sentence"))
    if rows:
        rows[-1] = replace(rows[-1], boundary="end")
    return rows


@dataclass(frozen=True)
class _Run:
    text: str = ""
    voice: str | None = None
    new_paragraph: bool = False
    seconds: float = 0.0


def _runs(spans: list) -> Iterator[_Run]:
    """Text in one voice within one paragraph, or a pause, in order."""
    buffer, voice, new_paragraph = "", None, True
    for span in spans:
        if span.kind == "text" and (span.voice_id == voice or not buffer.strip()):
            buffer, voice = buffer + span.text, span.voice_id
            continue
        if buffer.strip():
            yield _Run(buffer, voice, new_paragraph)
            new_paragraph = False
        buffer = ""
        if span.kind == "paragraph":
            new_paragraph = True
        elif span.kind == "pause":
            yield _Run(seconds=span.seconds)
        else:  # text in another voice
            buffer, voice = span.text, span.voice_id
    if buffer.strip():
        yield _Run(buffer, voice, new_paragraph)


def segment_seed(book_key: str, row_id: str) -> int:
    """A row's seed: stable for a given book and segment."""
    return zlib.crc32(f"{book_key}:{row_id}".encode())


def rows_table(segments: list[SegmentRow], book_key: str, sampling: dict | None = None) -> pa.Table:
    """Plan rows (:data:`SEGMENT_SCHEMA`) for the segments, in book order."""
    defaults = {name: default for name, (_, default, _) in OPTIONAL.items() if name not in ("lang", "seed")}
    defaults.update(sampling or {})
    rows = []
    for n, seg in enumerate(segments):
        row_id = segment_id(seg.chapter, seg.segment)
        rows.append({"row": n, "id": row_id, "text": seg.text, "voice_id": seg.voice_id, "lang": seg.lang,
                     "seed": segment_seed(book_key, row_id), **defaults, "chapter": seg.chapter,
                     "segment": seg.segment, "boundary": seg.boundary, "pause_after": seg.pause_after})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SEGMENT_SCHEMA)
