"""ASR round trip: the tiny Whisper folder through the real transformers code path, pocketsphinx on a real clip,
missing packages and folders, and hand-computed scores after normalisation."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from pipelines.qc import scoring
from pipelines.qc.asr import (
    ASRDependencyError,
    ASRLanguageError,
    ASRModelError,
    ASRScore,
    PocketSphinxBackend,
    WhisperBackend,
    load_asr,
    normalize_for_scoring,
    score,
)
from pipelines.qc.asr_optional import FasterWhisperBackend, FunASRBackend
from pipelines.qc.asr_testing import make_tiny_whisper


VOICES = Path(__file__).resolve().parents[3] / "manifests" / "examples" / "voices"
ALICE_TEXT = "The quick brown fox jumps over the lazy dog, and the birds sing in the morning."
MISMATCHED_TEXT = "I would like to order a cup of coffee with milk and sugar, please."
needs_opencc = pytest.mark.skipif(importlib.util.find_spec("opencc") is None, reason="opencc is not installed")


def _clip(name: str) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(VOICES / f"{name}.wav", dtype="float32")
    return audio, rate


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_whisper(tmp_path_factory.mktemp("asr") / "tiny-whisper", seed=0)


@pytest.fixture(scope="module")
def whisper(tiny_whisper: Path) -> WhisperBackend:
    return WhisperBackend(str(tiny_whisper), batch_size=4, max_new_tokens=12)


@pytest.fixture(scope="module")
def batch() -> list[tuple[np.ndarray, int, str]]:
    """Four real clips, one resampled to 22.05 kHz, in four languages."""
    bob, rate = _clip("en_bob_1")
    return [
        (*_clip("en_alice"), "en"),
        (*_clip("zh_mei"), "zh"),
        (soxr.resample(bob, rate, 22050), 22050, "ja"),
        (*_clip("en_bob_2"), "yue"),
    ]


# ---------------------------------------------------------------------------------------------------- whisper
def test_tiny_whisper_folder_is_small_and_complete(tiny_whisper: Path) -> None:
    names = {p.name for p in tiny_whisper.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json"} <= names
    assert {"tokenizer.json", "tokenizer_config.json"} <= names
    assert sum(p.stat().st_size for p in tiny_whisper.iterdir()) < 5 * 2**20


def test_whisper_transcribes_a_batch_like_one_by_one(whisper: WhisperBackend, batch: list) -> None:
    texts = whisper.transcribe(batch)
    assert len(texts) == len(batch) and all(isinstance(t, str) for t in texts)
    assert any(texts)  # random weights: garbage, but decoded text
    assert [whisper.transcribe([item])[0] for item in batch] == texts
    whisper.batch_size = 3  # uneven chunks: 3 + 1
    try:
        assert whisper.transcribe(batch) == texts
    finally:
        whisper.batch_size = 4


def test_whisper_forces_each_items_language(whisper: WhisperBackend) -> None:
    prompts: list[list[list[int]]] = []
    hook = whisper.model.model.decoder.embed_tokens.register_forward_hook(
        lambda _module, args, _out: prompts.append(args[0].tolist())
    )
    audio, rate = _clip("en_alice")
    try:
        whisper.transcribe([(audio, rate, "en"), (audio, rate, "zh"), (audio, rate, "yue"), (audio, rate, "ko")])
    finally:
        hook.remove()
    tokens = whisper.processor.tokenizer.convert_ids_to_tokens
    first_step = [tokens(row) for row in prompts[0]]  # the decoder prompt, before any generated token
    assert [row[1] for row in first_step] == ["<|en|>", "<|zh|>", "<|yue|>", "<|ko|>"]
    assert all(
        row[0] == "<|startoftranscript|>" and row[2:] == ["<|transcribe|>", "<|notimestamps|>"] for row in first_step
    )


def test_whisper_empty_and_long_audio(whisper: WhisperBackend) -> None:
    audio, rate = _clip("en_alice")
    long_audio = np.tile(audio, 6)  # ~35 s: long-form decoding
    texts = whisper.transcribe([(np.zeros(0, np.float32), rate, "en"), (long_audio, rate, "en"), (audio, rate, "zh")])
    assert texts[0] == "" and all(isinstance(t, str) for t in texts)


def test_whisper_rejects_bad_items(whisper: WhisperBackend) -> None:
    audio, rate = _clip("en_alice")
    with pytest.raises(ASRLanguageError, match="'fr'"):
        whisper.transcribe([(audio, rate, "en"), (audio, rate, "fr")])
    with pytest.raises(ValueError, match="mono"):
        whisper.transcribe([(audio.reshape(1, 1, -1), rate, "en")])


def test_whisper_language_fallbacks(tiny_whisper: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_whisper, tmp_path / "no-yue")
    config = json.loads((folder / "generation_config.json").read_text())
    del config["lang_to_id"]["<|yue|>"]  # a checkpoint before large-v3
    (folder / "generation_config.json").write_text(json.dumps(config))
    assert WhisperBackend(folder)._codes["yue"] == "zh"
    for key in ("lang_to_id", "task_to_id"):  # an English-only "*.en" checkpoint
        config.pop(key)
    config["is_multilingual"] = False
    (folder / "generation_config.json").write_text(json.dumps(config))
    english = WhisperBackend(folder, max_new_tokens=4)
    audio, rate = _clip("en_alice")
    assert english.languages == {"en"} and isinstance(english.transcribe([(audio, rate, "en")])[0], str)
    with pytest.raises(ASRLanguageError, match="'zh'"):
        english.transcribe([(audio, rate, "zh")])


def test_whisper_missing_or_incomplete_folder(tiny_whisper: Path, tmp_path: Path) -> None:
    with pytest.raises(ASRModelError, match="does not exist"):
        WhisperBackend(str(tmp_path / "nowhere"))
    with pytest.raises(ASRModelError, match="needs a model folder"):
        load_asr("whisper", None)
    folder = shutil.copytree(tiny_whisper, tmp_path / "partial")
    (folder / "model.safetensors").unlink()
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ASRModelError, match=r"incomplete: missing model\.safetensors or .*; tokenizer\.json or vocab"):
        WhisperBackend(folder)
    shutil.copy(tiny_whisper / "tokenizer.json", folder)
    (folder / "model.safetensors").write_bytes((tiny_whisper / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(ASRModelError, match="cannot load Whisper model .*SafetensorError") as info:
        WhisperBackend(folder)
    assert "\n" not in str(info.value)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ASRModelError, match="cannot load Whisper model"):
        WhisperBackend(folder)


def test_load_asr_whisper(tiny_whisper: Path) -> None:
    backend = load_asr("whisper", str(tiny_whisper))
    assert isinstance(backend, WhisperBackend) and backend.name == "whisper"


# ---------------------------------------------------------------------------------------------------- pocketsphinx
def test_pocketsphinx_transcribes_english() -> None:
    pytest.importorskip("pocketsphinx")
    backend = load_asr("pocketsphinx", None)
    assert isinstance(backend, PocketSphinxBackend) and "sounddevice" not in sys.modules
    audio, rate = _clip("en_alice")
    (text,) = backend.transcribe([(audio, rate, "en")])
    matched, mismatched = score(ALICE_TEXT, text, "en"), score(MISMATCHED_TEXT, text, "en")
    print(
        f"pocketsphinx: {text!r}; WER {matched.error_rate:.3f} (right text), {mismatched.error_rate:.3f} (wrong text)"
    )
    assert matched.error_rate < 0.8
    assert matched.error_rate + 0.2 < mismatched.error_rate
    with pytest.raises(ASRLanguageError, match="pocketsphinx cannot transcribe language 'zh'"):
        backend.transcribe([(audio, rate, "en"), (*_clip("zh_mei"), "zh")])


# ------------------------------------------------------------------------------------------- optional packages
@pytest.mark.parametrize(
    ("cls", "module", "package", "files"),
    [
        (FunASRBackend, "funasr", "funasr", ("config.yaml", "model.pt")),
        (FasterWhisperBackend, "faster_whisper", "faster-whisper", ("model.bin", "config.json", "tokenizer.json")),
    ],
)
def test_optional_backends_name_their_package(
    cls: type, module: str, package: str, files: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # absent, whatever is installed
    with pytest.raises(ASRModelError, match=f"missing {files[0]}"):
        cls(tmp_path)
    for name in files:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ASRDependencyError, match=f"pip install {package}") as info:
        cls(tmp_path)
    assert isinstance(info.value, ImportError)
    name = "funasr" if cls is FunASRBackend else "faster-whisper"
    with pytest.raises(ASRDependencyError, match=package):
        load_asr(name, str(tmp_path))


def test_unknown_backend_lists_the_names() -> None:
    with pytest.raises(ASRModelError, match="whisper, funasr, faster-whisper, pocketsphinx"):
        load_asr("wav2vec", None)


# ---------------------------------------------------------------------------------------------------- scoring
def _counts(result: ASRScore) -> tuple[int, int, int, int]:
    return result.substitutions, result.deletions, result.insertions, result.reference_units


@pytest.mark.parametrize(
    ("reference", "hypothesis", "counts", "rate"),
    [
        ("The quick brown fox.", "the quick brown box", (1, 0, 0, 4), 0.25),  # substitution
        ("The quick brown fox jumps.", "the brown fox jumps", (0, 1, 0, 5), 0.2),  # a swallowed word
        ("The quick brown fox.", "the quick quick brown fox fox", (0, 0, 2, 4), 0.5),  # repeats
        ("ＨＥＬＬＯ，　Ｗｏｒｌｄ！", "hello world", (0, 0, 0, 2), 0.0),  # full-width, case, punctuation
        ("Don't stop—now", "dont stop now", (0, 0, 0, 3), 0.0),  # apostrophe dropped, dash splits
    ],
)
def test_score_words(reference: str, hypothesis: str, counts: tuple, rate: float) -> None:
    result = score(reference, hypothesis, "en")
    assert result.unit == "word" and _counts(result) == counts
    assert result.error_rate == pytest.approx(rate)


ZH = "今天天气很好，我们一起去公园散步吧。"  # 16 characters without punctuation


@pytest.mark.parametrize(
    ("hypothesis", "counts"),
    [
        pytest.param("今天天氣很好。我們一起去公園散步吧！", (0, 0, 0, 16), marks=needs_opencc),  # traditional
        ("今天 天气 很好 我们 一起 去 公园 散步 吧", (0, 0, 0, 16)),  # spaces do not count
        ("今天天气很坏，我们一起去公园散步吧", (1, 0, 0, 16)),
        ("今天天气好，我们去公园散步吧", (0, 3, 0, 16)),
        ("今天天气很好很好，我们一起去公园散步吧", (0, 0, 2, 16)),
    ],
)
def test_score_chinese_characters(hypothesis: str, counts: tuple) -> None:
    result = score(ZH, hypothesis, "zh")
    assert result.unit == "char" and _counts(result) == counts
    assert result.error_rate == pytest.approx(sum(counts[:3]) / 16)
    assert result.deletion_rate == pytest.approx(counts[1] / 16)
    assert result.insertion_rate == pytest.approx(counts[2] / 16)


def test_score_other_character_languages_and_edge_cases() -> None:
    assert _counts(score("안녕하세요 반갑습니다", "안녕하세요반갑습니다", "ko")) == (0, 0, 0, 10)
    assert score("ｺﾝﾆﾁﾊ", "コンニチハ", "ja").error_rate == 0.0  # half-width katakana
    assert score("", "", "en") == ASRScore("word", 0.0, 0, 0, 0, 0)
    assert score("。！", "", "zh").error_rate == 0.0  # punctuation only: an empty reference
    assert score("", "hello world", "en") == ASRScore("word", 2.0, 0, 0, 2, 0)  # insertions / max(1, 0)
    assert score("hello there", "", "en") == ASRScore("word", 1.0, 0, 2, 0, 2)
    with pytest.raises(AttributeError):
        score("a", "a", "en").error_rate = 1.0  # type: ignore[misc]


def test_normalize_for_scoring() -> None:
    text = "Ｔｈｅ  “Quick” brown-fox… 漢語！"
    assert normalize_for_scoring(text, "en") == "the quick brown fox 漢語"  # no script conversion outside zh/yue
    assert normalize_for_scoring(normalize_for_scoring(text, "zh"), "zh") == normalize_for_scoring(text, "zh")
    assert normalize_for_scoring("1,000 ３ dollars", "en") == "1 000 3 dollars"  # digits are not spelled out


@needs_opencc
def test_normalize_traditional_to_simplified() -> None:
    assert normalize_for_scoring("Ｔｈｅ 漢語，們！", "zh") == "the 汉语 们"
    assert normalize_for_scoring("粵語", "yue") == "粤语"


def test_normalize_without_opencc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opencc", None)
    scoring._t2s.cache_clear()
    try:
        assert normalize_for_scoring("漢語", "zh") == "漢語"
    finally:
        scoring._t2s.cache_clear()
