"""Japanese, Korean and Cantonese G2P (optional extras ``ja``, ``ko``, ``yue``) against upstream GPT-SoVITS v2.

The expected phones below were produced by upstream's own ``text.cleaner.clean_text(text, lang, "v2")`` (commit
48b1a016), run outside this repo in a separate venv with vanilla pyopenjtalk 0.4.1 + the Open JTalk 1.11 dictionary,
g2pk2 0.0.3 + python-mecab-ko 1.3.7 (+ python-mecab-ko-dic 2.1.1.post2), ToJyutping 3.2.0. Each language's parity
tests skip when its extra is not installed; the missing-extra tests always run (they hide the packages).
"""

import importlib.metadata
import sys

import pytest

from sovits_core.text import ja, ko, yue
from sovits_core.text.errors import MissingLanguageSupport, TextError
from sovits_core.text.symbols import SYMBOL_TO_ID


# (text, phones joined by spaces, norm_text[, word2ph]) from upstream clean_text.
UPSTREAM_JA = [
    ("こんにちは。", "k o [ N n i ch i w a .", "こんにちは。"),
    (
        "Hello.こんにちは！今日もNiCe天気ですね！tokyotowerに行きましょう！",
        "e [ i ch i i i e r u e r u o o . k o [ N n i ch i w a ! ky o ] o m o UNK e [ n u a i sh i i i i t e ] N k i d e s u n e ! t i [ i o o k e e w a i o o t i i o o d a b u ry u u i i a a r u n i UNK i [ k i m a sh o ] o !",
        "Hello.こんにちは！今日もNiCe天気ですね！tokyotowerに行きましょう！",
    ),
    (
        "東京タワーに行きましょう？",
        "t o [ o ky o o t a ] w a a n i UNK i [ k i m a sh o ] o ?",
        "東京タワーに行きましょう？",
    ),
    (
        "３０％の確率で、雨が降るでしょう……",
        "s a [ N j u cl p a a s e ] N t o n o UNK k a [ k u r i ts u d e , a ] m e g a UNK f u ] r u d e sh o o …",
        "３０％の確率で、雨が降るでしょう…",
    ),
    (
        "ちょっと待って！！本当に？",
        "ch o ] cl t o UNK m a ] cl t e ! ! h o [ N t o o n i ?",
        "ちょっと待って！！本当に？",
    ),
    ("", "", ""),
    ("ABCの歌を歌おう", "e [ e b i i sh i i n o UNK u [ t a ] o UNK u [ t a o o", "ABCの歌を歌おう"),
    ("100円です", "hy a [ k u ] e N d e s u", "100円です"),
    (
        "東京都渋谷区 3-2-1",
        "t o [ o ky o o ] t o UNK sh i [ b u y a ] k u s a [ N - n i - i [ ch i",
        "東京都渋谷区 3-2-1",
    ),
    ("😀絵文字です", "UNK e [ m o j i d e ] s u", "😀絵文字です"),
    ("行って、来ます\n改行", "i [ cl t e , k i [ m a ] s u . k a [ i gy o o", "行って、来ます\n改行"),
    ("えーっと、そうですね…", "e [ e cl t o , s o ] o d e s u n e …", "えーっと、そうですね…"),
]
UPSTREAM_KO = [
    ("안녕하세요", "ㅇ ㅏ ㄴ ㄴ ㅣ ㅓ ㅇ ㅎ ㅏ ㅅ ㅔ ㅇ ㅣ ㅗ .", "안녕하세요"),
    (
        "나의 친구가 mp3 file 3개를 다운받고 있다",
        "ㄴ ㅏ ㅇ ㅡ ㅣ 空 ㅊ ㅣ ㄴ ㄱ ㅜ ㄱ ㅏ 空 ㅇ ㅔ ㅁ ㅍ ㅣ ㅅ ㅏ ㅁ 空 ㅇ ㅔ ㅍ ㅡ ㅇ ㅏ ㅇ ㅣ ㅇ ㅔ ㄹ ㅣ 空 ㅅ ㅔ ㄱ ㅐ ㄹ ㅡ ㄹ 空 ㄷ ㅏ ㅇ ㅜ ㄴ ㅂ ㅏ ㄷ ㄲ ㅗ 空 ㅇ ㅣ ㄷ ㄸ ㅏ .",
        "나의 친구가 mp3 file 3개를 다운받고 있다",
    ),
    ("값이 얼마예요?", "ㄱ ㅏ ㅂ ㅆ ㅣ 空 ㅇ ㅓ ㄹ ㅁ ㅏ ㅇ ㅣ ㅔ ㅇ ㅣ ㅗ ?", "값이 얼마예요?"),
    (
        "의사 선생님, 괜찮습니까",
        "ㅇ ㅡ ㅣ ㅅ ㅏ 空 ㅅ ㅓ ㄴ ㅅ ㅐ ㅇ ㄴ ㅣ ㅁ , 空 ㄱ ㅗ ㅐ ㄴ ㅊ ㅏ ㄴ ㅆ ㅡ ㅁ ㄴ ㅣ ㄲ ㅏ .",
        "의사 선생님, 괜찮습니까",
    ),
    ("", "", ""),
    (" ", "空", " "),
    (
        "3시 30분에 출발합니다.",
        "ㅅ ㅔ ㅅ ㅣ 空 ㅅ ㅏ ㅁ ㅅ ㅣ ㅂ ㅃ ㅜ ㄴ ㅔ 空 ㅊ ㅜ ㄹ ㅂ ㅏ ㄹ ㅎ ㅏ ㅁ ㄴ ㅣ ㄷ ㅏ .",
        "3시 30분에 출발합니다.",
    ),
    (
        "밥을 먹었어요\n그리고 잤어요",
        "ㅂ ㅏ ㅂ ㅡ ㄹ 空 ㅁ ㅓ ㄱ ㅓ ㅆ ㅓ ㅇ ㅣ ㅗ . ㄱ ㅡ ㄹ ㅣ ㄱ ㅗ 空 ㅈ ㅏ ㅆ ㅓ ㅇ ㅣ ㅗ .",
        "밥을 먹었어요\n그리고 잤어요",
    ),
    ("읽을 래요", "ㅇ ㅣ ㄹ ㄱ ㅡ ㄹ 空 ㄹ ㅐ ㅇ ㅣ ㅗ .", "읽을 래요"),
    ("😀 이모지", "停 空 ㅇ ㅣ ㅁ ㅗ ㅈ ㅣ .", "😀 이모지"),
    (
        "한국어, 日本語, English",
        "ㅎ ㅏ ㄴ ㄱ ㅜ ㄱ ㅓ , 空 停 停 停 , 空 ㅇ ㅣ ㅇ ㅔ ㄴ ㅈ ㅣ ㅇ ㅔ ㄹ ㅏ ㅇ ㅣ ㅇ ㅔ ㅅ ㅡ ㅇ ㅔ ㅇ ㅣ ㅊ ㅣ .",
        "한국어, 日本語, English",
    ),
    ("ㄱ", "ㄱ .", "ㄱ"),
]
UPSTREAM_YUE = [
    (
        "佢個鋤頭太短啦。",
        "Yk Yeoi5 Yg Yo3 Yc Yo4 Yt Yau2 Yt Yaai3 Yd Yyun2 Yl Yaa1 .",
        "佢个锄头太短啦.",
        [2, 2, 2, 2, 2, 2, 2, 1],
    ),
    (
        "你好，我係香港人！",
        "Yn Yei5 Yh You2 , Yng Yo5 Yh Yai6 Yh Yoeng1 Yg Yong2 Yj Yan4 !",
        "你好,我系香港人!",
        [2, 2, 1, 2, 2, 2, 2, 2, 1],
    ),
    (
        "呢個價錢係3000蚊。",
        "Yn Yi1 Yg Yo3 Yg Yaa3 Yc Yin4 Yh Yai6 Ys Yaam1 Yl Ying4 Yl Ying4 Yl Ying4 Ym Yan1 .",
        "呢个价钱系三零零零蚊.",
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1],
    ),
    ("我有2個蘋果。", "Yng Yo5 Yj Yau5 Yl Yoeng5 Yg Yo3 Yp Ying4 Ygw Yo2 .", "我有两个苹果.", [2, 2, 2, 2, 2, 2, 1]),
    ("", "", "", []),
    (
        "佢話：「唔好意思！」",
        "Yk Yeoi5 Yw Yaa6 , Ym Ym4 Yh You2 Yj Yi3 Ys Yi1 !",
        "佢话,唔好意思!",
        [2, 2, 1, 2, 2, 2, 2, 1],
    ),
    (
        "2024年3月5日，天氣晴。",
        "Yj Yi6 Yl Ying4 Yj Yi6 Ys Yei3 Yn Yin4 Ys Yaam1 Yj Yyut6 Yng Yg5 Yj Yat6 , Yt Yin1 Yh Yei3 Yc Ying4 .",
        "二零二四年三月五日,天气晴.",
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 1],
    ),
    ("時間係10:30。", "Ys Yi4 Yg Yaan3 Yh Yai6 Ys Yap6 Yd Yim2 Yb Yun3 .", "时间系十点半.", [2, 2, 2, 2, 2, 2, 1]),
    (
        "今日28度，好熱啊！",
        "Yg Yam1 Yj Yat6 Yj Yi6 Ys Yap6 Yb Yaat3 Yd You6 , Yh You2 Yj Yit6 Yaa Ya3 !",
        "今日二十八度,好热啊!",
        [2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 1],
    ),
    ("Hello世界", "Ys Yai3 Yg Yaai3", "世界", [2, 2]),
    ("價錢係$100", "Yg Yaa3 Yc Yin4 Yh Yai6 . Yj Yiu1 Yl Ying4 Yl Ying4", "价钱系.幺零零", [2, 2, 2, 1, 2, 2, 2]),
    ("麻煩你～", "Ym Yaa4 Yf Yaan4 Yn Yei5 -", "麻烦你-", [2, 2, 2, 1]),
    ("乜嘢事？！", "Ym Yat1 Yj Ye5 Ys Yi6 ? !", "乜嘢事?!", [2, 2, 2, 1, 1]),
    ("嗯，好啊", "Yng Yg6 , Yh You2 Yaa Ya3", "嗯,好啊", [2, 1, 2, 2]),
]


@pytest.fixture(scope="module")
def jtalk():
    pytest.importorskip("pyopenjtalk", reason="Japanese tests need the 'ja' extra")
    try:
        return ja.openjtalk()
    except MissingLanguageSupport as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def g2pk():
    for name in ("g2pk2", "mecab", "jamo"):
        pytest.importorskip(name, reason="Korean tests need the 'ko' extra")
    return ko.pronunciation_converter()


@pytest.fixture(scope="module")
def tojyutping():
    return pytest.importorskip("ToJyutping", reason="Cantonese tests need the 'yue' extra")


def _all_in_v2_table(phones: list[str]) -> bool:
    return all(phone in SYMBOL_TO_ID for phone in phones)


@pytest.fixture(scope="module")
def vanilla_jtalk(jtalk):
    owners = importlib.metadata.packages_distributions().get("pyopenjtalk", [])
    if any(owner.lower().startswith(("pyopenjtalk-plus", "pyopenjtalk-mod", "pyopenjtalk-agpl3")) for owner in owners):
        pytest.skip(f"{owners} changes accents and readings on purpose; parity needs vanilla pyopenjtalk")
    return jtalk


@pytest.mark.parametrize(("text", "phones", "norm_text"), UPSTREAM_JA)
def test_ja_matches_upstream(vanilla_jtalk, text, phones, norm_text):
    assert ja.g2p(text) == (phones.split(), None, norm_text)


@pytest.mark.parametrize(("text", "phones", "norm_text"), UPSTREAM_KO)
def test_ko_matches_upstream(g2pk, text, phones, norm_text):
    assert ko.g2p(text) == (phones.split(), None, norm_text)


@pytest.mark.parametrize(("text", "phones", "norm_text", "word2ph"), UPSTREAM_YUE)
def test_yue_matches_upstream(tojyutping, text, phones, norm_text, word2ph):
    got_phones, got_word2ph, got_norm = yue.g2p(text)
    assert (got_phones, got_word2ph, got_norm) == (phones.split(), word2ph, norm_text)
    assert sum(got_word2ph) == len(got_phones) and len(got_word2ph) == len(got_norm)


@pytest.mark.parametrize(
    ("module", "backend", "text"), [(ja, "jtalk", "あ@い#う"), (ko, "g2pk", "가@나#다"), (yue, "tojyutping", "你好@#")]
)
def test_outputs_are_v2_symbols(request, module, backend, text):
    request.getfixturevalue(backend)
    phones = module.g2p(text)[0]
    assert phones and _all_in_v2_table(phones), phones


def test_ja_long_runs_do_not_crash_open_jtalk(jtalk):
    # 344 repeated "ア" overrun a C buffer in Open JTalk and kill the process; we read such runs in pieces.
    phones, _, _ = ja.g2p("ア" * 1000)
    assert phones.count("a") == 1000
    assert ja.split_long_run("あ" * 10) == ["あ" * 10]


def test_ja_split_long_run_prefers_word_boundaries():
    run = "かな漢字" * 100  # 400 characters: one cut, after a hiragana before a kanji
    pieces = ja.split_long_run(run, max_chars=300)
    assert "".join(pieces) == run and len(pieces) == 2
    assert len(pieces[0]) <= 300 and pieces[0].endswith("な") and pieces[1].startswith("漢")


def test_ja_prosody_marks_from_labels(jtalk):
    labels = jtalk.make_label(jtalk.run_frontend("こんにちは"))
    assert ja.prosody_phones(labels) == ["^", "k", "o", "[", "N", "n", "i", "ch", "i", "w", "a", "$"]
    question = jtalk.make_label(jtalk.run_frontend("本当ですか？"))
    assert ja.prosody_phones(question)[-3:] == ["k", "a", "?"]


def test_ja_prosody_rejects_silence_inside():
    sil = "xx^xx-sil+xx=xx/A:xx"
    with pytest.raises(ValueError, match="silence label at position 1"):
        ja.prosody_phones([sil, sil, sil])


def test_yue_split_syllable():
    assert yue.split_syllable("keoi5") == ["k", "eoi5"]
    assert yue.split_syllable("ngo5") == ["ng", "o5"]
    assert yue.split_syllable("m4") == ["m", "m4"]
    assert yue.split_syllable("aa3") == ["aa", "a3"]
    assert yue.split_syllable(",") == [","]
    with pytest.raises(TextError, match="xyz1"):
        yue.split_syllable("xyz1")


def test_ko_spell_latin_letters():
    assert ko.spell_latin_letters("mp3 OK") == "엠피3 오케이"


@pytest.mark.parametrize(
    ("module", "backend", "text", "needle"),
    [
        (ko, "g2pk", "\ud800", "Korean text"),
        (yue, "tojyutping", "乄", "no Jyutping reading for '乄'"),
        (ja, "jtalk", 42, "must be a str"),
        (ko, "g2pk", 42, "Korean text must be a str, got int"),
        (yue, "tojyutping", b"x", "Cantonese text must be a str, got bytes"),
    ],
)
def test_bad_input_raises_text_error(request, module, backend, text, needle):
    request.getfixturevalue(backend)
    with pytest.raises(TextError, match=needle):
        module.g2p(text)


def _hide(monkeypatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # a None entry makes `import name` raise ImportError


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        (ja, ("pyopenjtalk",), "ja"),
        (ko, ("g2pk2", "g2pk2.g2pk2", "g2pk2.utils"), "ko"),
        (ko, ("mecab",), "ko"),
        (yue, ("ToJyutping",), "yue"),
    ],
)
def test_missing_extra_names_the_extra(monkeypatch, module, hidden, extra):
    _hide(monkeypatch, *hidden)
    with pytest.raises(MissingLanguageSupport, match=rf"pip install 'sovits-batch\[{extra}\]'"):
        module.g2p("text")


def test_ja_missing_dictionary_is_reported_not_downloaded(jtalk, monkeypatch):
    monkeypatch.setattr(jtalk, "OPEN_JTALK_DICT_DIR", b"/nonexistent/open_jtalk_dic_utf_8-1.11")
    monkeypatch.setattr(jtalk, "_lazy_init", lambda: pytest.fail("pyopenjtalk tried to fetch its dictionary"))
    with pytest.raises(MissingLanguageSupport, match="OPEN_JTALK_DICT_DIR"):
        ja.g2p("こんにちは")


def test_ko_import_never_downloads_nltk_data(g2pk, monkeypatch):
    import nltk

    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        return False

    monkeypatch.setattr(nltk, "download", record)
    for name in [name for name in sys.modules if name == "g2pk2" or name.startswith("g2pk2.")]:
        monkeypatch.delitem(sys.modules, name)
    assert ko.g2p("가") == (["ㄱ", "ㅏ", "."], None, "가")
    assert calls == [] and nltk.download is record
