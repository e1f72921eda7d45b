"""split_text: paragraphs, sentence flags, the hard length cap and upstream's preparation rules.

Exact equality of the six cut methods with upstream is checked in test_golden.py.
"""

import re

import pytest

from sovits_core.text import Boundary, Segment, TextError, split_text
from sovits_core.text.segment import SPLIT_METHODS, apply_cut


CHAPTER = (
    "第一章\n\n"
    "你好，我是小明。你好，我是小红！今天天气很好，我们去公园吧。\n"
    "Hello there. This is a test, with commas; and more! Is it fine?\n"
)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_paragraphs_sentences_and_flags() -> None:
    segs = split_text(CHAPTER, "cut5")
    assert [s.paragraph_index for s in segs] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert segs[0] == Segment("第一章", 0, 0, True, True)
    para1 = [s for s in segs if s.paragraph_index == 1]
    # "你好，" is shorter than 5 characters and is merged with the next piece, as upstream does
    assert [s.text for s in para1] == ["你好，我是小明。", "你好，我是小红！", "今天天气很好，", "我们去公园吧。"]
    assert [s.sentence_index for s in para1] == [0, 1, 2, 2]
    assert [s.ends_sentence for s in para1] == [True, True, False, True]
    assert [s.ends_paragraph for s in segs] == [True, False, False, False, True, False, False, False, False, True]
    para2 = [s for s in segs if s.paragraph_index == 2]
    assert [s.sentence_index for s in para2] == [0, 1, 1, 1, 2]


def test_boundary_after_each_segment() -> None:
    segs = split_text(CHAPTER, "cut5")
    assert [s.boundary for s in segs] == [
        Boundary.PARAGRAPH if s.ends_paragraph else Boundary.SENTENCE if s.ends_sentence else Boundary.CLAUSE
        for s in segs
    ]
    assert {s.boundary for s in segs} == set(Boundary)
    assert segs[0].boundary is Boundary.PARAGRAPH and segs[-1].boundary is Boundary.PARAGRAPH
    assert Segment("a,", 0, 0, False, False).boundary is Boundary.CLAUSE
    assert Segment("a.", 0, 0, True, False).boundary is Boundary.SENTENCE


def test_stronger_boundary() -> None:
    assert Boundary.CLAUSE.stronger(Boundary.SENTENCE) is Boundary.SENTENCE
    assert Boundary.PARAGRAPH.stronger(Boundary.CLAUSE) is Boundary.PARAGRAPH
    assert Boundary.SENTENCE.stronger(Boundary.SENTENCE) is Boundary.SENTENCE
    assert [b.value for b in Boundary] == ["clause", "sentence", "paragraph"]


def test_segments_cover_the_text() -> None:
    for method in SPLIT_METHODS:
        joined = "".join(s.text for s in split_text(CHAPTER, method))
        expected = _squash(CHAPTER)
        if method in ("cut3", "cut4"):  # these drop the full stop they cut at, like upstream
            joined, expected = joined.replace("。", "").replace(".", ""), expected.replace("。", "").replace(".", "")
        assert _squash(joined) == expected, method


@pytest.mark.parametrize("method", SPLIT_METHODS)
def test_every_segment_respects_max_chars(method: str) -> None:
    text = ("这是一个没有标点但是非常非常长的句子" * 20 + "。") + ("word " * 200) + "1234567890" * 30
    segs = split_text(text, method, max_chars=40)
    assert segs and all(len(s.text) <= 40 for s in segs)
    assert _squash("".join(s.text for s in segs)).replace("。", "") == _squash(text).replace("。", "")


def test_long_piece_breaks_at_sentence_end_then_clause_then_space() -> None:
    segs = split_text("x" * 20 + "。" + "y" * 10 + "，" + "z" * 30, "cut0", max_chars=40)
    assert segs[0].text == "x" * 20 + "。"  # a sentence end in the window beats a later clause mark
    assert segs[0].ends_sentence and segs[0].sentence_index == 0 and segs[1].sentence_index == 1
    segs = split_text("x" * 15 + " " + "y" * 10 + "，" + "z" * 30, "cut0", max_chars=40)
    assert segs[0].text == "x" * 15 + " " + "y" * 10 + "，" and not segs[0].ends_sentence
    segs = split_text("A" * 10 + ". " + "b" * 20 + " " + "c" * 30, "cut0", max_chars=40)
    assert segs[0].text == "A" * 10 + ". " + "b" * 20  # marks in the first 30% of the window are ignored
    assert segs[-1].ends_sentence and segs[-1].ends_paragraph


def test_long_piece_without_marks_does_not_split_words_or_decimals() -> None:
    words = " ".join(["internationalization"] * 6)  # 125 chars, only spaces as breaks
    segs = split_text(words, "cut0", max_chars=50)
    assert all(w == "internationalization" for s in segs for w in s.text.split())
    segs = split_text("value 3.14159 " * 10, "cut0", max_chars=30)
    assert all(re.fullmatch(r"(value 3\.14159 ?)+", s.text.strip()) for s in segs)
    cut = split_text("y" * 20 + "Pneumonoultramicroscopic" + "z" * 30, "cut0", max_chars=40)
    assert all(len(s.text) <= 40 for s in cut)  # no break at all: hard cut, but still bounded


def test_pieces_of_a_cut_sentence_share_its_index() -> None:
    segs = split_text("甲" * 50 + "。" + "乙" * 15 + "。", "cut0", max_chars=20, min_chars=0)
    assert [len(s.text) for s in segs] == [20, 20, 11, 16]
    assert [s.sentence_index for s in segs] == [0, 0, 0, 1]
    assert [s.ends_sentence for s in segs] == [False, False, True, True]


def test_blank_line_mode_joins_hard_wraps() -> None:
    text = "This is a hard\nwrapped line.\n\n这是一段\n被折行的文字。\n\n\n\nLast."
    segs = split_text(text, "cut0", paragraph_break="blank_line")
    assert [(s.paragraph_index, s.text) for s in segs] == [
        (0, "This is a hard wrapped line."),
        (1, "这是一段被折行的文字。"),
        (2, "Last."),
    ]
    assert len({s.paragraph_index for s in split_text(text, "cut0")}) == 5  # "line" mode: every line is one


def test_short_pieces_merge_within_but_not_across_paragraphs() -> None:
    segs = split_text("好。对。\n是的，没错。", "cut5")
    assert [(s.paragraph_index, s.text) for s in segs] == [(0, "好。对。"), (1, "是的，没错。")]
    assert [s.text for s in split_text("好。对。", "cut5", min_chars=0)] == ["好。", "对。"]


def test_lang_applies_upstream_preparation() -> None:
    # lead-in before a short first sentence, closing stop
    segs = split_text("你好吗？我很好，谢谢", "cut0", lang="zh")
    assert [s.text for s in segs] == ["。你好吗？我很好，谢谢。"]
    segs = split_text("你好吗？我很好，谢谢。", "cut5", lang="zh")
    assert [s.text for s in segs] == ["你好吗？我很好，谢谢。"]  # cut5 drops the lead-in, short pieces merge
    assert [s.text for s in split_text("Hello there my friend, how are you", "cut5", lang="en")] == [
        "Hello there my friend,",
        " how are you.",
    ]
    # only ASCII ! ? , . - and … runs collapse (upstream's set); full-width marks stay
    assert [s.text for s in split_text("真的吗！！！？？是的……", "cut0", lang="zh")] == ["。真的吗！！！？？是的…"]
    assert [s.text for s in split_text("Really?!! Yes... fine", "cut0", lang="en")] == ["Really? Yes. fine."]


def test_punctuation_only_and_empty_give_no_segments() -> None:
    assert split_text("", "cut5") == []
    assert split_text("\n\n  \n", "cut1") == []
    assert split_text("。。。！！", "cut5") == []
    assert split_text("……\n——", "cut0") == []


def test_bad_arguments_raise_text_error() -> None:
    with pytest.raises(TextError, match="unknown split method 'cut9'; valid: cut0, cut1"):
        split_text("你好", "cut9")
    with pytest.raises(TextError, match="max_chars must be at least 8"):
        split_text("你好", max_chars=3)
    with pytest.raises(TextError, match="valid codes"):
        split_text("你好", lang="xx")
    with pytest.raises(TextError, match="paragraph_break"):
        split_text("你好", paragraph_break="page")
    with pytest.raises(TextError, match="unknown split method"):
        apply_cut("你好", "cut6")


def test_apply_cut_examples() -> None:
    text = "你好，我是小明。你好，我是小红。你好，我是小刚。你好，我是小张。"
    assert apply_cut(text, "cut5").split("\n")[:3] == ["你好，", "我是小明。", "你好，"]
    assert apply_cut(text, "cut3").split("\n") == [
        "你好，我是小明",
        "你好，我是小红",
        "你好，我是小刚",
        "你好，我是小张",
    ]
    assert apply_cut("Pi is 3.14 now. Done.", "cut4").split("\n") == ["Pi is 3.14 now", " Done"]
    assert apply_cut("Pi is 3.14. Done.", "cut4") == "Pi is 3.14. Done"  # "." after a digit is kept (upstream)
    assert apply_cut(text, "cut0") == text
