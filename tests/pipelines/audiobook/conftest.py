"""Fixtures of the audiobook tests: a local Storage and a few synthetic segments in it (see audiobook_signals.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from audiobook_signals import speechlike, write_segment

from pipelines.storage import Storage


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "job")


@pytest.fixture
def segment_keys(storage: Storage) -> list[str]:
    """Five FLAC segments (32 kHz, 16-bit) of 1.3 .. 2.9 s, and one WAV (float) segment."""
    keys = [write_segment(storage, f"segments/{i:03d}.flac", speechlike(1.3 + 0.4 * i, seed=i)) for i in range(5)]
    keys.append(write_segment(storage, "segments/005.wav", speechlike(1.7, seed=9), fmt="WAV", subtype="FLOAT"))
    return keys
