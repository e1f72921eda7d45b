"""Phone-level RoBERTa features for the GPT (upstream ``get_bert_feature`` / ``get_bert_inf``).

For Chinese parts: tokenise ``norm_text`` (one token per character), take the third-from-last hidden state
(``hidden_states[-3:-2]``), drop ``[CLS]``/``[SEP]`` and repeat each character's vector ``word2ph[i]`` times.
Other languages (including Cantonese, as upstream) get zeros. Only the layers up to the one used are kept and the
masked-LM head is dropped: same numbers, less work. Loading is local-only (``local_files_only=True``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import torch

from sovits_core.ssl import ModelFolderError, check_model_folder


logger = logging.getLogger(__name__)

BERT_LANG = "zh"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
LAYERS_FROM_END = 2  # hidden_states[-3] is the output of layer L-2


class _PhonePart(Protocol):
    lang: str
    norm_text: str
    word2ph: Any
    phone_ids: Any


class _Phonemes(Protocol):
    parts: Any


class BertModel:
    """Chinese RoBERTa (wwm-ext-large) wrapper: ``phone_features(phonemes) -> [hidden (1024), n_phones]``."""

    def __init__(self, encoder: torch.nn.Module, tokenizer: Any) -> None:
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer

    @classmethod
    def from_folder(
        cls, path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> BertModel:
        """Load a ``BertForMaskedLM`` folder with its tokenizer (``vocab.txt`` / ``tokenizer.json``)."""
        from transformers import AutoTokenizer, BertForMaskedLM
        from transformers.utils import logging as hf_logging

        folder = check_model_folder(path)
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelFolderError(f"model folder {folder} is missing {' or '.join(TOKENIZER_FILES)}")
        try:
            hf_logging.disable_progress_bar()
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            mlm = BertForMaskedLM.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(f"cannot load RoBERTa from {folder}: {exc}") from exc
        return cls(truncate_layers(mlm.bert, LAYERS_FROM_END), tokenizer).to(device, dtype)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> BertModel:
        self.encoder.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.encoder.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    @torch.inference_mode()
    def char_features(self, text: str) -> torch.Tensor:
        """One vector per character of ``text``: ``[len(text), hidden]``."""
        inputs = self.tokenizer(text, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        hidden = self.encoder(**inputs).last_hidden_state[0, 1:-1]
        if hidden.shape[0] != len(text):
            raise ValueError(
                f"tokenizer split {text!r} into {hidden.shape[0]} tokens, expected one per character ({len(text)})"
            )
        return hidden

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


def truncate_layers(encoder: Any, drop: int) -> Any:
    """Keep all but the last ``drop`` transformer layers so ``last_hidden_state == hidden_states[-(drop + 1)]``."""
    layers = encoder.encoder.layer
    if len(layers) < drop:
        raise ModelFolderError(f"BERT has {len(layers)} layers; need at least {drop}")
    encoder.encoder.layer = torch.nn.ModuleList(list(layers)[: len(layers) - drop])
    encoder.config.num_hidden_layers = len(encoder.encoder.layer)
    return encoder
