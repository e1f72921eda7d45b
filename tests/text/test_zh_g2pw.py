"""Tests for the Mandarin frontend's G2PW branch (``sovits_core.text.zh.g2pw``) on a tiny fake model.

The expectations come from upstream GPT-SoVITS v2's G2PW code (commit 48b1a016) run on the fake model built here,
outside this repository.
"""

import json
from pathlib import Path

import pytest

from sovits_core.text import zh
from sovits_core.text.zh import g2pw as zh_g2pw


@pytest.fixture(autouse=True)
def _pypinyin_mode():
    zh.configure(None)
    yield
    zh.configure(None)


# ---------------------------------------------------------------------------------------------------------------
# G2PW

# Upstream's G2PW code (onnx_api + chinese2 G2PW branch) run on the fake model below, with its pp_dict replaced by
# the two tiny .rep files written here.
G2PW_CASES = [
    (
        "银行的行长很快乐，我们还要重新走。",
        "y in2 h ang2 d e5 h ang2 zh ang3 h en3 k uai4 l e4 , w o3 m en5 h ai2 y ao4 zh ong4 x in1 z ou3 .",
    ),
    ("他长得很高，音乐很好听！", "t a1 zh ang3 d e5 h en3 g ao1 , y in1 y ve4 h en2 h ao3 t ing1 !"),
    (
        "为了和平，我们还得重重地走着。",
        "w ei2 l e5 h e2 p ing2 , w o3 m en5 h ai2 d e5 zh ong4 ch ong2 d i5 z ou3 zh ao5 .",
    ),
    ("行 长 重", "h ang2 zh ang3 zh ong4"),
    ("唉，一天天过去了。", "AA ai4 , y i4 t ian1 t ian1 g uo4 q v5 l iao5 ."),
]
# A text of more than 510 tokens (the model input is cut to a window): first and last phones.
G2PW_LONG_TEXT = "行" + "我们很好的音乐" * 80 + "长"
G2PW_LONG_HEAD, G2PW_LONG_TAIL = ["h", "ang2", "w", "o3"], ["y", "ve4", "zh", "ang3"]

_FAKE_POLYPHONIC = (
    "行 ㄒㄧㄥ2|行 ㄏㄤ2|長 ㄔㄤ2|長 ㄓㄤ3|重 ㄓㄨㄥ4|重 ㄔㄨㄥ2|"
    "樂 ㄌㄜ4|樂 ㄩㄝ4|了 ㄌㄜ5|了 ㄌㄧㄠ3|還 ㄏㄞ2|還 ㄏㄨㄢ2|"
    "為 ㄨㄟ2|為 ㄨㄟ4|得 ㄉㄜ2|得 ㄉㄜ5|得 ㄉㄟ3|著 ㄓㄜ5|著 ㄓㄠ2|著 ㄓㄨㄛ2|一 ㄧ1|一 ㄧ2|和 ㄏㄜ2|和 ㄏㄨㄛ4"
)
_FAKE_MONOPHONIC = "我 ㄨㄛ3|天 ㄊㄧㄢ1|們 ㄇㄣ5"
_FAKE_BOPOMOFO = (
    "ㄒㄧㄥ xing|ㄏㄤ hang|ㄔㄤ chang|ㄓㄤ zhang|ㄓㄨㄥ zhong|ㄔㄨㄥ chong|ㄌㄜ le|ㄩㄝ yue|ㄌㄧㄠ liao|ㄏㄞ hai|"
    "ㄏㄨㄢ huan|ㄨㄟ wei|ㄉㄜ de|ㄉㄟ dei|ㄓㄜ zhe|ㄓㄠ zhao|"
    "ㄓㄨㄛ zhuo|ㄧ yi|ㄏㄜ he|ㄏㄨㄛ huo|ㄨㄛ wo|ㄊㄧㄢ tian|ㄇㄣ men"
)
_FAKE_VOCAB = "我們们天行長长重樂乐了還还為为得著着一和銀银很好的音快人生在這这裡里是他她說说走來来"
_FAKE_TABLE_ROWS = 11


def _pairs(spec: str) -> list[tuple[str, str]]:
    return [tuple(item.split(" ")) for item in spec.split("|")]  # type: ignore[misc]


def _write_fake_onnx(path: Path, n_labels: int) -> None:
    """probs[n, l] = table[(7 * position + 3 * char_id + sum(input_ids)) % 11, l] * phoneme_mask[n, l]."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    table = np.array(
        [[((k * 31 + j * 17) % 13) + 1 for j in range(n_labels)] for k in range(_FAKE_TABLE_ROWS)], dtype=np.float32
    )
    constants = {"table": table, "seven": np.array(7), "three": np.array(3), "rows": np.array(_FAKE_TABLE_ROWS)}
    nodes = [
        helper.make_node("ReduceSum", ["input_ids"], ["ids_sum"], keepdims=0),
        helper.make_node("Mul", ["position_ids", "seven"], ["p7"]),
        helper.make_node("Mul", ["char_ids", "three"], ["c3"]),
        helper.make_node("Add", ["p7", "c3"], ["pc"]),
        helper.make_node("Add", ["pc", "ids_sum"], ["raw_key"]),
        helper.make_node("Mod", ["raw_key", "rows"], ["key"]),
        helper.make_node("Gather", ["table", "key"], ["scores"], axis=0),
        helper.make_node("Mul", ["scores", "phoneme_mask"], ["probs"]),
    ]
    int_inputs = [("input_ids", ["B", "T"]), ("token_type_ids", ["B", "T"]), ("attention_mask", ["B", "T"])]
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, shape) for name, shape in int_inputs]
    inputs += [
        helper.make_tensor_value_info("phoneme_mask", TensorProto.FLOAT, ["N", n_labels]),
        helper.make_tensor_value_info("char_ids", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["N"]),
    ]
    output = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_labels])
    initializers = [numpy_helper.from_array(value.astype(value.dtype), name) for name, value in constants.items()]
    model = helper.make_model(
        helper.make_graph(nodes, "fake_g2pw", inputs, [output], initializers),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    onnx.save(model, str(path))


def _build_fake_g2pw(folder: Path) -> Path:
    polyphonic = _pairs(_FAKE_POLYPHONIC)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "POLYPHONIC_CHARS.txt").write_text("".join(f"{c}\t{p}\n" for c, p in polyphonic), encoding="utf-8")
    monophonic = "".join(f"{c}\t{p}\n" for c, p in _pairs(_FAKE_MONOPHONIC))
    (folder / "MONOPHONIC_CHARS.txt").write_text(monophonic, encoding="utf-8")
    bopomofo = json.dumps(dict(_pairs(_FAKE_BOPOMOFO)), ensure_ascii=False)
    (folder / "bopomofo_to_pinyin_wo_tune_dict.json").write_text(bopomofo, encoding="utf-8")
    config = "manual_seed = 1313\nmodel_source = 'bert-base-chinese'\nuse_mask = True\nuse_char_phoneme = False\n"
    (folder / "config.py").write_text(config, encoding="utf-8")
    (folder / "polyphonic.rep").write_text("银行: ['yin2','hang2']\n唉: ['ai4']\n", encoding="utf-8")
    (folder / "polyphonic-fix.rep").write_text("快乐: ['kuai4','le4']\n", encoding="utf-8")
    tokenizer = folder / "chinese-roberta-wwm-ext-large"
    tokenizer.mkdir(exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(_FAKE_VOCAB)]
    (tokenizer / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    settings = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (tokenizer / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    _write_fake_onnx(folder / "g2pW.onnx", len({phoneme for _, phoneme in polyphonic}))
    return folder


@pytest.fixture(scope="module")
def fake_g2pw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("onnxruntime", "opencc", "transformers"):
        pytest.importorskip(module)
    return _build_fake_g2pw(tmp_path_factory.mktemp("g2pw") / "G2PWModel")


def test_g2pw_matches_upstream_on_fake_model(fake_g2pw_dir: Path) -> None:
    zh.configure(fake_g2pw_dir)
    assert zh.g2pw_enabled()
    for text, expected in G2PW_CASES:
        phones, word2ph, norm = zh.g2p(text)
        assert " ".join(phones) == expected, text
        assert len(word2ph) == len(norm) and sum(word2ph) == len(phones)
    phones, word2ph, norm = zh.g2p(G2PW_LONG_TEXT)
    assert phones[:4] == G2PW_LONG_HEAD and phones[-4:] == G2PW_LONG_TAIL
    assert len(word2ph) == len(norm) == len(G2PW_LONG_TEXT)


def test_configure_none_goes_back_to_pypinyin(fake_g2pw_dir: Path) -> None:
    zh.configure(fake_g2pw_dir)
    with_g2pw = zh.g2p("为了和平，我们还得重重地走着。")[0]
    zh.configure(None)
    assert not zh.g2pw_enabled()
    without = zh.g2p("为了和平，我们还得重重地走着。")[0]
    assert with_g2pw != without
    assert without[:2] == ["w", "ei4"]


def test_g2pw_incomplete_folder_names_missing_files(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text("use_mask = True\n", encoding="utf-8")
    with pytest.raises(zh_g2pw.G2PWModelError) as info:
        zh.configure(tmp_path)
    message = str(info.value)
    for name in ("g2pW.onnx", "POLYPHONIC_CHARS.txt", "polyphonic-fix.rep", "chinese-roberta-wwm-ext-large"):
        assert name in message
    assert "config.py" not in message.split("missing:")[1]
    assert not zh.g2pw_enabled()


def test_g2pw_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(zh_g2pw.G2PWModelError, match="does not exist"):
        zh.configure(tmp_path / "nowhere")


def test_g2pw_config_is_parsed_not_executed(tmp_path: Path) -> None:
    from sovits_core.text.zh.g2pw.assets import read_config

    marker = tmp_path / "executed"
    (tmp_path / "config.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nuse_mask = False\nwindow_size = 32\nx = len('a')\n",
        encoding="utf-8",
    )
    assert read_config(tmp_path / "config.py") == {"use_mask": False, "window_size": 32}
    assert not marker.exists()


def test_pronunciation_dict_skips_malformed_lines(tmp_path: Path) -> None:
    from sovits_core.text.zh.g2pw.assets import read_pronunciation_dict

    first, second = tmp_path / "a.rep", tmp_path / "b.rep"
    first.write_text("银行: ['yin2','hang2']\n坏行\n长度: ['chang2']\n", encoding="utf-8")
    second.write_text("银行: ['yin2','xing2']\n", encoding="utf-8")
    assert read_pronunciation_dict(first, second) == {"银行": ["yin2", "xing2"]}
    assert len(read_pronunciation_dict(first)) == 1
