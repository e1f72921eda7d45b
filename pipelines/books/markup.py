"""Inline narration controls in a chapter's text: pauses and voice changes.

Two tags, case-insensitive, with optional spaces inside the brackets:

* ``[pause 1.5s]``, ``[pause 800ms]`` (also ``sec``): a silence of that length, 0 to `MAX_PAUSE_SECONDS`;
* ``[voice narrator_b]`` ... ``[/voice]``: the passage between them is read by another voice. A passage may span
  paragraphs; passages do not nest (open the next one after closing the last).

Brackets that are not tags stay text: ``[sic]``, ``[1]``, ``[citation needed]``, ``[Editor's note: ...]``. A bracket
is taken for a *mistyped* tag, and refused, when it is a closing tag (``[/pasue]``), when its name is one edit away
from a known tag (``[pasue 1s]``, ``[voise b]``), or when its argument is a duration (``[wait 2s]``). There is no
escape syntax: a literal ``[pause 1s]`` cannot be written.

`parse_markup` turns a text into `Span` s (text, pause and paragraph boundaries); `strip_markup` removes the tags
leniently (for word counts and display) and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from manifests.common import check_id
from pipelines.books.errors import BookError
from pipelines.books.textutil import join_lines


__all__ = [
    "KNOWN_TAGS",
    "MAX_PAUSE_SECONDS",
    "TAG_RE",
    "Span",
    "parse_markup",
    "split_tags",
    "strip_markup",
    "total_pause_seconds",
]

MAX_PAUSE_SECONDS = 30.0
KNOWN_TAGS = ("pause", "voice")
TEXT, PAUSE, PARAGRAPH = "text", "pause", "paragraph"
TAG_RE = re.compile(r"\[\s*(/?)\s*([A-Za-z][A-Za-z_-]*)(?:\s+([^\[\]\n]*?))?\s*\]")
_KNOWN_TAG_RE = re.compile(r"\[\s*/?\s*(?:pause|voice)(?:\s+[^\[\]\n]*?)?\s*\]", re.IGNORECASE)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|secs?|seconds?)", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_MAX_LISTED = 10


@dataclass(frozen=True)
class Span:
    """One piece of a parsed chapter.

    Attributes:
        kind: "text" (words to say), "pause" (a silence of `seconds`) or "paragraph" (a paragraph boundary).
        text: the words of a text span ("" otherwise), whitespace-normalised.
        seconds: the length of a pause (0.0 otherwise).
        voice_id: the voice of a ``[voice ...]`` passage the span lies in; None for the chapter's own voice (always
            None for paragraph spans).
    """

    kind: str
    text: str = ""
    seconds: float = 0.0
    voice_id: str | None = None


class _Parser:
    """State of one `parse_markup` call: spans so far, the open voice passage, the paragraph being read."""

    def __init__(self, where: str, known_voices: set[str] | None) -> None:
        self.where = where
        self.known_voices = known_voices
        self.spans: list[Span] = []
        self.voice: str | None = None
        self.voice_opened = 0
        self.paragraph = 0
        self.pending_break = False

    def fail(self, problem: str) -> BookError:
        return BookError(f"{self.where}, paragraph {self.paragraph}: {problem}")

    def add(self, span: Span) -> None:
        if self.pending_break and self.spans and self.spans[-1].kind != PARAGRAPH:
            self.spans.append(Span(PARAGRAPH))
        self.pending_break = False
        if (
            span.kind == TEXT
            and self.spans
            and self.spans[-1].kind == TEXT
            and self.spans[-1].voice_id == span.voice_id
        ):
            span = Span(TEXT, join_lines([self.spans.pop().text, span.text]), voice_id=span.voice_id)
        self.spans.append(span)

    def add_text(self, text: str) -> None:
        text = join_lines(text.split("\n"))
        if text:
            self.add(Span(TEXT, text, voice_id=self.voice))

    def read_paragraph(self, para: str) -> None:
        self.paragraph += 1
        pos = 0
        for match in TAG_RE.finditer(para):
            name = self.tag_name(match)
            if name is None:
                continue
            self.add_text(para[pos : match.start()])
            pos = match.end()
            self.handle(name, match)
        self.add_text(para[pos:])
        self.pending_break = True

    def tag_name(self, match: re.Match[str]) -> str | None:
        """The tag's name ("pause", "voice", "/voice"), None for literal text; raises for a mistyped tag."""
        closing, name, arg = match.group(1), match.group(2).lower(), (match.group(3) or "").strip()
        if name in KNOWN_TAGS and (not closing or name == "voice"):
            return closing + name
        if closing or any(_one_edit_apart(name, known) for known in KNOWN_TAGS) or _DURATION.fullmatch(arg):
            raise self.fail(f"unknown tag {match.group(0)}; known: {', '.join(KNOWN_TAGS)}")
        return None

    def handle(self, name: str, match: re.Match[str]) -> None:
        tag, arg = match.group(0), (match.group(3) or "").strip()
        if name == "pause":
            self.add(Span(PAUSE, seconds=self.pause_seconds(tag, arg), voice_id=self.voice))
        elif name == "voice":
            self.open_voice(tag, arg)
        elif arg:
            raise self.fail(f"{tag}: the closing tag takes no argument (write [/voice])")
        elif self.voice is None:
            raise self.fail("stray [/voice] (no [voice ...] passage is open)")
        else:
            self.voice = None

    def pause_seconds(self, tag: str, arg: str) -> float:
        match = _DURATION.fullmatch(arg)
        if match is None:
            raise self.fail(f"bad pause value in {tag}: give a duration such as [pause 1.5s] or [pause 800ms]")
        seconds = float(match.group(1)) / (1000.0 if match.group(2).lower() == "ms" else 1.0)
        if seconds > MAX_PAUSE_SECONDS:
            raise self.fail(f"bad pause value in {tag}: {seconds:g} s is longer than {MAX_PAUSE_SECONDS:g} s")
        return seconds

    def open_voice(self, tag: str, voice_id: str) -> None:
        if self.voice is not None:
            raise self.fail(
                f"{tag} inside [voice {self.voice}] (opened in paragraph {self.voice_opened}); "
                "close it with [/voice] first (voice passages do not nest)"
            )
        if not voice_id:
            raise self.fail(f"{tag} needs a voice id, e.g. [voice narrator_b]")
        reason = check_id(voice_id, "voice id")
        if reason:
            raise self.fail(f"{tag}: {reason}")
        if self.known_voices is not None and voice_id not in self.known_voices:
            raise self.fail(f"unknown voice {voice_id!r} in {tag}; known: {_listing(self.known_voices)}")
        self.voice, self.voice_opened = voice_id, self.paragraph

    def finish(self) -> list[Span]:
        if self.voice is not None:
            self.paragraph = self.voice_opened
            raise self.fail(f"[voice {self.voice}] is never closed with [/voice]")
        return self.spans


def parse_markup(text: str, *, where: str, known_voices: set[str] | None = None) -> list[Span]:
    """A chapter's text as spans: text, pauses and paragraph boundaries (blank lines), tags applied.

    Args:
        text: the chapter text (paragraphs separated by blank lines; lines inside one are joined).
        where: what the text is, for error messages, e.g. ``"chapter 3 'The Storm'"`` (`Chapter.where`).
        known_voices: the voice ids a ``[voice ...]`` tag may name; None accepts any safe id.

    Returns:
        Spans in reading order; consecutive text of one voice is merged, paragraph spans only separate non-empty
        paragraphs (never first or last).

    Raises:
        BookError: ``"{where}, paragraph N: {problem}"`` for an unknown voice, a ``[voice]`` passage left open or
            nested, a stray ``[/voice]``, a bad pause value, or a mistyped tag.
    """
    parser = _Parser(where, known_voices)
    for para in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")):
        parser.read_paragraph(para)
    return parser.finish()


def split_tags(text: str) -> list[tuple[bool, str]]:
    """`text` cut into ``(is_tag, piece)`` pieces around the known tags (for code that must not touch the tags)."""
    pieces: list[tuple[bool, str]] = []
    pos = 0
    for match in _KNOWN_TAG_RE.finditer(text):
        pieces += [(False, text[pos : match.start()]), (True, match.group(0))]
        pos = match.end()
    pieces.append((False, text[pos:]))
    return [(is_tag, piece) for is_tag, piece in pieces if piece]


def strip_markup(text: str) -> str:
    """`text` without its pause and voice tags (malformed ones too); other brackets stay. Never raises."""
    if _KNOWN_TAG_RE.search(text) is None:
        return text
    return re.sub(r"[^\S\n]{2,}", " ", _KNOWN_TAG_RE.sub(" ", text)).strip()


def total_pause_seconds(text: str) -> float:
    """Sum of the well-formed pauses in `text` (malformed ones count 0; use `parse_markup` to find them)."""
    total = 0.0
    for match in _KNOWN_TAG_RE.finditer(text):
        inner = TAG_RE.fullmatch(match.group(0))
        if inner is None or inner.group(1) or inner.group(2).lower() != "pause":
            continue
        duration = _DURATION.fullmatch((inner.group(3) or "").strip())
        if duration:
            seconds = float(duration.group(1)) / (1000.0 if duration.group(2).lower() == "ms" else 1.0)
            total += min(seconds, MAX_PAUSE_SECONDS)
    return total


def _one_edit_apart(a: str, b: str) -> bool:
    """True when `a` != `b` and one substitution, insertion, deletion or swap of two neighbours turns one into the
    other (``pasue`` / ``pause``, ``paus`` / ``pause``, ``voise`` / ``voice``)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swap = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        return len(diff) == 1 or swap
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _listing(names: set[str]) -> str:
    """Up to ten names, sorted, for a message ("none" for no name)."""
    known = sorted(names)
    more = f" (+{len(known) - _MAX_LISTED} more)" if len(known) > _MAX_LISTED else ""
    return (", ".join(known[:_MAX_LISTED]) + more) or "none"
