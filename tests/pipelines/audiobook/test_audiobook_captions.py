"""Captions: WebVTT and SRT parse back to the same cues; long cues are split into readable ones."""

from __future__ import annotations

import html
import re

import pytest
from audiobook_signals import ListSink

from pipelines.audiobook.captions import (
    CaptionLayout,
    Cue,
    cues_from_timings,
    layout_cues,
    split_cue,
    timestamp,
    to_srt,
    to_webvtt,
    width,
    wrap_lines,
)
from pipelines.audiobook.stitch import Piece, StitchSettings, stitch
from pipelines.storage import Storage


LONG_EN = (
    "The storm came in from the sea before dawn. Nobody in the village had seen clouds like these, black and low, "
    "rolling over the hills & the fields <like smoke>; the fishermen pulled their boats high onto the sand."
)
LONG_ZH = "第一章 风暴来临之前，村子里一片寂静。人们都在准备过冬的粮食，孩子们在田野里奔跑嬉戏，老人们坐在门口晒太阳。"
_TIME = r"(\d{2,}):(\d{2}):(\d{2})[.,](\d{3})"


def _seconds(match: tuple[str, ...]) -> float:
    h, m, s, ms = (int(x) for x in match)
    return h * 3600 + m * 60 + s + ms / 1000


def _parse(document: str, vtt: bool) -> list[Cue]:
    """A small WebVTT / SRT reader: blocks separated by blank lines, an id line, a timing line, text lines."""
    blocks = document.strip("\n").split("\n\n")
    if vtt:
        assert blocks.pop(0) == "WEBVTT"
    cues = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        sep = "." if vtt else ","
        timing = re.fullmatch(rf"{_TIME} --> {_TIME}", lines[1])
        assert timing is not None and sep in lines[1] and ("," if vtt else ".") not in lines[1]
        text = "\n".join(lines[2:])
        if vtt:
            assert "<" not in text and re.search(r"&(?!amp;|lt;|gt;)", text) is None  # escaped
            text = html.unescape(text)
        cues.append(Cue(_seconds(timing.groups()[:4]), _seconds(timing.groups()[4:]), text))
    return cues


def _rounded(cues: list[Cue]) -> list[Cue]:
    return [Cue(round(c.start, 3), round(c.end, 3), c.text) for c in cues]


CUES = [
    Cue(0.75, 2.5, "Hello & welcome."),
    Cue(3.1, 17.9, LONG_EN),
    Cue(18.5, 33.0, LONG_ZH),
    Cue(3725.25, 3727.0, "x"),
]


@pytest.mark.parametrize("vtt", [True, False])
def test_documents_parse_back_to_the_same_cues(vtt: bool) -> None:
    document = to_webvtt(CUES) if vtt else to_srt(CUES)
    assert _parse(document, vtt) == _rounded(layout_cues(CUES))
    assert ("01:02:05.250 --> 01:02:07.000" if vtt else "01:02:05,250 --> 01:02:07,000") in document
    if vtt:
        assert "&amp;" in document and "&lt;like smoke&gt;" in document.replace("\n", " ")
    else:
        assert "<like smoke>" in document.replace("\n", " ")


def test_long_cues_are_split_at_punctuation_within_the_limits() -> None:
    layout = CaptionLayout()
    for cue in (CUES[1], CUES[2]):
        parts = layout_cues([cue], layout)
        assert len(parts) > 1
        assert parts[0].start == cue.start and parts[-1].end == cue.end
        for a, b in zip(parts, parts[1:], strict=False):
            assert a.end == pytest.approx(b.start)  # contiguous, no overlap
        for part in parts:
            assert part.end - part.start <= layout.max_seconds + 1e-9
            lines = part.text.split("\n")
            assert len(lines) <= layout.max_lines and all(width(line) <= layout.max_width for line in lines)
        joined = "".join(p.text.replace("\n", "" if cue is CUES[2] else " ") for p in parts)
        assert joined.replace(" ", "") == cue.text.replace(" ", "")  # nothing lost, nothing added
    zh_parts = [p.text.replace("\n", "") for p in layout_cues([CUES[2]])]
    assert all(p[-1] in "。，" for p in zh_parts)  # split after Chinese punctuation
    en_parts = split_cue(CUES[1])
    assert en_parts[0].text.endswith(".")  # sentence punctuation is preferred


def test_wrapping_and_widths() -> None:
    assert width("风暴") == 4 and width("abc") == 3
    lines = wrap_lines(LONG_ZH, 42)
    assert all(width(line) <= 42 for line in lines) and "".join(lines) == LONG_ZH.replace(" ", "", 0)
    assert not any(line.startswith(("，", "。")) for line in lines)  # punctuation stays with its character
    assert wrap_lines("a " + "x" * 50, 20) == ["a", "x" * 20, "x" * 20, "x" * 10]
    assert timestamp(0.0005) == "00:00:00.001" and timestamp(360000.0, ",") == "100:00:00,000"
    with pytest.raises(ValueError):
        Cue(2.0, 1.0, "backwards")


def test_cues_come_from_the_stitch_timeline(storage: Storage, segment_keys: list[str]) -> None:
    pieces = [
        Piece.audio(segment_keys[0], "title", text="第一章 风暴"),
        Piece.pause(0.5),
        Piece.audio(segment_keys[1], "sentence", text="It began to rain."),
        Piece.audio(segment_keys[2]),
    ]
    result = stitch(storage, pieces, StitchSettings(target_lufs=None), ListSink(44100))
    cues = cues_from_timings(result.timings)
    assert [c.text for c in cues] == ["第一章 风暴", "It began to rain."]  # pauses and text-less pieces skipped
    assert cues[0].start == pytest.approx(result.timings[0].start_s)
    assert cues[1].end == pytest.approx(result.timings[2].end_s)
    assert _parse(to_webvtt(cues), vtt=True) == _rounded(cues)
