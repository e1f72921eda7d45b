"""G2PW polyphone disambiguation with ONNX Runtime, as upstream GPT-SoVITS v2 runs it.

For each piece of text: convert to Taiwan-standard traditional characters (OpenCC ``s2tw``, G2PW was trained on
those), read every character with pypinyin except the polyphonic ones, and ask the model (a BERT classifier) for each
polyphonic character, looking at up to 16 characters around the polyphonic ones. Identical contexts are encoded once.
The predicted bopomofo is turned into toned pinyin; a word-level pronunciation dictionary then overrides words.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pypinyin import Style, pinyin

from ...errors import MissingLanguageSupport
from ..normalize.charmap import to_simplified
from .assets import (
    NON_MONOPHONIC,
    NON_POLYPHONIC,
    G2PWPaths,
    LabelTables,
    read_char_table,
    read_config,
    read_json,
    read_pronunciation_dict,
    resolve_paths,
)
from .inputs import QueryInputs, TokenizedText, batch_arrays, query_inputs


logger = logging.getLogger(__name__)

CONTEXT_CHARS = 16


def _import_runtime() -> tuple[Any, Any, Any]:
    try:
        import onnxruntime
        from opencc import OpenCC
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise MissingLanguageSupport(
            f"G2PW needs onnxruntime, opencc and transformers ({exc.name} is missing): "
            "pip install 'sovits-batch[g2pw]' opencc"
        ) from exc
    return onnxruntime, OpenCC, AutoTokenizer


def _open_session(onnxruntime: Any, onnx_path: Path) -> Any:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = 2
    providers = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return onnxruntime.InferenceSession(str(onnx_path), sess_options=options, providers=providers)


class G2PWPredictor:
    """Reads Mandarin pieces with G2PW (implements ``g2p.PinyinPredictor``)."""

    def __init__(self, paths: G2PWPaths, session: Any, tokenizer: Any, to_traditional: Any) -> None:
        config = read_config(paths.file("config.py"))
        self._session = session
        self._tokenizer = tokenizer
        self._to_traditional = to_traditional
        self._char_phoneme_labels = bool(config.get("use_char_phoneme", False))
        self._use_mask = bool(config.get("use_mask", True))
        self.tables = LabelTables.build(read_char_table(paths.file("POLYPHONIC_CHARS.txt")), self._char_phoneme_labels)
        self._char_ids = {char: index for index, char in enumerate(self.tables.chars)}
        self._polyphonic = set(self.tables.chars) - NON_POLYPHONIC
        monophonic = dict(read_char_table(paths.file("MONOPHONIC_CHARS.txt")))
        self._monophonic = {char: bopomofo for char, bopomofo in monophonic.items() if char not in NON_MONOPHONIC}
        self._bopomofo_syllables = read_json(paths.file("bopomofo_to_pinyin_wo_tune_dict.json"))
        self._dictionary = read_pronunciation_dict(paths.file("polyphonic.rep"), paths.file("polyphonic-fix.rep"))

    @classmethod
    def from_folder(cls, folder: str | Path, tokenizer_dir: str | Path | None = None) -> "G2PWPredictor":
        """Load upstream's ``G2PWModel`` folder (see :func:`sovits_core.text.zh.configure`)."""
        paths = resolve_paths(folder, tokenizer_dir)
        onnxruntime, open_cc, auto_tokenizer = _import_runtime()
        tokenizer = auto_tokenizer.from_pretrained(str(paths.tokenizer))
        return cls(paths, _open_session(onnxruntime, paths.onnx), tokenizer, open_cc("s2tw").convert)

    def _bopomofo_to_pinyin(self, bopomofo: str) -> str | None:
        syllable = self._bopomofo_syllables.get(bopomofo[:-1])
        if syllable and bopomofo[-1] in "12345":
            return syllable + bopomofo[-1]
        logger.warning("G2PW: cannot convert bopomofo %r to pinyin", bopomofo)
        return None

    def _traditional(self, piece: str) -> str:
        converted = self._to_traditional(piece)
        if len(converted) != len(piece):  # upstream asserts; keep the text as is instead
            logger.warning("G2PW: OpenCC changed the length of %r; using it unconverted", piece)
            return piece
        return converted

    def _baseline(self, sentence: str) -> list[str | None]:
        """Readings without the model: monophonic table, else pypinyin (``None`` = ask the model)."""
        readings = [
            item[0] for item in pinyin(to_simplified(sentence), neutral_tone_with_five=True, style=Style.TONE3)
        ]
        if len(readings) != len(sentence):
            readings = [pinyin(char, neutral_tone_with_five=True, style=Style.TONE3)[0][0] for char in sentence]
        result: list[str | None] = []
        for char, reading in zip(sentence, readings, strict=True):
            if char in self._polyphonic:
                result.append(None)
            elif char in self._monophonic:
                result.append(self._bopomofo_to_pinyin(self._monophonic[char]))
            else:
                result.append(reading)
        return result

    def _queries(self, sentences: list[str]) -> list[tuple[int, int, str, int]]:
        """``(sentence index, char index, context text, char index in context)`` for every polyphonic char."""
        queries = []
        for sent_id, sentence in enumerate(sentences):
            indices = [i for i, char in enumerate(sentence) if char in self._polyphonic]
            if not indices:
                continue
            left = max(0, indices[0] - CONTEXT_CHARS)
            right = min(len(sentence), indices[-1] + CONTEXT_CHARS + 1)
            queries.extend((sent_id, index, sentence[left:right], index - left) for index in indices)
        return queries

    def _model_inputs(self, queries: list[tuple[int, int, str, int]]) -> dict[str, np.ndarray]:
        cache: dict[str, TokenizedText] = {}
        encoded: list[QueryInputs] = [query_inputs(self._tokenizer, text, at, cache) for _, _, text, at in queries]
        n_labels = len(self.tables.labels)
        masks = [
            [1.0 if i in self.tables.char_label_ids[q.query_char] else 0.0 for i in range(n_labels)]
            if self._use_mask
            else [1.0] * n_labels
            for q in encoded
        ]
        return batch_arrays(encoded, [self._char_ids[q.query_char] for q in encoded], masks)

    def _run(self, arrays: dict[str, np.ndarray]) -> list[str]:
        feeds = {
            "input_ids": arrays["input_ids"],
            "token_type_ids": arrays["token_type_ids"],
            "attention_mask": arrays["attention_masks"],
            "phoneme_mask": arrays["phoneme_masks"],
            "char_ids": arrays["char_ids"],
            "position_ids": arrays["position_ids"],
        }
        probabilities = self._session.run([], feeds)[0]
        return [self.tables.labels[int(index)] for index in np.argmax(probabilities, axis=1)]

    def _run_deduplicated(self, arrays: dict[str, np.ndarray], texts: list[str]) -> list[str]:
        """Encode each distinct context once: same-text queries share one row of BERT inputs (as upstream)."""
        groups: dict[str, list[int]] = {}
        for index, text in enumerate(texts):
            groups.setdefault(text, []).append(index)
        if len(texts) <= 1 or all(len(indices) == 1 for indices in groups.values()):
            return self._run(arrays)
        predictions = [""] * len(texts)
        for indices in groups.values():
            group = {name: value[indices] for name, value in arrays.items()}
            if len(indices) > 1:
                for name in ("input_ids", "token_type_ids", "attention_masks"):
                    group[name] = group[name][:1]
            for index, label in zip(indices, self._run(group), strict=True):
                predictions[index] = label
        return predictions

    def predict(self, pieces: list[str]) -> list[list[str]]:
        """Toned pinyin (``"zhong1"``) or the punctuation mark itself for every character of every piece."""
        sentences = [self._traditional(piece) for piece in pieces]
        results = [self._baseline(sentence) for sentence in sentences]
        queries = self._queries(sentences)
        if queries:
            labels = self._run_deduplicated(self._model_inputs(queries), [text for _, _, text, _ in queries])
            for (sent_id, index, _, _), label in zip(queries, labels, strict=True):
                bopomofo = label.split(" ")[1] if self._char_phoneme_labels else label
                results[sent_id][index] = self._bopomofo_to_pinyin(bopomofo)
        return [self._fill_gaps(piece, readings) for piece, readings in zip(pieces, results, strict=True)]

    @staticmethod
    def _fill_gaps(piece: str, readings: list[str | None]) -> list[str]:
        """Where no reading came out (upstream would crash), use pypinyin's."""
        return [
            reading if reading else pinyin(char, neutral_tone_with_five=True, style=Style.TONE3)[0][0]
            for char, reading in zip(piece, readings, strict=True)
        ]

    def correct(self, word: str, pinyins: list[str]) -> list[str]:
        """Apply the pronunciation dictionary: a whole-word entry wins, else single-character entries."""
        entry = self._dictionary.get(word)
        if entry is not None:
            return list(entry)
        corrected = list(pinyins)
        for index, char in enumerate(word[: len(corrected)]):
            char_entry = self._dictionary.get(char)
            if char_entry:
                corrected[index] = char_entry[0]
        return corrected
