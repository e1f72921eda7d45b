"""Mandarin Chinese text frontend of GPT-SoVITS v2: normalisation and grapheme-to-phoneme.

Public entry points:

* :func:`normalize` -- upstream ``chinese2.text_normalize`` (numbers, dates, units... spelled out; punctuation
  folded to ``! ? … , . -``; anything else dropped).
* :func:`g2p` -- ``(phones, word2ph, norm_text)``: v2 phone symbols, phones per character of ``norm_text``.
* :func:`configure` -- switch polyphone disambiguation to G2PW (ONNX) or back to pypinyin (the default).

Known differences from upstream (measured against upstream's own code, see ``tests/text/test_zh.py``):

* jieba instead of jieba_fast: same dictionary and models; jieba_fast's C ``cut_for_search`` is re-implemented in
  :mod:`.search_cut`. With the same traditional->simplified table, outputs were identical to upstream on ~5,000
  test sentences (docs, random dictionary words, fuzzed Unicode) in the pypinyin branch, and in the G2PW branch
  run with a tiny fake ONNX model (the real G2PW weights were not available to test with).
* Traditional -> simplified characters come from OpenCC's character table, not upstream's hand-made table
  (see :mod:`.normalize.charmap`). On the test corpus rendered in Taiwan (Hong Kong) traditional characters,
  0.6% (0.9%) of sentences get different phones, mostly 什麼 (upstream reads 什麽 shen2 mo2, we read 什么 me5).
* Inputs on which upstream crashes (non-ASCII digits such as ``٣``; the ~15 ideographs without a v2 reading) are
  handled: digits are read, those ideographs are dropped with a warning.
"""

import logging
import threading
from pathlib import Path

from .. import pronounce
from ..errors import TextError
from .g2p import UnreadableError, phonemize_pieces, split_pieces
from .normalize import normalize


__all__ = ["configure", "g2p", "g2pw_enabled", "normalize"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_predictor = None  # G2PW predictor when configured, else None (pypinyin)


def configure(g2pw_model_dir: str | Path | None = None, tokenizer_dir: str | Path | None = None) -> None:
    """Choose how polyphonic characters are read: G2PW when a model folder is given, pypinyin when ``None``.

    Args:
        g2pw_model_dir: upstream's ``G2PWModel`` folder (``g2pW.onnx``, ``config.py``, ``POLYPHONIC_CHARS.txt``,
            ``MONOPHONIC_CHARS.txt``, ``bopomofo_to_pinyin_wo_tune_dict.json``) plus upstream's
            ``polyphonic.rep`` and ``polyphonic-fix.rep`` (from ``GPT_SoVITS/text/g2pw/``) copied into it;
            ``None`` turns G2PW off.
        tokenizer_dir: the BERT tokenizer folder; defaults to ``<g2pw_model_dir>/chinese-roberta-wwm-ext-large``.

    Raises:
        G2PWModelError: the folder is incomplete (the message lists every missing file) or unreadable.
        MissingLanguageSupport: ``onnxruntime`` / ``transformers`` / ``opencc`` is not installed.
    """
    global _predictor
    if g2pw_model_dir is None:
        with _lock:
            _predictor = None
        return
    from .g2pw import G2PWPredictor

    predictor = G2PWPredictor.from_folder(g2pw_model_dir, tokenizer_dir=tokenizer_dir)
    with _lock:
        _predictor = predictor
    logger.info("Mandarin polyphones now read with G2PW from %s", g2pw_model_dir)


def g2pw_enabled() -> bool:
    """Whether :func:`configure` turned G2PW on."""
    return _predictor is not None


def g2p(text: str) -> tuple[list[str], list[int], str]:
    """Convert Mandarin text to GPT-SoVITS v2 phones.

    Args:
        text: raw text; it is normalised first with :func:`normalize`.

    Returns:
        ``(phones, word2ph, norm_text)``: v2 phone symbols; the number of phones of each character of
        ``norm_text`` (``len(word2ph) == len(norm_text)``, ``sum(word2ph) == len(phones)``); the normalised text.
        All three are empty when nothing pronounceable is left.
    """
    norm_text = normalize(text)
    if not norm_text:
        return [], [], ""
    try:
        phones, word2ph = phonemize_pieces(split_pieces(norm_text), _predictor)
    except UnreadableError as exc:
        raise TextError(f"cannot read Mandarin text {text!r}: {exc}") from exc
    if pronounce.active("zh"):
        phones, word2ph = pronounce.apply_zh(norm_text, phones, word2ph)
    return phones, word2ph, norm_text
