"""Parity with upstream GPT-SoVITS v2's own text frontend, on recorded outputs (tests/data/golden/README.md).

- ``frontend.jsonl``: phone ids, per-run language / word2ph / norm_text of upstream ``get_phones_and_bert`` for zh,
  en and mixed sentences. English needs upstream's dictionaries and NLTK tagger for exact parity: they are taken from
  ``../shared/upstream-data`` (or ``$SOVITS_UPSTREAM_DATA``); cases with English runs are skipped without them.
- ``langsplit.jsonl``: upstream ``LangSegmenter.getTexts`` runs (no G2P involved).
- ``segment.jsonl``: upstream ``cut0`` … ``cut5`` strings and ``TextPreprocessor`` segment lists.
"""

import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sovits_core.text import split_text, text_to_phones
from sovits_core.text.langsplit import split_by_language
from sovits_core.text.segment import apply_cut


GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
_REPO = Path(__file__).resolve().parents[2]
UPSTREAM_DATA = Path(os.environ.get("SOVITS_UPSTREAM_DATA", _REPO.parent / "shared" / "upstream-data"))

# Known differences, by frontend.jsonl category, with the module responsible. strict: a fix makes them XPASS-fail,
# so the list has to be kept honest.
KNOWN_MISMATCHES: dict[str, str] = {}


def _load(name: str) -> list[dict[str, Any]]:
    with open(GOLDEN / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _frontend_params() -> Iterator[Any]:
    for rec in _load("frontend.jsonl"):
        marks = []
        if rec["category"] in KNOWN_MISMATCHES:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISMATCHES[rec["category"]], strict=True))
        yield pytest.param(rec, id=rec["category"], marks=marks)


def _module_ready(lang: str) -> bool:
    try:
        module = importlib.import_module(f"sovits_core.text.{lang}")
    except ImportError:
        return False
    return callable(getattr(module, "g2p", None))


@pytest.fixture(scope="module")
def english_parity() -> Iterator[bool]:
    """Point the English frontend at upstream's data for this module; False when that data is absent."""
    text_dir, nltk_dir = UPSTREAM_DATA / "gpt-sovits-text", UPSTREAM_DATA / "nltk_data"
    if not (text_dir.is_dir() and nltk_dir.is_dir()) or not _module_ready("en"):
        yield False
        return
    from sovits_core.text import en

    en.configure(upstream_text_dir=text_dir, nltk_data_dir=nltk_dir)
    yield True
    en.configure()


def test_golden_set_is_large_enough() -> None:
    records = _load("frontend.jsonl")
    langs = {rec["lang"] for rec in records}
    assert len(records) >= 60 and {"zh", "en", "all_zh", "auto"} <= langs
    assert (
        sum(any(p["lang"] == "en" for p in r["parts"]) and any(p["lang"] == "zh" for p in r["parts"]) for r in records)
        >= 15
    )


@pytest.mark.parametrize("rec", _frontend_params())
def test_frontend_matches_upstream(rec: dict[str, Any], english_parity: bool) -> None:
    langs = {part["lang"] for part in rec["parts"]}
    missing = sorted(lang for lang in langs if not _module_ready(lang))
    if missing:
        pytest.skip(f"G2P module(s) {missing} not available")
    if "en" in langs and not english_parity:
        pytest.skip(f"English parity needs upstream data at {UPSTREAM_DATA}")
    result = text_to_phones(rec["text"], rec["lang"])
    got = [(p.lang, list(p.phones), p.norm_text) for p in result.parts]
    want = [(p["lang"], [rec_phone for rec_phone in _symbols(p["phone_ids"])], p["norm_text"]) for p in rec["parts"]]
    assert got == want
    assert result.phone_ids == rec["phone_ids"]
    assert result.norm_text == rec["norm_text"]
    assert [None if p.word2ph is None else list(p.word2ph) for p in result.parts] == rec["word2ph"]


def _symbols(ids: list[int]) -> list[str]:
    from sovits_core.text.symbols import ids_to_symbols

    return ids_to_symbols(ids)


@pytest.mark.parametrize(
    "rec", _load("langsplit.jsonl"), ids=lambda r: f"{r['default_lang'] or 'auto'}:{r['text'][:12]}"
)
def test_language_split_matches_upstream(rec: dict[str, Any]) -> None:
    spans = split_by_language(rec["text"], rec["default_lang"])
    assert [[s.lang, s.text] for s in spans] == rec["spans"]


def _segment_id(rec: dict[str, Any]) -> str:
    return f"{rec['kind']}-{rec['method']}-{rec.get('lang', '')}-{rec['text'][:10]}"


@pytest.mark.parametrize("rec", [r for r in _load("segment.jsonl") if r["kind"] == "cut"], ids=_segment_id)
def test_cut_method_matches_upstream(rec: dict[str, Any]) -> None:
    assert apply_cut(rec["text"], rec["method"]) == rec["result"]


@pytest.mark.parametrize("rec", [r for r in _load("segment.jsonl") if r["kind"] == "pre_seg"], ids=_segment_id)
def test_segment_texts_match_upstream_preprocessing(rec: dict[str, Any]) -> None:
    expected = [] if isinstance(rec["result"], dict) else rec["result"]  # upstream raises on "no valid text"
    segments = split_text(rec["text"], rec["method"], max_chars=510, lang=rec["lang"])
    assert [s.text for s in segments] == expected
