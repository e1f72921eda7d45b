"""Hostile and degenerate input: a clear TextError (a ValueError) or a sensible result, never a library crash."""

import importlib.util
import time

import pytest

from sovits_core.text import MissingLanguageSupport, TextError, split_text, text_to_phones


def _speech(phones: list[str]) -> list[str]:
    return [p for p in phones if p not in {",", ".", "!", "?", "…", "-", "SP", "SP2", "SP3", "UNK"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n\t \r\n", "empty"),
        ("\x00\x07\u200b\ufeff", "empty"),
        ("。，！？...——", "no letters or digits"),
        ("😀🎉👍🏽", "no letters or digits"),
        ("∑∫√∞≈≠", "no letters or digits"),
    ],
)
@pytest.mark.parametrize("lang", ["zh", "en", "auto"])
def test_unspeakable_text_is_rejected_clearly(text: str, message: str, lang: str) -> None:
    with pytest.raises(TextError, match=message):
        text_to_phones(text, lang)


def test_text_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        text_to_phones("", "zh")


def test_invalid_utf8_bytes_name_the_offset_and_byte() -> None:
    with pytest.raises(TextError, match=r"not valid UTF-8: byte 0xff at offset 2"):
        text_to_phones(b"ab\xff\xfecd", "en")
    with pytest.raises(TextError, match="not valid UTF-8"):
        split_text("你好".encode()[:-1], "cut5")  # truncated multi-byte character


def test_valid_utf8_bytes_equal_str() -> None:
    assert text_to_phones("你好世界。".encode(), "zh") == text_to_phones("你好世界。", "zh")


@pytest.mark.parametrize("bad", [None, 42, ["你好"]])
def test_non_text_input_is_rejected(bad: object) -> None:
    with pytest.raises(TextError, match="must be str or UTF-8 bytes"):
        text_to_phones(bad, "zh")  # type: ignore[arg-type]


def test_unknown_language_lists_valid_codes() -> None:
    with pytest.raises(TextError, match="unknown language 'klingon'; valid codes: zh, en, ja, ko, yue, auto"):
        text_to_phones("你好", "klingon")


def test_control_and_format_characters_are_ignored() -> None:
    clean = text_to_phones("你好世界，hello。", "zh")
    noisy = text_to_phones("你\x00好\x07世\u200b界\ufeff，\x1bhello\ud800。", "zh")
    assert noisy == clean


def test_emoji_inside_text_keeps_the_words() -> None:
    assert _speech(text_to_phones("你好😀世界", "zh").phones) == _speech(text_to_phones("你好世界", "zh").phones)
    assert _speech(text_to_phones("hello 😀 world", "en").phones) == _speech(
        text_to_phones("hello world", "en").phones
    )


@pytest.mark.parametrize(("text", "lang"), [("Привет мир", "zh"), ("مرحبا بالعالم", "auto"), ("안녕하세요", "zh")])
def test_script_without_a_reading_in_that_mode_is_rejected(text: str, lang: str) -> None:
    with pytest.raises(TextError, match="produced no speech phones"):
        text_to_phones(text, lang)


def test_japanese_needs_its_extra_or_works() -> None:
    if importlib.util.find_spec("pyopenjtalk") is None:
        with pytest.raises(MissingLanguageSupport, match=r"sovits-batch\[ja\]"):
            text_to_phones("こんにちは", "ja")
    else:
        assert _speech(text_to_phones("こんにちは", "ja").phones)


def test_runaway_english_token_becomes_text_error_quickly() -> None:
    start = time.perf_counter()
    try:
        result = text_to_phones("abc" * 2000, "en")
    except TextError as exc:  # e.g. a recursion limit inside compound splitting
        assert "en" in str(exc)
    else:
        assert len(_speech(result.phones)) > 100
    assert time.perf_counter() - start < 20


def _chapter(n_chars: int) -> str:
    paragraph = (
        "第十二章的开头，天色渐暗。2024年3月15日，我们用GPU训练了一个新的模型，准确率达到了98.5%！"
        "他问：“你确定吗？”她笑着回答：“当然。”The model was trained on 1,000 hours of speech.\n\n"
    )
    return (paragraph * (n_chars // len(paragraph) + 1))[:n_chars]


def test_100k_char_chapter_segments_fast() -> None:
    chapter = _chapter(100_000)
    start = time.perf_counter()
    segments = split_text(chapter, "cut5", max_chars=120)
    assert time.perf_counter() - start < 5
    assert len(segments) > 1000 and max(len(s.text) for s in segments) <= 120
    assert segments[-1].paragraph_index == sum(1 for line in chapter.split("\n") if line.strip()) - 1
    unbroken = split_text("字" * 100_000, "cut0", max_chars=200)  # no punctuation at all: no recursion, bounded
    assert len(unbroken) == 500 and all(len(s.text) == 200 for s in unbroken)


def test_100k_char_english_chapter_in_one_call() -> None:
    sentence = "Chapter twelve began at dusk; on March 15, 2024 the team trained 3 new models with 98.5% accuracy. "
    chapter = (sentence * (100_000 // len(sentence) + 1))[:100_000]
    start = time.perf_counter()
    result = text_to_phones(chapter, "en")
    assert len(_speech(result.phones)) > 50_000
    assert time.perf_counter() - start < 30


def test_long_mixed_chapter_in_one_call() -> None:
    chapter = _chapter(20_000)  # the splitter and jieba run over the whole text at once: no recursion, bounded time
    start = time.perf_counter()
    result = text_to_phones(chapter, "zh")
    elapsed = time.perf_counter() - start
    assert {part.lang for part in result.parts} == {"zh", "en"}
    assert len(result) > 20_000
    assert elapsed < 30, f"20k characters took {elapsed:.1f} s"
