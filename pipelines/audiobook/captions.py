"""Captions for a chapter: WebVTT and SRT from timed cues, long cues split so every cue stays readable.

Layout rules (`CaptionLayout`): a cue lasts at most ``max_seconds`` (7 s) and holds at most ``max_lines`` (2) lines
of ``max_width`` (42) columns; East Asian wide characters count as two columns (so 21 Chinese characters fill a
line). A cue that breaks a rule is split in two at the best place: sentence punctuation nearest the middle, else
clause punctuation, else a space, else (text without spaces, e.g. Chinese) any character boundary; its time is
shared in proportion to the width of each part, and the parts are split again until they fit. Lines are then
wrapped at spaces (or anywhere in text without spaces).

Formats: WebVTT (``WEBVTT`` header, ``HH:MM:SS.mmm``, ``&``, ``<`` and ``>`` escaped as character references) and
SRT (numbered, ``HH:MM:SS,mmm``, plain text).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.audiobook.stitch import PieceTiming


__all__ = ["CaptionLayout", "Cue", "cues_from_timings", "layout_cues", "to_srt", "to_webvtt", "wrap_lines"]

_SENTENCE_END = set(".!?…。！？；;")
_CLAUSE_END = set(",:、，：—–)）」』")
_PUNCT_BONUS = 8  # columns of unevenness worth a line break after punctuation


@dataclass(frozen=True)
class Cue:
    """One caption: seconds from the start of the chapter, and its text (lines joined by "\\n")."""

    start: float
    end: float
    text: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and 0 <= self.start <= self.end):
            raise ValueError(f"a cue needs 0 <= start <= end, got {self.start!r} .. {self.end!r}")


@dataclass(frozen=True)
class CaptionLayout:
    """Readability limits of one cue."""

    max_seconds: float = 7.0
    max_lines: int = 2
    max_width: int = 42


def cues_from_timings(timings: Iterable[PieceTiming]) -> list[Cue]:
    """One cue per audio piece that has text (from `stitch.StitchResult.timings`)."""
    return [Cue(t.start_s, t.end_s, t.text) for t in timings if t.kind == "audio" and t.text.strip()]


def width(text: str) -> int:
    """Display columns of ``text``: wide and full-width characters count 2, combining marks 0."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap_lines(text: str, max_width: int) -> list[str]:
    """Wrap at spaces (Latin) or between characters (wide scripts); anything wider than a line is cut.

    Text that needs two lines is broken where the lines come out most even, preferring a break after punctuation;
    longer text is filled greedily.
    """
    atoms = _atoms(text)
    lines = _greedy(atoms, max_width)
    if len(lines) == 2:
        return _balanced(atoms, max_width) or lines
    return lines


def _join(atoms: list[tuple[str, bool]]) -> str:
    return "".join(f" {a}" if spaced and i else a for i, (a, spaced) in enumerate(atoms))


def _greedy(atoms: list[tuple[str, bool]], max_width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for atom, spaced in atoms:
        candidate = f"{line} {atom}" if line and spaced else line + atom
        if width(candidate) <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while width(atom) > max_width:
            cut = _cut(atom, max_width)
            lines.append(atom[:cut])
            atom = atom[cut:]
        line = atom
    if line:
        lines.append(line)
    return lines


def _balanced(atoms: list[tuple[str, bool]], max_width: int) -> list[str] | None:
    """The best two-line break (even lengths, after punctuation if possible), or None if none fits."""
    best, best_score = None, float("inf")
    for i in range(1, len(atoms)):
        first, second = _join(atoms[:i]), _join(atoms[i:])
        w1, w2 = width(first), width(second)
        if w1 > max_width or w2 > max_width:
            continue
        score = max(w1, w2) - (_PUNCT_BONUS if unicodedata.category(first[-1]).startswith("P") else 0)
        if score < best_score:
            best, best_score = [first, second], score
    return best


def _atoms(text: str) -> list[tuple[str, bool]]:
    """Unbreakable pieces of ``text`` and whether a space precedes each: words, single wide characters (with the
    punctuation that follows them, so no line starts with a comma)."""
    atoms: list[tuple[str, bool]] = []
    for token in text.split():
        spaced = True
        buf, last_wide = "", False
        for ch in token:
            if unicodedata.category(ch).startswith("P") and not buf and last_wide:
                atoms[-1] = (atoms[-1][0] + ch, atoms[-1][1])
            elif width(ch) == 2:
                if buf:
                    atoms.append((buf, spaced))
                    spaced, buf = False, ""
                atoms.append((ch, spaced))
                spaced, last_wide = False, True
            else:
                buf, last_wide = buf + ch, False
        if buf:
            atoms.append((buf, spaced))
    return atoms


def _cut(atom: str, max_width: int) -> int:
    total = 0
    for i, ch in enumerate(atom):
        total += width(ch)
        if total > max_width:
            return max(i, 1)
    return len(atom)


def _fits(text: str, layout: CaptionLayout) -> bool:
    return len(wrap_lines(text, layout.max_width)) <= layout.max_lines


def _split_point(text: str) -> int | None:
    """Index to split ``text`` at (the second part starts there), or None if it cannot be split."""
    middle = width(text) / 2
    for marks in (_SENTENCE_END, _CLAUSE_END, {" "}):
        candidates = [i + 1 for i, c in enumerate(text[:-1]) if c in marks and text[i + 1 :].strip()]
        if candidates:
            return min(candidates, key=lambda i: abs(width(text[:i]) - middle))
    if len(text.strip()) < 2:
        return None
    cumulative = 0
    for i, c in enumerate(text):
        cumulative += width(c)
        if cumulative >= middle:
            return max(1, min(i + 1, len(text) - 1))
    return None


def split_cue(cue: Cue, layout: CaptionLayout = CaptionLayout()) -> list[Cue]:
    """``cue`` split (recursively) until every part lasts at most ``max_seconds`` and fits in ``max_lines``."""
    text = " ".join(cue.text.split())
    if (cue.end - cue.start <= layout.max_seconds and _fits(text, layout)) or len(text) < 2:
        return [Cue(cue.start, cue.end, text)]
    at = _split_point(text)
    if at is None:
        return [Cue(cue.start, cue.end, text)]
    first, second = text[:at].strip(), text[at:].strip()
    share = width(first) / max(width(first) + width(second), 1)
    middle = cue.start + (cue.end - cue.start) * share
    return split_cue(Cue(cue.start, middle, first), layout) + split_cue(Cue(middle, cue.end, second), layout)


def layout_cues(cues: Sequence[Cue], layout: CaptionLayout = CaptionLayout()) -> list[Cue]:
    """Split every cue that breaks a rule, then wrap each cue's text into lines joined by "\\n"."""
    out: list[Cue] = []
    for cue in cues:
        for part in split_cue(cue, layout):
            out.append(Cue(part.start, part.end, "\n".join(wrap_lines(part.text, layout.max_width))))
    return out


def timestamp(seconds: float, decimal: str = ".") -> str:
    """``HH:MM:SS.mmm`` (WebVTT) or, with ``decimal=","``, ``HH:MM:SS,mmm`` (SRT); hours may exceed 99."""
    ms = int(math.floor(seconds * 1000 + 0.5))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(cues: Sequence[Cue], layout: CaptionLayout | None = CaptionLayout()) -> str:
    """A WebVTT document; cues are laid out with ``layout`` first (None: written as given)."""
    cues = layout_cues(cues, layout) if layout is not None else list(cues)
    blocks = ["WEBVTT"]
    for i, cue in enumerate(cues, start=1):
        text = "\n".join(_vtt_escape(line) for line in cue.text.split("\n") if line.strip())
        blocks.append(f"{i}\n{timestamp(cue.start)} --> {timestamp(cue.end)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def to_srt(cues: Sequence[Cue], layout: CaptionLayout | None = CaptionLayout()) -> str:
    """An SRT document; cues are laid out with ``layout`` first (None: written as given)."""
    cues = layout_cues(cues, layout) if layout is not None else list(cues)
    blocks = []
    for i, cue in enumerate(cues, start=1):
        text = "\n".join(line for line in cue.text.split("\n") if line.strip())
        blocks.append(f"{i}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{text}")
    return "\n\n".join(blocks) + "\n"
