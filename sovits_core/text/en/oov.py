"""Out-of-vocabulary words: compound splitting (wordsegment) and g2p_en's neural pronunciation predictor.

The predictor is g2p_en's GRU encoder-decoder (checkpoint ``checkpoint20.npz`` shipped in the ``g2p_en`` wheel),
re-implemented here in numpy with the same float32 math and greedy decoding (at most 20 phones), so the
``g2p_en`` module itself, which downloads NLTK data when imported, is never imported.
"""

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sovits_core.text.en.resources import EnglishResourceError, g2p_en_file, package_dir


logger = logging.getLogger(__name__)

GRAPHEMES: tuple[str, ...] = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
PHONEMES: tuple[str, ...] = (
    "<pad>", "<unk>", "<s>", "</s>",
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2", "AW0", "AW1", "AW2",
    "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2", "EY0", "EY1", "EY2",
    "F", "G", "HH", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1",
    "OW2", "OY0", "OY1", "OY2", "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1", "UW2",
    "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
_GRAPHEME_INDEX = {g: i for i, g in enumerate(GRAPHEMES)}
_UNK_GRAPHEME = _GRAPHEME_INDEX["<unk>"]
_END_GRAPHEME = _GRAPHEME_INDEX["</s>"]
_START_PHONE = PHONEMES.index("<s>")
_END_PHONE = PHONEMES.index("</s>")
MAX_PHONES = 20
_PARAM_NAMES = (
    "enc_emb", "enc_w_ih", "enc_w_hh", "enc_b_ih", "enc_b_hh",
    "dec_emb", "dec_w_ih", "dec_w_hh", "dec_b_ih", "dec_b_hh", "fc_w", "fc_b",
)  # fmt: skip


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def gru_cell(
    x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
) -> np.ndarray:
    """One PyTorch-layout GRU step (gates ordered r, z, n).

    Args:
        x: input [1, E]; h: hidden [1, H]; w_ih: [3H, E]; w_hh: [3H, H]; b_ih, b_hh: [3H].

    Returns:
        New hidden state [1, H].
    """
    gates_x = np.matmul(x, w_ih.T) + b_ih
    gates_h = np.matmul(h, w_hh.T) + b_hh
    split = gates_x.shape[-1] * 2 // 3
    r, z = np.split(_sigmoid(gates_x[:, :split] + gates_h[:, :split]), 2, -1)
    n = np.tanh(gates_x[:, split:] + r * gates_h[:, split:])
    return (1 - z) * n + z * h


class PronunciationPredictor:
    """Greedy seq2seq letter-to-phone model with g2p_en's weights."""

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        missing = [name for name in _PARAM_NAMES if name not in params]
        if missing:
            raise EnglishResourceError(f"OOV predictor weights lack {missing}")
        self._p = {name: np.asarray(params[name], dtype=np.float32) for name in _PARAM_NAMES}
        self._predict_cached = functools.lru_cache(maxsize=65536)(self._predict)

    @classmethod
    def from_g2p_en(cls, path: Path | None = None) -> "PronunciationPredictor":
        """Load ``checkpoint20.npz`` from the installed ``g2p_en`` package (or ``path``)."""
        path = path or g2p_en_file("checkpoint20.npz")
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in data.files})

    def predict(self, word: str) -> list[str]:
        """Phones for ``word`` (lower-case letters; any other character is read as ``<unk>``).

        The result may contain ``"<unk>"``, ``"<pad>"``, ``"<s>"`` or ``"UW"``; the caller filters them as upstream.
        """
        return list(self._predict_cached(word))

    def _predict(self, word: str) -> tuple[str, ...]:
        p = self._p
        ids = [_GRAPHEME_INDEX.get(ch, _UNK_GRAPHEME) for ch in word] + [_END_GRAPHEME]
        h = np.zeros((1, p["enc_w_hh"].shape[-1]), np.float32)
        for idx in ids:
            x = p["enc_emb"][idx : idx + 1]
            h = gru_cell(x, h, p["enc_w_ih"], p["enc_w_hh"], p["enc_b_ih"], p["enc_b_hh"])
        x = p["dec_emb"][_START_PHONE : _START_PHONE + 1]
        phones: list[str] = []
        for _ in range(MAX_PHONES):
            h = gru_cell(x, h, p["dec_w_ih"], p["dec_w_hh"], p["dec_b_ih"], p["dec_b_hh"])
            best = int((np.matmul(h, p["fc_w"].T) + p["fc_b"]).argmax())
            if best == _END_PHONE:
                break
            phones.append(PHONEMES[best] if best < len(PHONEMES) else "<unk>")
            x = p["dec_emb"][best : best + 1]
        return tuple(phones)


class CompoundSplitter:
    """wordsegment's unigram/bigram segmenter (own instance, loaded lazily from the package's data files)."""

    def __init__(self) -> None:
        self._segmenter = None

    def split(self, word: str) -> list[str]:
        """Best split of ``word`` into known words (lower-cased, non-alphanumerics removed)."""
        if self._segmenter is None:
            self._segmenter = self._load()
        return self._segmenter.segment(word)

    @staticmethod
    def _load():  # noqa: ANN205 - wordsegment has no type hints
        package_dir("wordsegment")  # clear error when missing
        import wordsegment

        segmenter = wordsegment.Segmenter()
        segmenter.load()
        logger.debug("wordsegment loaded: %d unigrams", len(segmenter.unigrams))
        return segmenter
