"""Front matter, body or back matter: the signals every reader uses to tell them apart.

Preface, foreword, introduction, prologue, epilogue and afterword are **body**: they are part of what a narrator
reads. Front matter is what an audiobook leaves out at the start (cover, title and half-title pages, copyright,
table of contents, dedication, epigraph, "also by", praise, lists of illustrations); back matter what it leaves out
at the end (acknowledgements, about the author, colophon, index, notes, bibliography, glossary, appendices).

`place_matter` finally files any non-body chapter by where it stands: before the first body chapter it is front
matter, after the last one back matter (a copyright page at the end of a book is back matter).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.books.model import BACK, BODY, FRONT, Chapter
from pipelines.books.textutil import to_text


__all__ = ["Draft", "build_chapters", "place_matter", "role_of_file", "role_of_title", "role_of_types"]

# EPUB 3 structural semantics (epub:type), DPUB-ARIA roles without "doc-", EPUB 2 guide types.
_TYPE_ROLES = {
    FRONT: {
        "cover", "titlepage", "title-page", "halftitlepage", "halftitle", "frontispiece", "copyright-page",
        "toc", "landmarks", "loi", "lot", "loa", "lov", "dedication", "epigraph", "seriespage", "imprint",
        "imprimatur", "other-credits",
    },
    BACK: {
        "acknowledgments", "acknowledgements", "colophon", "index", "glossary", "bibliography", "endnotes",
        "rearnotes", "footnotes", "notes", "appendix", "contributors", "errata", "revision-history",
    },
    BODY: {"prologue", "epilogue", "preface", "foreword", "introduction", "afterword", "conclusion", "preamble"},
}  # fmt: skip
_WEAK_TYPE_ROLES = {
    "frontmatter": FRONT, "backmatter": BACK, "bodymatter": BODY, "chapter": BODY, "part": BODY,
    "division": BODY, "volume": BODY, "text": BODY, "start": BODY,
}  # fmt: skip
_FRONT_TITLES = (
    r"(front )?cover|title( page)?|half[- ]?title( page)?|copyright( page| notice| information)?|"
    r"(table of )?contents|toc|dedication|epigraph|frontispiece|imprint|(also|other (books|titles|works)) by .*|"
    r"books by .*|praise( for .*)?|list of (illustrations|figures|tables|maps)|"
    r"封面|书名页|書名頁|扉页|扉頁|版权(页|信息|声明)?|版權(頁|資訊|聲明)?|目录|目錄|"
    r"献词|獻詞|题献|題獻|表紙|目次|図表一覧|표지|목차|차례|판권"
)
_BACK_TITLES = (
    r"acknowledge?ments?|about the (authors?|translators?|illustrators?|publisher)|about (the )?author|"
    r"author bio(graphy)?|colophon|index|bibliography|references|(end)?notes|glossary|appendix( .*)?|credits|"
    r"致谢|致謝|鸣谢|鳴謝|作者简介|作者簡介|关于作者|關於作者|"
    r"参考文献|參考文獻|参考书目|索引|附录.*|附錄.*|注释|註釋|奥付|謝辞|注釈(一覧)?|著者(紹介|について)|"
    r"감사의 ?글|저자 ?소개|참고 ?문헌"
)
_BODY_TITLES = (
    r"prologue|epilogue|preface|foreword|introduction|afterword|interlude|"
    r"序|序言|序章|前言|引言|楔子|引子|尾声|尾聲|后记|後記|终章|終章|番外.*|プロローグ|エピローグ|まえがき|あとがき"
)
_TITLE_ROLES = [
    (re.compile(f"(?:{pattern})", re.IGNORECASE), role)
    for pattern, role in ((_BODY_TITLES, BODY), (_FRONT_TITLES, FRONT), (_BACK_TITLES, BACK))
]
_TITLE_NOISE = re.compile(r"^[\W\d_]+|[\W_]+$")
# File-name signals: a whole stem (separators and digits removed) or one of its tokens (strong names only).
_FILE_STEMS = {
    FRONT: {"cover", "titlepage", "title", "halftitle", "halftitlepage", "copyright", "copy", "toc", "contents",
            "nav", "dedication", "dedic", "epigraph", "frontmatter", "alsoby", "praise", "imprint", "jacket"},
    BACK: {"acknowledgments", "acknowledgements", "acknowledgment", "acknowledgement", "ack", "acks",
           "abouttheauthor", "aboutauthor", "abouttheauthors", "authorbio", "colophon", "backmatter", "about"},
}  # fmt: skip
_FILE_TOKENS = {
    FRONT: {"cover", "titlepage", "copyright", "dedication", "epigraph", "halftitle", "frontmatter"},
    BACK: {"acknowledgments", "acknowledgements", "abouttheauthor", "colophon", "backmatter"},
}


def role_of_types(types: Iterable[str], *, weak: bool = False) -> str | None:
    """The role an element's epub:type / role / guide type values give (None when none is known).

    Args:
        types: the values (``toc``, ``doc-dedication``, ``copyright-page``...).
        weak: also use the generic values (frontmatter, backmatter, bodymatter, chapter, part, guide "text").
    """
    values = {t.lower().removeprefix("doc-") for t in types}
    for role in (FRONT, BACK, BODY):
        if values & _TYPE_ROLES[role]:
            return role
    if weak:
        return next((_WEAK_TYPE_ROLES[v] for v in sorted(values) if v in _WEAK_TYPE_ROLES), None)
    return None


def role_of_title(title: str | None) -> str | None:
    """The role a title names ("Copyright" -> front, "About the Author" -> back, "Prologue" -> body), else None."""
    if not title:
        return None
    clean = re.sub(r"\s+", " ", _TITLE_NOISE.sub("", title.strip())).lower()
    for pattern, role in _TITLE_ROLES:
        if pattern.fullmatch(clean):
            return role
    return None


def role_of_file(path: str) -> str | None:
    """The role a well-known file name gives (``titlepage.xhtml``, ``05_Copyright.xhtml``, ``ack.html``), else None.

    ``index.html`` is not a signal: single-file books name their one document so.
    """
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    tokens = [t for t in re.split(r"[^a-z]+", stem) if t]
    joined = "".join(tokens)
    for role in (FRONT, BACK):
        if joined in _FILE_STEMS[role] or set(tokens) & _FILE_TOKENS[role]:
            return role
    return None


def place_matter(roles: Sequence[str]) -> list[str]:
    """Final kinds: non-body roles before the first body chapter become front, after the last one back."""
    body = [i for i, role in enumerate(roles) if role == BODY]
    if not body:
        return list(roles)
    first, last = body[0], body[-1]
    return [
        role if role == BODY else FRONT if i < first else BACK if i > last else role for i, role in enumerate(roles)
    ]


@dataclass(frozen=True)
class Draft:
    """A chapter found by a reader, before `place_matter` gives it its final kind."""

    title: str
    role: str
    paragraphs: tuple[str, ...]
    source: str


def build_chapters(drafts: Sequence[Draft]) -> tuple[Chapter, ...]:
    """Chapters numbered from 1 in order, their kinds placed by `place_matter`."""
    kinds = place_matter([d.role for d in drafts])
    return tuple(
        Chapter(i, d.title, to_text(d.paragraphs), kind, d.source)
        for i, (d, kind) in enumerate(zip(drafts, kinds, strict=True), start=1)
    )
