"""Narration markup: pauses, voice passages, literal brackets, errors."""

from __future__ import annotations

import pytest

from pipelines.books import BookError, Span, parse_markup, strip_markup
from pipelines.books.markup import total_pause_seconds


WHERE = "chapter 3 'The Storm'"


def test_text_pauses_and_paragraphs() -> None:
    spans = parse_markup("Hello [pause 1.5s] world.\nSame paragraph.\n\nNext [PAUSE 800ms]one.", where=WHERE)
    assert spans == [
        Span("text", "Hello"),
        Span("pause", seconds=1.5),
        Span("text", "world. Same paragraph."),
        Span("paragraph"),
        Span("text", "Next"),
        Span("pause", seconds=0.8),
        Span("text", "one."),
    ]


def test_voice_passage_spans_paragraphs() -> None:
    text = "Narrated.\n\n[voice narrator_b]\n\nShe said hi.\n\n[pause 2s]\n\nAnd left.[/voice] Back."
    spans = parse_markup(text, where=WHERE, known_voices={"narrator_b"})
    assert spans == [
        Span("text", "Narrated."),
        Span("paragraph"),
        Span("text", "She said hi.", voice_id="narrator_b"),
        Span("paragraph"),
        Span("pause", seconds=2.0, voice_id="narrator_b"),
        Span("paragraph"),
        Span("text", "And left.", voice_id="narrator_b"),
        Span("text", "Back."),
    ]


def test_literal_brackets_stay_text() -> None:
    text = "He [sic] said [1] and [citation needed], [Editor's note: fine], [page 12]."
    assert parse_markup(text, where=WHERE) == [Span("text", text)]


def test_cjk_text_joins_without_spaces() -> None:
    assert parse_markup("天黑了，\n风很大。[pause 1s]雨。", where=WHERE) == [
        Span("text", "天黑了，风很大。"),
        Span("pause", seconds=1.0),
        Span("text", "雨。"),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi [pasue 1s] there", "paragraph 1: unknown tag [pasue 1s]; known: pause, voice"),
        ("Hi [wait 2s] there", "paragraph 1: unknown tag [wait 2s]; known: pause, voice"),
        ("Hi [/pause] there", "paragraph 1: unknown tag [/pause]; known: pause, voice"),
        ("Hi [pause] there", "paragraph 1: bad pause value in [pause]"),
        ("Hi [pause soon] there", "paragraph 1: bad pause value in [pause soon]"),
        ("Hi [pause 45s] there", "paragraph 1: bad pause value in [pause 45s]: 45 s is longer than 30 s"),
        ("One.\n\nTwo [/voice]", "paragraph 2: stray [/voice]"),
        ("One.\n\n[voice a] Two.\n\nThree.", "paragraph 2: [voice a] is never closed with [/voice]"),
        ("[voice a] x [voice b] y [/voice]", "paragraph 1: [voice b] inside [voice a] (opened in paragraph 1)"),
        ("[voice] x [/voice]", "paragraph 1: [voice] needs a voice id"),
        ("[voice c] x [/voice]", "paragraph 1: unknown voice 'c' in [voice c]; known: a, b"),
        ("[voice a] x [/voice a]", "paragraph 1: [/voice a]: the closing tag takes no argument"),
    ],
)
def test_markup_errors_name_where_and_problem(text: str, problem: str) -> None:
    with pytest.raises(BookError) as info:
        parse_markup(text, where=WHERE, known_voices={"a", "b"})
    assert str(info.value).startswith(f"{WHERE}, {problem}")
    assert "\n" not in str(info.value)


def test_any_safe_voice_without_known_voices() -> None:
    spans = parse_markup("[voice anyone]x[/voice]", where=WHERE, known_voices=None)
    assert spans == [Span("text", "x", voice_id="anyone")]
    with pytest.raises(BookError, match="voice id 'a/b' must match"):
        parse_markup("[voice a/b]x[/voice]", where=WHERE)


def test_strip_markup_and_pause_total() -> None:
    text = "Hello [pause 1s] world [voice b]there[/voice] [sic] [pause 500ms] [pause 99s] [pasue 2s]"
    assert strip_markup(text) == "Hello world there [sic] [pasue 2s]"
    assert total_pause_seconds(text) == pytest.approx(1.5 + 30.0)  # a pause over the limit counts as the limit
    assert strip_markup("no tags  here") == "no tags  here"
