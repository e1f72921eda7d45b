"""Phone-level RoBERTa features for the GPT (upstream ``get_bert_feature`` / ``get_bert_inf``).

For Chinese parts: tokenise ``norm_text`` (one token per character), take the third-from-last hidden state
(``hidden_states[-3:-2]``), drop ``[CLS]``/``[SEP]`` and repeat each character's vector ``word2ph[i]`` times.
A text longer than RoBERTa's positions (510 characters + ``[CLS]``/``[SEP]`` for the real model) is encoded in
overlapping windows whose middle parts are kept (:func:`window_spans`); a shorter one exactly as upstream.
Other languages (including Cantonese, as upstream) get zeros. Only the layers up to the one used are kept and the
masked-LM head is dropped: same numbers, less work. Loading is local-only (``local_files_only=True``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import torch

from sovits_core.ssl import ModelFolderError, PretrainedNetwork, load_pretrained


logger = logging.getLogger(__name__)

BERT_LANG = "zh"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
LAYERS_FROM_END = 2  # hidden_states[-3] is the output of layer L-2
SPECIAL_TOKENS = 2  # [CLS] and [SEP] around every window
CONTEXT_FRACTION = 4  # a window's first and last quarter are context only (except at the ends of the text)


class _PhonePart(Protocol):
    lang: str
    norm_text: str
    word2ph: Any
    phone_ids: Any


class _Phonemes(Protocol):
    parts: Any


class BertModel(PretrainedNetwork):
    """Chinese RoBERTa (wwm-ext-large) wrapper: ``phone_features(phonemes) -> [hidden (1024), n_phones]``.

    ``BertModel.from_folder(path)`` reads a ``BertForMaskedLM`` folder with its tokenizer (``vocab.txt`` /
    ``tokenizer.json``).
    """

    def __init__(self, encoder: torch.nn.Module, tokenizer: Any) -> None:
        super().__init__(encoder)
        self.tokenizer = tokenizer

    @property
    def encoder(self) -> torch.nn.Module:
        """The ``BertModel`` (masked-LM head dropped, last layers truncated)."""
        return self.network

    @classmethod
    def _load(cls, folder: Path) -> BertModel:
        from transformers import AutoTokenizer, BertForMaskedLM

        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelFolderError(f"model folder {folder} is missing {' or '.join(TOKENIZER_FILES)}")
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, folder, "RoBERTa")
        mlm = load_pretrained(BertForMaskedLM.from_pretrained, folder, "RoBERTa")
        return cls(truncate_layers(mlm.bert, LAYERS_FROM_END), tokenizer)

    @property
    def max_tokens(self) -> int:
        """Characters one forward pass can take: the model's positions minus ``[CLS]`` and ``[SEP]``."""
        return int(self.network.config.max_position_embeddings) - SPECIAL_TOKENS

    @torch.inference_mode()
    def char_features(self, text: str) -> torch.Tensor:
        """One vector per character of ``text``: ``[len(text), hidden]``.

        Up to :attr:`max_tokens` characters run in one pass, as upstream. Longer text runs in windows of
        ``max_tokens`` characters (each with its own ``[CLS]``/``[SEP]``, positions from 0, all windows in one
        batch); each character's vector comes from the window that gives it at least ``max_tokens // 4``
        characters of context on both sides (fewer only near the ends of the text).
        """
        inputs = self.tokenizer(text, return_tensors="pt", verbose=False)
        n_chars = inputs["input_ids"].shape[1] - SPECIAL_TOKENS
        if n_chars != len(text):
            raise ValueError(
                f"tokenizer split {text!r} into {n_chars} tokens, expected one per character ({len(text)})"
            )
        spans = window_spans(n_chars, self.max_tokens, self.max_tokens // CONTEXT_FRACTION)
        batch = {key: _window_rows(value, spans).to(self.device) for key, value in inputs.items()}
        hidden = self.network(**batch).last_hidden_state[:, 1:-1]
        kept = [
            hidden[row, keep_start - start : keep_end - start]
            for row, (start, _, keep_start, keep_end) in enumerate(spans)
        ]
        return kept[0] if len(kept) == 1 else torch.cat(kept)

    @torch.inference_mode()
    def phone_features(self, phonemes: _Phonemes) -> torch.Tensor:
        """``[hidden, n_phones]`` for all parts, concatenated in order (zeros for non-Chinese parts)."""
        blocks = [self._part_features(part) for part in phonemes.parts]
        if not blocks:
            return torch.zeros(self.hidden_size, 0, device=self.device, dtype=self.dtype)
        return torch.cat(blocks, dim=1)

    def _part_features(self, part: _PhonePart) -> torch.Tensor:
        n_phones = len(part.phone_ids)
        if part.lang != BERT_LANG or n_phones == 0:
            return torch.zeros(self.hidden_size, n_phones, device=self.device, dtype=self.dtype)
        word2ph = list(part.word2ph or ())
        if len(word2ph) != len(part.norm_text):
            raise ValueError(
                f"word2ph has {len(word2ph)} entries for {len(part.norm_text)} characters of {part.norm_text!r}"
            )
        if sum(word2ph) != n_phones:
            raise ValueError(f"word2ph sums to {sum(word2ph)} but the part has {n_phones} phones")
        chars = self.char_features(part.norm_text)
        repeats = torch.tensor(word2ph, device=chars.device)
        return torch.repeat_interleave(chars, repeats, dim=0).T


def _window_rows(tokens: torch.Tensor, spans: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """Tokenizer output ``[1, n + 2]`` -> ``[n_windows, size + 2]``: ``[CLS]``, each window's tokens, ``[SEP]``."""
    return torch.cat(
        [torch.cat([tokens[:, :1], tokens[:, 1 + start : 1 + end], tokens[:, -1:]], 1) for start, end, *_ in spans]
    )


def window_spans(n_tokens: int, size: int, context: int) -> list[tuple[int, int, int, int]]:
    """Overlapping windows over ``n_tokens`` tokens, as ``(start, end, keep_start, keep_end)``.

    Every window is ``size`` tokens long (one window ``(0, n, 0, n)`` when the text fits); the kept parts tile
    ``[0, n_tokens)`` in order, and a kept token has at least ``context`` tokens of its window on each side unless
    it is within ``context`` of an end of the text. ``context`` must be below ``size / 2``.
    """
    if n_tokens <= size:
        return [(0, n_tokens, 0, n_tokens)]
    if not 0 <= context < size / 2:
        raise ValueError(f"context {context} must be in [0, size / 2) for windows of {size}")
    spans = []
    keep_start = 0
    while keep_start < n_tokens:
        start = max(0, min(keep_start - context, n_tokens - size))
        end = start + size
        keep_end = n_tokens if end == n_tokens else end - context
        spans.append((start, end, keep_start, keep_end))
        keep_start = keep_end
    return spans


def truncate_layers(encoder: Any, drop: int) -> Any:
    """Keep all but the last ``drop`` transformer layers so ``last_hidden_state == hidden_states[-(drop + 1)]``."""
    layers = encoder.encoder.layer
    if len(layers) < drop:
        raise ModelFolderError(f"BERT has {len(layers)} layers; need at least {drop}")
    encoder.encoder.layer = torch.nn.ModuleList(list(layers)[: len(layers) - drop])
    encoder.config.num_hidden_layers = len(encoder.encoder.layer)
    return encoder
