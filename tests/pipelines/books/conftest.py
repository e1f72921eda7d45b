"""Fixtures of the books tests: real EPUB files in tmp folders (builders in book_files.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from book_files import build_epub2_ebooklib, build_epub2_zip, build_epub3, build_epub3_zip, simple_zip_epub


@pytest.fixture
def epub3_path(tmp_path: Path) -> Path:
    return build_epub3(tmp_path / "storm.epub")


@pytest.fixture
def epub2_path(tmp_path: Path) -> Path:
    return build_epub2_ebooklib(tmp_path / "ncx.epub")


@pytest.fixture
def epub2_zip_path(tmp_path: Path) -> Path:
    return build_epub2_zip(tmp_path / "hand.epub")


@pytest.fixture
def small_epub(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``small_epub(docs, extra=None, name="small.epub", unlisted=()) -> Path`` (see `simple_zip_epub`)."""

    def make(
        docs: dict[str, str],
        extra: dict[str, str | bytes] | None = None,
        name: str = "small.epub",
        unlisted: tuple[str, ...] = (),
    ) -> Path:
        return simple_zip_epub(tmp_path / name, docs, extra=extra, unlisted=unlisted)

    return make


@pytest.fixture
def epub3_zip_path(tmp_path: Path) -> Path:
    return build_epub3_zip(tmp_path / "livre.epub")
