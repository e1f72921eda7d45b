"""Pronunciation lexicons: CSV and JSON files through storage, application, validation, changed words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.books import BookError, Lexicon, affects


CSV = """word,respelling,phones
# comment lines are skipped
GPT,gee pee tee,
JPEG,,JH EY1 P EH2 G
重庆,,chong2 qing4
SQL,sequel,
New York,noo york,
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_load_and_phones(tmp_path: Path) -> None:
    lexicon = Lexicon.load(_write(tmp_path, "lex.csv", CSV))
    assert [e.word for e in lexicon.entries] == ["GPT", "JPEG", "重庆", "SQL", "New York"]
    assert lexicon.phones == {"JPEG": "JH EY1 P EH2 G", "重庆": "chong2 qing4"}
    assert [e.phones_lang for e in lexicon.entries if e.phones] == ["en", "zh"]
    assert lexicon.entries[0].where == "lex.csv: line 3"


def test_csv_without_header_is_word_respelling(tmp_path: Path) -> None:
    lexicon = Lexicon.load(_write(tmp_path, "plain.csv", "Nginx,engine x\nKubernetes,koo ber net eez\n"))
    assert lexicon.apply("nginx on kubernetes", "en") == "engine x on koo ber net eez"


def test_json_load(tmp_path: Path) -> None:
    data = {"GPT": "gee pee tee", "重庆": {"phones": "chong2 qing4"}, "Read": {"respelling": "reed", "lang": "en"}}
    lexicon = Lexicon.load(_write(tmp_path, "lex.json", json.dumps(data, ensure_ascii=False)))
    assert lexicon.phones == {"重庆": "chong2 qing4"}
    assert lexicon.entries[2].lang == "en"
    assert lexicon.apply("Read it", "en") == "reed it" and lexicon.apply("Read it", "zh") == "Read it"


def test_apply_whole_words_case_insensitive_and_cjk_exact(tmp_path: Path) -> None:
    lexicon = Lexicon.load(_write(tmp_path, "lex.csv", CSV + "重庆市,崇庆市,\n"))
    text = "gpt and GPT's SQLite, GPTs, new  york. 我用GPT模型 [voice gpt]x[/voice] 重庆市和重庆"
    assert lexicon.apply(text, "en") == (
        "gee pee tee and gee pee tee's SQLite, GPTs, noo york. 我用gee pee tee模型 [voice gpt]x[/voice] 崇庆市和重庆"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.csv",
            "word,phones\nJPEG,JH EY1 P EH2 GG\n",
            r"^a\.csv: line 2: 'JPEG': phones 'JH EY1 P EH2 GG' are neither ARPAbet",
        ),
        ("a.csv", "word,phones\nJPEG,JH1 EY1\n", r"^a\.csv: line 2: 'JPEG': phones 'JH1 EY1' are neither"),
        ("a.csv", "word,phones\n重庆,chong qing4\n", r"^a\.csv: line 2: '重庆': phones 'chong qing4' are neither"),
        ("a.csv", "word,phones\n重庆,CH OW1\n", r"^a\.csv: line 2: '重庆': a Chinese word needs pinyin"),
        ("a.csv", "word,phones\n重庆,zhong4\n", r"^a\.csv: line 2: '重庆': 1 pinyin syllables for 2 characters$"),
        ("a.csv", "word,respelling\nGPT,\n", r"^a\.csv: line 2: 'GPT' has neither a respelling nor phones$"),
        (
            "a.csv",
            "word,respelling,phones\nGPT,gee,JH IY1\n",
            r"^a\.csv: line 2: 'GPT' has both a respelling and phones",
        ),
        ("a.csv", "word,respelling\nGPT,a\ngpt,b\n", r"^a\.csv: line 3: duplicate word 'gpt' \(also line 2\)$"),
        ("a.csv", "word,spelling\nGPT,a\n", r"^a\.csv: line 1: header must be word plus respelling"),
        ("a.csv", "GPT,a,b\n", r"^a\.csv: line 1: 3 cells for 2 columns"),
        ("a.json", '{"GPT": "a", "GPT": "b"}', r"^a\.json: key 'GPT': duplicate word$"),
        ("a.json", '{"GPT": "a", "gpt": "b"}', r"^a\.json: key 'gpt': duplicate word 'gpt' \(also key 'GPT'\)$"),
        ("a.json", '{"GPT": {"phone": "JH"}}', r"^a\.json: key 'GPT': unknown field\(s\) phone"),
        ("a.json", '{"GPT": 3}', r"^a\.json: key 'GPT': value must be a respelling string"),
        ("a.json", '["GPT"]', r"^a\.json: a JSON lexicon is an object"),
        ("a.json", "{nope", r"^a\.json: not valid JSON \(line 1"),
        ("a.txt", "x", r"^a\.txt: unknown lexicon format"),
    ],
)
def test_bad_lexicons(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(BookError, match=message):
        Lexicon.load(_write(tmp_path, name, text))


def test_missing_lexicon(tmp_path: Path) -> None:
    with pytest.raises(BookError, match=r"^none\.csv: lexicon not found"):
        Lexicon.load(str(tmp_path / "none.csv"))


def test_words_changed_and_affects(tmp_path: Path) -> None:
    old = Lexicon.load(_write(tmp_path, "v1.csv", CSV))
    changed_csv = CSV.replace("SQL,sequel,", "SQL,ess cue ell,").replace("New York,noo york,\n", "") + "Ray,rey,\n"
    new = Lexicon.load(_write(tmp_path, "v2.csv", changed_csv.replace("GPT,", "# moved\nGPT,")))
    assert old.fingerprint("gpt") == new.fingerprint("GPT")  # same entry, other line: unchanged
    assert old.fingerprint("SQL") != new.fingerprint("SQL")
    changed = old.words_changed(new)
    assert changed == {"SQL", "New York", "Ray"}
    assert new.words_changed(old) == changed
    assert affects("Query with sql.", changed, "en")
    assert affects("I love new\nyork", changed, "en")
    assert not affects("GPT and JPEG only; SQLite; Rays", changed, "en")
    assert not affects("[voice ray]x[/voice]", changed, "en")
    assert Lexicon.affects("ray", changed, "en")
    with pytest.raises(KeyError):
        old.fingerprint("missing")
