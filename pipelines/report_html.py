"""HTML pieces of the run report (``pipelines.report``), and its audiobook section.

Every string that comes from data is escaped with :func:`html.escape`; numbers equal to ``summary.json``'s carry
``data-summary-key``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


__all__ = ["_clip", "_e", "_fields", "_img", "_is_number", "_num", "_section", "_table", "_td", "chapters_section"]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(value: Any, digits: int | None = None) -> str:
    """A number for the page; ``digits`` rounds a float (numbers from the summary keep all their digits)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if not _is_number(value):
        return _e(value)
    if isinstance(value, float) and digits is not None:
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _td(value: Any, key: str | None = None, digits: int | None = None) -> str:
    """A cell: numbers right-aligned; ``key`` marks a number equal to ``summary.json``'s value at that key."""
    marked = f' data-summary-key="{_e(key)}"' if key else ""
    if value is None or _is_number(value):
        return f'<td class="n"{marked}>{_num(value, digits)}</td>'
    return f"<td{marked}>{_e(value)}</td>"


def _table(head: list[str] | None, rows: list[list[str]], n_total: int | None = None) -> str:
    """A table of rendered cells; ``n_total`` > len(rows) adds a line saying how many were left out."""
    header = f"<thead><tr>{''.join(f'<th>{_e(h)}</th>' for h in head)}</tr></thead>\n" if head else ""
    body = "\n".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    more = ""
    if n_total is not None and n_total > len(rows):
        more = f'\n<p class="muted">{n_total - len(rows):,} more not shown ({n_total:,} in all).</p>'
    return f"<table>\n{header}<tbody>\n{body}\n</tbody>\n</table>{more}"


def _fields(pairs: list[tuple[str, str]]) -> str:
    """A two-column table of (label, rendered value cell)."""
    return _table(None, [[f"<th>{_e(label)}</th>", cell] for label, cell in pairs])


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _section(anchor: str, heading: str, parts: list[str]) -> str:
    content = "\n".join(p for p in parts if p)
    return f'<section id="{anchor}">\n<h2>{_e(heading)}</h2>\n{content}\n</section>'


def _clip(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(uri: str | None, audio_base: Callable[[str], str]) -> str:
    if not uri:
        return "<td>–</td>"
    return f'<td><a href="{_e(audio_base(uri))}">{_e(uri.rpartition("/")[2])}</a></td>'


def chapters_section(summary: Mapping[str, Any], audio_base: Callable[[str], str]) -> str:
    """The book's chapters (audiobook mode): duration, segments, what is missing or to review, compliance."""
    book = summary.get("audiobook")
    if not book:
        return ""
    rows = []
    for n, ch in enumerate(book.get("chapters", [])):
        compliance = ch.get("compliance")
        verdict = (
            "–"
            if compliance is None
            else ("pass" if compliance["passed"] else "fail: " + ", ".join(compliance["failed"]))
        )
        rows.append([_td(ch["index"]), _td(ch["title"]), _td(ch.get("duration_s"), f"audiobook.chapters.{n}.duration_s", 1),
                     _td(ch["segments"]), _td(len(ch["missing_segments"])), _td(len(ch["review_segments"])),
                     _td(verdict), _link(ch.get("key"), audio_base)])  # fmt: skip
    head = [
        "#",
        "title",
        "seconds",
        "segments",
        "failed",
        "to review (qc_failed)",
        book.get("master", "") + " check",
        "file",
    ]
    facts = _fields([("hours", _td(book.get("hours"), "audiobook.hours")), ("m4b", _td(book.get("m4b") or "–")),
                     ("mastering", _td(f"{book.get('master')} ({book.get('format')})"))])  # fmt: skip
    note = ""
    if book.get("incomplete"):
        note = f'<p class="warn">chapters not stitched (segments failed): {_e(book["incomplete"])}</p>'
    return _section("chapters", "Chapters", [facts, note, _table(head, rows)])
