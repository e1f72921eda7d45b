"""Linear spectrogram (upstream parameters), CNHuBERT features and phone-level RoBERTa features."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sovits_core import audio as audio_constants
from sovits_core.audio_features import FILTER_LENGTH, HOP_LENGTH, N_BINS, WIN_LENGTH, linear_spectrogram
from sovits_core.bert import BertModel, window_spans
from sovits_core.ssl import ModelFolderError, SSLModel
from sovits_core.text import Phonemes, PhonePart


HUBERT = "chinese-hubert-base"
ROBERTA = "chinese-roberta-wwm-ext-large"


# ------------------------------------------------------------------------------------------------ spectrogram
def reference_spectrogram(wav: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """Textbook STFT: reflect pad (n_fft - hop) / 2, frame, periodic Hann, rfft, sqrt(|X|^2 + 1e-8)."""
    pad = (n_fft - hop) // 2
    x = np.pad(wav.astype(np.float64), (pad, pad), mode="reflect")
    n = np.arange(win)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)
    frames = [x[i * hop : i * hop + n_fft] * window for i in range((len(x) - n_fft) // hop + 1)]
    spec = np.fft.rfft(np.stack(frames), n=n_fft, axis=1)
    return np.sqrt(np.abs(spec) ** 2 + 1e-8).T


def test_spectrogram_matches_reference_computation():
    rng = np.random.default_rng(0)
    t = np.arange(32000 + 123) / 32000
    wav = np.stack(
        [0.5 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size), 0.3 * rng.standard_normal(t.size)]
    ).astype(np.float32)
    ours = linear_spectrogram(torch.from_numpy(wav))
    for row in range(2):
        ref = reference_spectrogram(wav[row], FILTER_LENGTH, HOP_LENGTH, WIN_LENGTH)
        assert ours.shape[1:] == ref.shape
        np.testing.assert_allclose(ours[row].numpy(), ref, rtol=1e-4, atol=2e-4)


def test_spectrogram_shape_and_upstream_parameters():
    assert (FILTER_LENGTH, HOP_LENGTH, WIN_LENGTH, N_BINS) == (2048, 640, 2048, 1025)
    assert HOP_LENGTH == audio_constants.HOP_LENGTH
    spec = linear_spectrogram(torch.zeros(32000 * 3 + 100))
    assert spec.shape == (1, 1025, (32000 * 3 + 100) // 640)
    assert spec.dtype == torch.float32
    assert torch.allclose(spec, torch.full_like(spec, 1e-4))  # silence -> sqrt(eps)


def test_spectrogram_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        linear_spectrogram(torch.zeros(1, 2, 5000))
    with pytest.raises(ValueError, match="too short"):
        linear_spectrogram(torch.zeros(100))


# ------------------------------------------------------------------------------------------------ CNHuBERT
@pytest.fixture(scope="module")
def ssl_model(tiny_model_dir: Path) -> SSLModel:
    return SSLModel.from_folder(tiny_model_dir / HUBERT)


def test_ssl_features_shape_and_rate(ssl_model: SSLModel):
    wav = torch.randn(2, 16000 * 2) * 0.1
    feats = ssl_model.features(wav)
    # CNN front end: kernel 400 / stride 320 overall -> one frame per 20 ms
    assert feats.shape == (2, ssl_model.hidden_size, (wav.shape[1] - 400) // 320 + 1)
    assert ssl_model.features(wav[0]).shape == (1, ssl_model.hidden_size, feats.shape[2])


def test_ssl_uses_raw_waveform_like_upstream(ssl_model: SSLModel):
    wav = torch.randn(1, 16000) * 0.2 + 0.05
    expected = ssl_model.model(wav).last_hidden_state.transpose(1, 2)
    torch.testing.assert_close(ssl_model.features(wav), expected)  # bare HubertModel, no feature-extractor step


def test_ssl_folder_errors(tiny_model_dir: Path, tmp_path: Path):
    broken = tmp_path / "hubert"
    shutil.copytree(tiny_model_dir / HUBERT, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelFolderError, match=r"missing model\.safetensors or pytorch_model\.bin"):
        SSLModel.from_folder(broken)
    with pytest.raises(ModelFolderError, match="does not exist"):
        SSLModel.from_folder(tmp_path / "nowhere")
    with pytest.raises(ModelFolderError, match="only local"):
        SSLModel.from_folder("s3://bucket/chinese-hubert-base")


# ------------------------------------------------------------------------------------------------ RoBERTa
@pytest.fixture(scope="module")
def bert_model(tiny_model_dir: Path) -> BertModel:
    return BertModel.from_folder(tiny_model_dir / ROBERTA)


def _zh_part(text: str, word2ph: tuple[int, ...]) -> PhonePart:
    n = sum(word2ph)
    return PhonePart("zh", tuple(["a"] * n), tuple(range(n)), word2ph, text)


def test_bert_phone_features_expand_per_word2ph(bert_model: BertModel, tiny_model_dir: Path):
    from transformers import AutoTokenizer, BertForMaskedLM

    zh = _zh_part("你好，世界", (2, 2, 1, 2, 2))
    en = PhonePart("en", ("HH", "AY1", "."), (1, 2, 3), None, "hi.")
    feats = bert_model.phone_features(Phonemes((zh, en)))
    assert feats.shape == (bert_model.hidden_size, 9 + 3)
    assert torch.count_nonzero(feats[:, 9:]) == 0

    # upstream's recipe on the untruncated masked-LM: hidden_states[-3][0][1:-1], repeat per word2ph
    folder = tiny_model_dir / ROBERTA
    full = BertForMaskedLM.from_pretrained(folder, local_files_only=True).float().eval()
    inputs = AutoTokenizer.from_pretrained(folder, local_files_only=True)("你好，世界", return_tensors="pt")
    with torch.no_grad():
        chars = full(**inputs, output_hidden_states=True).hidden_states[-3][0, 1:-1]
    expected = torch.cat([chars[i].repeat(n, 1) for i, n in enumerate(zh.word2ph)]).T
    torch.testing.assert_close(feats[:, :9], expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(feats[:, 0], feats[:, 1]) and not torch.equal(feats[:, 1], feats[:, 2])


def test_bert_non_chinese_parts_are_zero(bert_model: BertModel):
    yue = PhonePart("yue", ("a", "b"), (1, 2), (1, 1), "你好")
    feats = bert_model.phone_features(Phonemes((yue,)))
    assert feats.shape == (bert_model.hidden_size, 2) and torch.count_nonzero(feats) == 0
    assert bert_model.phone_features(Phonemes(())).shape == (bert_model.hidden_size, 0)


def test_bert_rejects_inconsistent_word2ph(bert_model: BertModel):
    # duck-typed parts (the real PhonePart refuses these at construction)
    bad = SimpleNamespace(lang="zh", phone_ids=(1, 2, 3), word2ph=(1, 1), norm_text="你好世")
    with pytest.raises(ValueError, match="word2ph has 2 entries for 3 characters"):
        bert_model.phone_features(SimpleNamespace(parts=(bad,)))
    bad_sum = SimpleNamespace(lang="zh", phone_ids=(1, 2, 3), word2ph=(1, 1), norm_text="你好")
    with pytest.raises(ValueError, match="sums to 2 but the part has 3 phones"):
        bert_model.phone_features(SimpleNamespace(parts=(bad_sum,)))


def test_bert_folder_without_tokenizer(tiny_model_dir: Path, tmp_path: Path):
    broken = tmp_path / "roberta"
    shutil.copytree(tiny_model_dir / ROBERTA, broken)
    for name in ("vocab.txt", "tokenizer.json"):
        (broken / name).unlink()
    with pytest.raises(ModelFolderError, match=r"missing tokenizer\.json or vocab\.txt"):
        BertModel.from_folder(broken)


def test_bert_text_within_the_positions_runs_as_one_pass(bert_model: BertModel):
    text = ("今天天气很好我们一起去公园散步吧" * 10)[: bert_model.max_tokens]
    inputs = bert_model.tokenizer(text, return_tensors="pt")
    expected = bert_model.encoder(**inputs).last_hidden_state[0, 1:-1]
    assert torch.equal(bert_model.char_features(text), expected)  # bit for bit what a single pass gives


def test_bert_long_text_is_encoded_in_overlapping_windows(bert_model: BertModel):
    size = bert_model.max_tokens
    assert size == 126  # the tiny RoBERTa has 128 positions
    text = ("今天天气很好，我们一起去公园散步吧。" * 30)[:400]
    feats = bert_model.char_features(text)
    assert feats.shape == (400, bert_model.hidden_size)
    spans = window_spans(400, size, size // 4)
    assert len(spans) > 1
    for start, end, keep_start, keep_end in spans:  # each kept part is what its window alone gives
        inputs = bert_model.tokenizer(text[start:end], return_tensors="pt")
        alone = bert_model.encoder(**inputs).last_hidden_state[0, 1:-1]
        torch.testing.assert_close(feats[keep_start:keep_end], alone[keep_start - start : keep_end - start])
    part = _zh_part(text, (2,) * 400)
    assert bert_model.phone_features(Phonemes((part,))).shape == (bert_model.hidden_size, 800)


@pytest.mark.parametrize(
    ("n", "size", "context"), [(10, 10, 2), (11, 10, 2), (400, 126, 31), (1000, 510, 127), (7, 3, 0)]
)
def test_window_spans_tile_the_text_with_context(n: int, size: int, context: int):
    spans = window_spans(n, size, context)
    assert [keep for _, _, keep, _ in spans] == [0] + [keep_end for *_, keep_end in spans[:-1]]
    assert spans[-1][3] == n
    for start, end, keep_start, keep_end in spans:
        assert end - start == min(n, size) and 0 <= start <= keep_start < keep_end <= end <= n
        assert keep_start - start >= min(context, keep_start) and end - keep_end >= min(context, n - keep_end)
    with pytest.raises(ValueError, match="context"):
        window_spans(20, 10, 5)
