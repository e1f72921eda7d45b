"""Tests for the Mandarin frontend (``sovits_core.text.zh``).

Expected values were produced by running upstream GPT-SoVITS v2 (commit 48b1a016) ``chinese2.text_normalize`` /
``chinese2.g2p`` with G2PW off (its pypinyin branch, jieba_fast 0.53, pypinyin 0.55) on the inputs below, outside
this repository; the G2PW expectations come from upstream's G2PW code run on the tiny fake model built here.
"""

import logging
from pathlib import Path

import pytest

from sovits_core.text import zh
from sovits_core.text.zh.lexicon import word_readings
from sovits_core.text.zh.pinyin_map import PINYIN_TO_SYMBOLS, pinyin_from_parts, syllable_symbols
from sovits_core.text.zh.search_cut import cut_for_search


OPENCPOP = Path(__file__).resolve().parents[3] / "shared" / "upstream-data" / "gpt-sovits-text" / "opencpop-strict.txt"
SYMBOLS_FILE = Path(zh.__file__).resolve().parents[1] / "symbols_v2.txt"

NORMALIZE_CASES = [
    ("我有3个苹果", "我有三个苹果"),
    ("共2个人", "共两个人"),
    ("20余人", "二十余人"),
    ("5+个", "五多个"),
    ("第1名", "第一名"),
    ("100000", "幺零零零零零"),
    ("10000", "幺零零零零"),
    ("1001", "幺零零幺"),
    ("0.5", "零点五"),
    (".5", "零点五"),
    ("3.20", "三点二零"),
    ("007", "零零七"),
    ("-0.5", "负零零点五"),
    ("负数-5", "负数负五"),
    ("共13亿元", "共十三亿元"),
    ("180斤", "一百八十斤"),
    ("12345678901234", "幺二三四五六七八九零幺二三四"),
    ("价格是12.5元", "价格是十二点五元"),
    ("一共100.00元", "一共一百点零元"),
    ("花了2万美元", "花了两万美元"),
    ("每股3.5块", "每股三点五块"),
    ("2024年3月15日", "二零二四年三月十五日"),
    ("92年", "九二年"),
    ("2024-03-15", "二零二四年三月十五日"),
    ("1999/12/31", "一九九九年十二月三十一日"),
    ("下午3:30开会", "下午三点半开会"),
    ("08:05:09", "八点零五分零九秒"),
    ("8:30-9:05", "八点半至九点半"),
    ("12:00~13:30", "十二点至十三点三十分"),
    ("25:00", "二五点"),
    ("增长了25%", "增长了百分之二十五"),
    ("-3.5%", "负百分之三点五"),
    ("3/4的人", "四分之三的人"),
    ("-1/2", "负二分之一"),
    ("50/100", "一百分之五十"),
    ("身高180cm", "身高一百八十厘米"),
    ("体重65kg", "体重六十五千克"),
    ("跑了5km", "跑了五千米"),
    ("10m2的房间", "十平方米的房间"),
    ("温度-3.5°C", "温度零下三点五度"),
    ("今天20℃", "今天二十度"),
    ("30摄氏度", "三十度"),
    ("100ms", "一百米秒"),
    ("3~5kg", "三到五千克"),
    ("10%~20%", "百分之十至百分之二十"),
    ("电话13812345678", "电话幺三八幺二三四五六七八"),
    ("+86 13812345678", "八六幺三八幺二三四五六七八"),
    ("座机010-12345678", "座机零幺零减幺二三四五六七八"),
    ("400-123-4567", "四零零减幺二三减四五六七"),
    ("1-2个", "一减两个"),
    ("3~4", "三到四"),
    ("-1~2", "负一到二"),
    ("2021-2022年", "二零二幺减二零二二年"),
    ("1+1=2", "一加一等于二"),
    ("3×4=12", "三乘四等于十二"),
    ("10÷2", "十除二"),
    ("x²+y²", "的二次方加的二次方"),
    ("2³", "二的三次方"),
    ("版本1.2.3", "版本一点二点三"),
    ("v2.0.1.5", "二点零点一点五"),
    ("①②③", "一二三"),
    ("α和β", "阿尔法和贝塔"),
    ("πr²", "派的二次方"),
    ("ＡＢＣ１２３", "幺二三"),
    ("全角\u3000空格", "全角空格"),
    ("這是一個測試", "这是一个测试"),
    ("时间不早了", "时间不早了"),
    ("我们hello世界", "我们世界"),
    ("😀你好🎉", "你好"),
    ("a\x00b你\u200b好", "你好"),
    ("（括号）《书名》【注】", "括号书名注"),
    ("“引号”‘单引号’", "引号单引号"),
    ("你好……", "你好…"),
    ("啊——真的吗？！", "啊真的吗?"),
    ("嗯，好的", "恩,好的"),
    ("呣", "母"),
    ("什么~", "什么…"),
    ("你好!!!???", "你好!"),
    ("", ""),
    ("   ", ""),
    ("abc", ""),
    ("🎉🎉", ""),
    ("\u202e\t\n", ""),
]

# (text, normalised text, phones joined by spaces, phones per character as digits)
G2P_CASES = [
    ("你好，世界！", "你好,世界!", "n i2 h ao3 , sh ir4 j ie4 !", "221221"),
    (
        "看一看，试一试，听一听。",
        "看一看,试一试,听一听.",
        "k an4 y i5 k an4 , sh ir4 y i5 sh ir4 , t ing1 y i5 t ing1 .",
        "222122212221",
    ),
    (
        "一天一夜，一段一段，第一名，一百一十一，一二三四五六七八九十。",
        "一天一夜,一段一段,第一名,一百一十一,一二三四五六七八九十.",
        (
            "y i4 t ian1 y i2 y E4 , y i2 d uan4 y i2 d uan4 , d i4 y i1 m "
            "ing2 , y i4 b ai3 y i1 sh ir2 y i1 , y i1 EE "
            "er4 s an1 s i04 w u3 l iu4 q i1 b a1 j iu3 sh ir2 ."
        ),
        "2222122221222122222122222222221",
    ),
    (
        "不怕不要不是不对，好不好，来不来，对不起。",
        "不怕不要不是不对,好不好,来不来,对不起.",
        "b u2 p a4 b u2 y ao4 b u2 sh ir4 b u2 d ui4 , h ao3 b u5 h ao3 , l ai2 b u4 l ai2 , d ui4 b u5 q i3 .",
        "222222221222122212221",
    ),
    ("我很好，你也很好。", "我很好,你也很好.", "w o3 h en2 h ao3 , n i2 y E3 h en2 h ao3 .", "222122221"),
    (
        "小老虎，纸老虎，蒙古包，展览馆，所有人，好喜欢。",
        "小老虎,纸老虎,蒙古包,展览馆,所有人,好喜欢.",
        (
            "x iao3 l ao2 h u3 , zh ir3 l ao2 h u3 , m eng2 g u3 b ao1 , zh "
            "an2 l an2 g uan3 , s uo2 y ou3 r en2 , h ao2 "
            "x i3 h uan5 ."
        ),
        "222122212221222122212221",
    ),
    (
        "老老实实，马马虎虎，干干净净，高高兴兴。",
        "老老实实,马马虎虎,干干净净,高高兴兴.",
        "l ao2 l ao3 sh ir2 sh ir2 , m a3 m a5 h u3 h u5 , g an1 g an1 j ing4 j ing4 , g ao1 g ao5 x ing4 x ing5 .",
        "22221222212222122221",
    ),
    (
        "小院儿里有个老汉儿，女儿和婴儿在玩儿，花儿一朵一朵地开。",
        "小院儿里有个老汉儿,女儿和婴儿在玩儿,花儿一朵一朵地开.",
        (
            "x iao3 y van4 EE er4 l i2 y ou3 g e5 l ao3 h an4 EE er4 , n v3 "
            "EE er2 h e2 y ing1 EE er2 z ai4 w an2 EE er2 "
            ", h ua1 EE er2 y i4 d uo3 y i4 d uo3 d i5 k ai1 ."
        ),
        "2222222221222222221222222221",
    ),
    (
        "我们的朋友们来了，孩子们去过那里，桌子上，地下，家里。",
        "我们的朋友们来了,孩子们去过那里,桌子上,地下,家里.",
        (
            "w o3 m en5 d e5 p eng2 y ou5 m en5 l ai2 l e5 , h ai2 z i05 m en5 q v4 g uo4 n a4 l i3 , zh uo1 z i05 sh "
            "ang4 , d i4 x ia5 , j ia1 l i5 ."
        ),
        "222222221222222212221221221",
    ),
    (
        "这个东西多少钱？三个人，几个，各个。",
        "这个东西多少钱?三个人,几个,各个.",
        "zh e4 g e5 d ong1 x i5 d uo1 sh ao5 q ian2 ? s an1 g e5 r en2 , j i3 g e5 , g e4 g e5 .",
        "222222212221221221",
    ),
    (
        "他长得很高，长大了；银行的行长在行走；重要的重复；音乐很快乐。",
        "他长得很高,长大了,银行的行长在行走,重要的重复,音乐很快乐.",
        (
            "t a1 zh ang3 d e5 h en3 g ao1 , zh ang3 d a4 l e5 , y in2 h "
            "ang2 d e5 h ang2 zh ang3 z ai4 x ing2 z ou3 , zh "
            "ong4 y ao4 d e5 ch ong2 f u4 , y in1 y ve4 h en3 k uai4 l e4 ."
        ),
        "2222212221222222221222221222221",
    ),
    (
        "了解了，看着，说着，去过，过来，上去，下来，进去，出来。",
        "了解了,看着,说着,去过,过来,上去,下来,进去,出来.",
        (
            "l iao2 j ie3 l e5 , k an4 zh e5 , sh uo1 zh e5 , q v4 g uo4 , "
            "g uo4 l ai5 , sh ang4 q v5 , x ia4 l ai5 , j "
            "in4 q v5 , ch u1 l ai5 ."
        ),
        "2221221221221221221221221221",
    ),
    (
        "一会儿，一点儿，哪儿，这儿，那儿，一块儿，冰棍儿。",
        "一会儿,一点儿,哪儿,这儿,那儿,一块儿,冰棍儿.",
        (
            "y i2 h ui4 EE er4 , y i4 d ian3 EE er3 , n a3 EE er3 , zh e4 "
            "EE er4 , n a4 EE er4 , y i2 k uai4 EE er4 , b "
            "ing1 g un4 EE er4 ."
        ),
        "2221222122122122122212221",
    ),
    (
        "骆驼，麻烦，馒头，先生，东西，衣服，知识，眼睛，明白。",
        "骆驼,麻烦,馒头,先生,东西,衣服,知识,眼睛,明白.",
        (
            "l uo4 t uo5 , m a2 f an5 , m an2 t ou5 , x ian1 sh eng5 , d "
            "ong1 x i5 , y i1 f u5 , zh ir1 sh ir5 , y En3 j "
            "ing5 , m ing2 b ai5 ."
        ),
        "221221221221221221221221221",
    ),
    (
        "你好啊，是吗，好吧，对呢，走吧，来嘛。",
        "你好啊,是吗,好吧,对呢,走吧,来嘛.",
        "n i2 h ao3 AA a5 , sh ir4 m a5 , h ao3 b a5 , d ui4 n e5 , z ou3 b a5 , l ai2 m a5 .",
        "2221221221221221221",
    ),
    (
        "我想想，数数，整整，人人，哈哈，家家户户，熙熙攘攘。",
        "我想想,数数,整整,人人,哈哈,家家户户,熙熙攘攘.",
        (
            "w o3 x iang2 x iang3 , sh u3 sh u4 , zh eng2 zh eng3 , r en2 r "
            "en2 , h a1 h a5 , j ia1 j ia1 h u4 h u4 , x "
            "i1 x i1 r ang2 r ang3 ."
        ),
        "22212212212212212222122221",
    ),
    ("不不不，你你你。", "不不不,你你你.", "b u4 b u5 b u4 , n i2 n i3 n i3 .", "22212221"),
    (
        "我要买一辆车和三只猫，还有二十五本书。",
        "我要买一辆车和三只猫,还有二十五本书.",
        "w o3 y ao4 m ai3 y i2 l iang4 ch e1 h e2 s an1 zh ir3 m ao1 , h ai2 y ou3 EE er4 sh ir2 w u3 b en3 sh u1 .",
        "2222222222122222221",
    ),
    (
        "2024年3月15日下午3:30，温度25℃，增长了12.5%。",
        "二零二四年三月十五日下午三点半,温度二十五度,增长了百分之十二点五.",
        (
            "EE er4 l ing2 EE er4 s i04 n ian2 s an1 y ve4 sh ir2 w u3 r "
            "ir4 x ia4 w u3 s an1 d ian3 b an4 , w en1 d u4 "
            "EE er4 sh ir2 w u3 d u4 , z eng1 zh ang3 l e5 b ai3 f en1 zh ir1 sh ir2 EE er4 d ian3 w u3 ."
        ),
        "2222222222222221222222122222222221",
    ),
    ("苵五笉。", "苵五笉.", "d ie2 w u3 q in3 .", "2221"),
    ("孬劗讲。", "孬劗讲.", "n ao1 j ian3 j iang3 .", "2221"),
    ("嗯，呣，唉，哦，喂。", "恩,母,唉,哦,喂.", "EE en1 , m u3 , AA ai1 , OO o5 , w ei4 .", "2121212121"),
]

# jieba_fast.lcut_for_search outputs (upstream splits words with it for tone sandhi).
SEARCH_CUT_CASES = [
    ("苵五笉", ["苵五笉"]),
    ("孬劗讲", ["孬劗讲"]),
    ("埃尔斯特", ["尔斯", "斯特", "埃尔斯", "埃尔斯特"]),
    ("蒙古包", ["蒙古", "蒙古包"]),
    ("中华人民共和国", ["中华", "华人", "人民", "共和", "共和国", "中华人民共和国"]),
    ("一-", ["一", "-"]),
    ("小老虎", ["老虎", "小老虎"]),
    ("你好,世界", ["你好", ",", "世界"]),
]


def _v2_symbols() -> set[str]:
    return set(SYMBOLS_FILE.read_text(encoding="utf-8").split("\n")) - {""}


@pytest.fixture(autouse=True)
def _pypinyin_mode():
    zh.configure(None)
    yield
    zh.configure(None)


@pytest.mark.parametrize(("text", "expected"), NORMALIZE_CASES)
def test_normalize_matches_upstream(text: str, expected: str) -> None:
    assert zh.normalize(text) == expected


@pytest.mark.parametrize(("text", "norm", "phones", "word2ph"), G2P_CASES)
def test_g2p_matches_upstream(text: str, norm: str, phones: str, word2ph: str) -> None:
    got_phones, got_word2ph, got_norm = zh.g2p(text)
    assert got_norm == norm
    assert " ".join(got_phones) == phones
    assert "".join(map(str, got_word2ph)) == word2ph


def test_g2p_invariants_on_long_paragraph() -> None:
    paragraph = "".join(text for text, *_ in G2P_CASES) + "".join(text for text, _ in NORMALIZE_CASES)
    phones, word2ph, norm = zh.g2p(paragraph * 3)
    assert len(word2ph) == len(norm)
    assert sum(word2ph) == len(phones)
    assert set(word2ph) <= {1, 2}
    assert set(phones) <= _v2_symbols()


@pytest.mark.parametrize("text", ["", "   ", "abc", "😀🎉", "\u0000\u202e\t\n", "٣", "()《》"])
def test_nothing_pronounceable_gives_empty_result(text: str) -> None:
    if text == "٣":  # an Arabic-Indic digit: read as 三 (upstream crashes on it)
        assert zh.g2p(text) == (["s", "an1"], [2], "三")
    else:
        assert zh.g2p(text) == ([], [], "")


def test_characters_without_v2_reading_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    # Upstream crashes on these: 兙 has no pypinyin reading, 噷 reads "hm", 覅 reads "fiao" (no v2 symbols).
    with caplog.at_level(logging.WARNING):
        phones, word2ph, norm = zh.g2p("好兙噷覅的")
    assert norm == "好的"
    assert phones == ["h", "ao3", "d", "e5"]
    assert word2ph == [2, 2]
    assert "兙" in caplog.text


def test_traditional_characters_are_simplified() -> None:
    assert zh.normalize("這個銀行的經理說話很溫柔") == "这个银行的经理说话很温柔"
    assert zh.normalize("乾坤") == "乾坤"  # 乾 is also a simplified character: kept, as upstream keeps it


def test_word_readings_equal_two_lazy_pinyin_calls() -> None:
    from pypinyin import Style, lazy_pinyin

    for word in ["银行", "行走", "长大了", "一天", "的", "你好,", "不-", "儿", "嗯", "兙好", "绿色", "女儿"]:
        initials = tuple(lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS))
        finals = tuple(lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3))
        assert word_readings(word) == (initials, finals), word


@pytest.mark.parametrize(("word", "expected"), SEARCH_CUT_CASES)
def test_cut_for_search_matches_jieba_fast(word: str, expected: list[str]) -> None:
    assert cut_for_search(word) == expected


def test_pinyin_map_matches_upstream_opencpop_file() -> None:
    if not OPENCPOP.is_file():
        pytest.skip(f"{OPENCPOP} not available")
    upstream = {}
    for line in OPENCPOP.read_text(encoding="utf-8").splitlines():
        syllable, symbols = line.split("\t")
        upstream[syllable] = tuple(symbols.split(" "))
    assert upstream == PINYIN_TO_SYMBOLS


def test_pinyin_map_rules() -> None:
    assert len(PINYIN_TO_SYMBOLS) == 429
    assert PINYIN_TO_SYMBOLS["yuan"] == ("y", "van")
    assert PINYIN_TO_SYMBOLS["ye"] == ("y", "E")
    assert PINYIN_TO_SYMBOLS["shi"] == ("sh", "ir")
    assert PINYIN_TO_SYMBOLS["ci"] == ("c", "i0")
    assert PINYIN_TO_SYMBOLS["ang"] == ("AA", "ang")
    assert pinyin_from_parts("g", "uei") == "gui"
    assert pinyin_from_parts("", "van") == "yuan"
    assert pinyin_from_parts("", "uo") == "wo"
    assert syllable_symbols("j", "v3") == ("j", "v3")
    assert syllable_symbols("f", "iao4") is None
    assert syllable_symbols("h", "") is None
    assert set(sum(PINYIN_TO_SYMBOLS.values(), ())) <= {s.rstrip("12345") for s in _v2_symbols()}
