"""Split long text into synthesis segments (upstream ``cut0`` … ``cut5``), keeping paragraph and sentence structure.

The six methods reproduce upstream's ``text_segmentation_method.py`` exactly (:func:`apply_cut` returns the very
string upstream's ``cutN`` returns):

- ``cut0``: no cut; ``cut1``: every 4 sentences; ``cut2``: ~50 characters; ``cut3``: at the Chinese full stop
  ``。``; ``cut4``: at the English full stop ``.`` (not between digits); ``cut5``: at any punctuation mark.

:func:`split_text` adds what a long-form (audiobook) stage needs on top: paragraphs are kept apart and numbered, each
segment says whether it closes a sentence and/or a paragraph (so pauses can be placed), and no segment is longer
than ``max_chars`` (a longer piece is broken at its best break: sentence end, then clause punctuation, then a space,
never inside a word or number when avoidable). With ``lang`` given it also applies upstream's preprocessing
(``TextPreprocessor.preprocess`` / ``pre_seg_text``): repeated punctuation collapsed, a ``。``/``.`` lead-in before a
very short first sentence, short pieces merged, and closing punctuation added, so that each segment's text is exactly
what upstream feeds to ``get_phones_and_bert``. One deliberate difference: short-piece merging never crosses a
paragraph boundary (upstream merges across lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .errors import TextError
from .frontend import clean_input, resolve_lang


SPLIT_METHODS: tuple[str, ...] = ("cut0", "cut1", "cut2", "cut3", "cut4", "cut5")
DEFAULT_MAX_CHARS = 510  # upstream's split_big_text limit (BERT's 512 tokens minus [CLS]/[SEP])
MIN_SEGMENT_CHARS = 5  # upstream merge_short_text_in_array threshold
_MIN_MAX_CHARS = 8

# Upstream's sentence-splitting characters (``splits``) and the characters its filters treat as "only punctuation".
_SPLITS = frozenset("，。？！,.?!~:：—…")
_PUNCT_ONLY = frozenset("!?…,.- ")
_CUT5_MARKS = frozenset(",.;?!、，。？！：…")
_REPEATABLE = "!?…,.-"
_REPEATED_PUNCT = re.compile(f"([{re.escape(_REPEATABLE)}])([{re.escape(_REPEATABLE)}])+")
_FIRST_SENTENCE = re.compile("[" + "".join(re.escape(c) for c in sorted(_SPLITS)) + "]")
_NO_WORD = re.compile(r"\W+")

# Segment flags and hard breaks.
_SENTENCE_END = frozenset("。．.!?！？…~～")
_CLOSERS = "\"'”’」』）)】》]"
_CLAUSE_MARKS = frozenset("，,;；：:、—-")
_BREAK_MIN_FRACTION = 0.3


class Boundary(Enum):
    """The boundary *after* a segment, weakest first: it decides the pause that follows the segment."""

    CLAUSE = "clause"
    SENTENCE = "sentence"
    PARAGRAPH = "paragraph"

    def stronger(self, other: Boundary) -> Boundary:
        """The stronger of two boundaries (e.g. what remains when the segment between them is dropped)."""
        order = list(Boundary)
        return max(self, other, key=order.index)


@dataclass(frozen=True)
class Segment:
    """One synthesis unit of a longer text.

    Attributes:
        text: the segment's text.
        paragraph_index: 0-based index of its paragraph (empty paragraphs are not counted).
        sentence_index: 0-based index, within the paragraph, of the sentence the segment belongs to: the number of
            sentence-closing segments before it, so the pieces of one cut-up sentence share an index (a method that
            groups several sentences into one segment, e.g. ``cut1``, makes the group count as one).
        ends_sentence: the segment closes a sentence (sentence-final punctuation, a ``cut3`` / ``cut4`` full stop, or
            the end of the paragraph).
        ends_paragraph: the segment is the last of its paragraph.
    """

    text: str
    paragraph_index: int
    sentence_index: int
    ends_sentence: bool
    ends_paragraph: bool

    @property
    def boundary(self) -> Boundary:
        """What the segment ends: a paragraph, a sentence, or only a clause."""
        if self.ends_paragraph:
            return Boundary.PARAGRAPH
        return Boundary.SENTENCE if self.ends_sentence else Boundary.CLAUSE


def _is_punct_only(piece: str) -> bool:
    return set(piece) <= _PUNCT_ONLY


def _sentences(text: str) -> list[str]:
    """Upstream ``split``: cut after every ``_SPLITS`` character (``……`` → ``。``, ``——`` → ``，`` first)."""
    text = text.replace("……", "。").replace("——", "，")
    if not text:
        return []
    if text[-1] not in _SPLITS:
        text += "。"
    out, start = [], 0
    for i, char in enumerate(text):
        if char in _SPLITS:
            out.append(text[start : i + 1])
            start = i + 1
    return out


def _cut0(text: str) -> str:
    return text if not _is_punct_only(text) else "\n"


def _cut1(text: str) -> str:
    text = text.strip("\n")
    sentences = _sentences(text)
    starts: list[int | None] = list(range(0, len(sentences), 4))
    if len(starts) > 1:
        starts[-1] = None
        groups = ["".join(sentences[a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    else:
        groups = [text]
    return "\n".join(g for g in groups if not _is_punct_only(g))


def _cut2(text: str) -> str:
    text = text.strip("\n")
    sentences = _sentences(text)
    if len(sentences) < 2:
        return text
    groups, current = [], ""
    for sentence in sentences:
        current += sentence
        if len(current) > 50:
            groups.append(current)
            current = ""
    if current:
        groups.append(current)
    if len(groups) > 1 and len(groups[-1]) < 50:
        groups[-2:] = [groups[-2] + groups[-1]]
    return "\n".join(g for g in groups if not _is_punct_only(g))


def _cut3(text: str) -> str:
    pieces = text.strip("\n").strip("。").split("。")
    return "\n".join(p for p in pieces if not _is_punct_only(p))


def _cut4(text: str) -> str:
    pieces = re.split(r"(?<!\d)\.(?!\d)", text.strip("\n").strip("."))
    return "\n".join(p for p in pieces if not _is_punct_only(p))


def _cut5(text: str) -> str:
    text = text.strip("\n")
    pieces, start = [], 0
    for i, char in enumerate(text):
        if char not in _CUT5_MARKS:
            continue
        if char == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
            continue  # decimal point
        pieces.append(text[start : i + 1])
        start = i + 1
    if start < len(text):
        pieces.append(text[start:])
    return "\n".join(p for p in pieces if not set(p) <= _CUT5_MARKS)


_METHODS: dict[str, Callable[[str], str]] = {
    "cut0": _cut0,
    "cut1": _cut1,
    "cut2": _cut2,
    "cut3": _cut3,
    "cut4": _cut4,
    "cut5": _cut5,
}


def apply_cut(text: str, method: str) -> str:
    """Run one of upstream's segmentation methods; returns its newline-separated result unchanged.

    Raises:
        TextError: unknown method (lists the valid ones).
    """
    try:
        cut = _METHODS[method]
    except KeyError:
        raise TextError(f"unknown split method {method!r}; valid: {', '.join(SPLIT_METHODS)}") from None
    return cut(text)


def _paragraphs(text: str, paragraph_break: str) -> list[str]:
    if paragraph_break == "line":
        blocks = text.split("\n")
    elif paragraph_break == "blank_line":
        blocks = [_join_wrapped(block) for block in re.split(r"\n[ \t]*\n", text)]
    else:
        raise TextError(f"paragraph_break must be 'line' or 'blank_line', got {paragraph_break!r}")
    return [block for block in blocks if block.strip()]


def _join_wrapped(block: str) -> str:
    """Join hard-wrapped lines of one paragraph: a space between Latin-script lines, nothing next to CJK."""
    lines = [line.strip() for line in block.split("\n") if line.strip()]
    if not lines:
        return ""
    out = lines[0]
    for line in lines[1:]:
        glue = "" if ord(out[-1]) > 0x2E7F or ord(line[0]) > 0x2E7F else " "
        out += glue + line
    return out


def _ends_sentence(piece: str) -> bool:
    tail = piece.rstrip().rstrip(_CLOSERS)
    return bool(tail) and tail[-1] in _SENTENCE_END


def _merge_short(pieces: list[tuple[str, bool]], threshold: int) -> list[tuple[str, bool]]:
    """Upstream ``merge_short_text_in_array``: glue pieces until each is at least ``threshold`` characters."""
    if len(pieces) < 2:
        return pieces
    merged: list[tuple[str, bool]] = []
    current, current_end = "", False
    for text, ends in pieces:
        current, current_end = current + text, ends
        if len(current) >= threshold:
            merged.append((current, current_end))
            current = ""
    if current:
        if merged:
            merged[-1] = (merged[-1][0] + current, current_end)
        else:
            merged.append((current, current_end))
    return merged


def _break_priority(text: str, i: int) -> int:
    """How good a break *after* ``text[i]`` is: 3 sentence end, 2 clause mark, 1 space, 0 none."""
    char = text[i]
    if char in _SENTENCE_END:
        is_decimal = char == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        return 0 if is_decimal else 3
    if char in _CLOSERS and i > 0 and text[i - 1] in _SENTENCE_END:
        return 3
    if char in _CLAUSE_MARKS:
        return 2
    return 1 if char.isspace() else 0


def _best_break(text: str, limit: int) -> int:
    """Length of the first chunk when ``text`` (longer than ``limit``) must be cut to at most ``limit`` chars."""
    lowest = max(1, int(limit * _BREAK_MIN_FRACTION))
    best, best_priority = limit, 0
    for i in range(limit - 1, lowest - 2, -1):
        priority = _break_priority(text, i)
        if priority > best_priority:
            best, best_priority = i + 1, priority
            if priority == 3:
                break
    if best_priority == 0:  # no mark at all: avoid cutting inside a Latin word or a number
        start = best
        while start > lowest and text[start - 1].isascii() and text[start - 1].isalnum() and text[start].isalnum():
            start -= 1
        if start > lowest:
            best = start
    return best


def _split_long(piece: str, max_chars: int) -> list[str]:
    chunks = []
    while len(piece) > max_chars:
        cut = _best_break(piece, max_chars)
        head, piece = piece[:cut].rstrip(), piece[cut:].lstrip()
        if head:
            chunks.append(head)
    if piece:
        chunks.append(piece)
    return chunks


def _upstream_prep(text: str, lang: str) -> str:
    """Upstream's whole-text preparation: collapse repeated punctuation, lead-in mark before a short first sentence."""
    text = _REPEATED_PUNCT.sub(r"\1", text).strip("\n")
    if text and text[0] not in _SPLITS and len(_FIRST_SENTENCE.split(text)[0].strip()) < 4:
        text = ("." if lang == "en" else "。") + text
    return text


def _paragraph_pieces(paragraph: str, method: str, min_chars: int, lang: str | None) -> list[tuple[str, bool]]:
    """Cut one paragraph and apply upstream's per-piece rules; returns ``(text, ends_sentence)`` pairs."""
    full_stop_cut = method in ("cut3", "cut4")
    lines = [line for line in apply_cut(paragraph, method).split("\n") if line not in ("", " ")]
    pieces = _merge_short([(line, full_stop_cut or _ends_sentence(line)) for line in lines], min_chars)
    out = []
    for text, ends in pieces:
        if not text.strip() or not _NO_WORD.sub("", text):
            continue
        if lang is not None and text[-1] not in _SPLITS:
            text += "." if lang == "en" else "。"
        out.append((text, ends))
    return out


def split_text(
    text: str | bytes,
    method: str = "cut5",
    max_chars: int = DEFAULT_MAX_CHARS,
    *,
    lang: str | None = None,
    min_chars: int = MIN_SEGMENT_CHARS,
    paragraph_break: str = "line",
) -> list[Segment]:
    """Split text into segments for synthesis.

    Args:
        text: the text (str or UTF-8 bytes); control characters are removed as in ``text_to_phones``.
        method: ``cut0`` … ``cut5`` (see the module docstring).
        max_chars: hard maximum segment length in characters (at least 8).
        lang: the synthesis language code; when given, upstream's text preparation is applied (lead-in mark,
            closing ``。`` or ``.``) so segment texts equal what upstream synthesises. ``None`` leaves texts as cut.
        min_chars: pieces shorter than this are merged with the following ones (upstream: 5; 0 disables).
        paragraph_break: ``"line"``: every newline starts a paragraph (upstream); ``"blank_line"``: paragraphs are
            separated by blank lines and single newlines are hard wraps inside a paragraph.

    Returns:
        The segments in text order; empty for text without speakable pieces.

    Raises:
        TextError: unknown method / language, ``max_chars`` below 8, negative ``min_chars``, or undecodable bytes.
    """
    if method not in _METHODS:
        raise TextError(f"unknown split method {method!r}; valid: {', '.join(SPLIT_METHODS)}")
    if max_chars < _MIN_MAX_CHARS:
        raise TextError(f"max_chars must be at least {_MIN_MAX_CHARS}, got {max_chars}")
    if min_chars < 0:
        raise TextError(f"min_chars must be >= 0, got {min_chars}")
    code = None if lang is None else resolve_lang(lang)
    text = clean_input(text).replace("\r", "")
    if code is not None:
        text = _upstream_prep(text, code)
    segments: list[Segment] = []
    for paragraph in _paragraphs(text, paragraph_break):
        paragraph_index = segments[-1].paragraph_index + 1 if segments else 0
        segments.extend(_paragraph_segments(paragraph, paragraph_index, method, max_chars, min_chars, code))
    return segments


def _paragraph_segments(
    paragraph: str, paragraph_index: int, method: str, max_chars: int, min_chars: int, lang: str | None
) -> list[Segment]:
    pieces = _paragraph_pieces(paragraph, method, min_chars, lang)
    out: list[Segment] = []
    sentence_index = 0
    for piece_number, (piece, ends) in enumerate(pieces):
        chunks = _split_long(piece, max_chars)
        for chunk_number, chunk in enumerate(chunks):
            last_chunk = chunk_number == len(chunks) - 1
            is_last = last_chunk and piece_number == len(pieces) - 1
            closes = is_last or (ends if last_chunk else _ends_sentence(chunk))
            out.append(Segment(chunk, paragraph_index, sentence_index, closes, is_last))
            sentence_index += int(closes)
    return out
