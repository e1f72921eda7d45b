"""Model inputs for G2PW: BERT tokens of a sentence and the position of the queried character.

Same algorithm as upstream's ``g2pw/dataset.py`` + ``utils.py`` (from PaddleSpeech / GitYCC g2pW): the text is
lower-cased, split into runs of ``[a-zA-Z0-9]`` and single other characters, each piece is tokenized on its own,
and a character-to-token map gives the query position. Texts longer than 510 tokens are cut to a window around the
query.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


MAX_TOKENS = 512
_RE_SPACES = re.compile(r"^ +")
_RE_ALNUM = re.compile(r"^[a-zA-Z0-9]+")


@dataclass(frozen=True)
class TokenizedText:
    tokens: list[str]
    char_to_token: list[int | None]  # token index of each character (None for spaces)
    token_spans: list[tuple[int, int]]  # character span of each token


def _split_words(text: str) -> tuple[list[str], list[int | None], list[tuple[int, int]]]:
    words: list[str] = []
    char_to_word: list[int | None] = []
    spans: list[tuple[int, int]] = []
    while text:
        spaces = _RE_SPACES.match(text)
        if spaces:
            char_to_word += [None] * len(spaces.group(0))
            text = text[len(spaces.group(0)) :]
            continue
        alnum = _RE_ALNUM.match(text)
        word = alnum.group(0) if alnum else text[0]
        start = len(char_to_word)
        spans.append((start, start + len(word)))
        char_to_word += [len(words)] * len(word)
        words.append(word)
        text = text[len(word) :]
    return words, char_to_word, spans


def tokenize_with_map(tokenizer: Any, text: str) -> TokenizedText:
    """Tokenize ``text`` piece by piece, keeping the character <-> token correspondence."""
    words, char_to_token, word_spans = _split_words(text)
    tokens: list[str] = []
    token_spans: list[tuple[int, int]] = []
    for word, (start, end) in zip(words, word_spans, strict=True):
        pieces = tokenizer.tokenize(word)
        if not pieces or pieces == ["[UNK]"]:
            token_spans.append((start, end))
            tokens.append("[UNK]")
            continue
        for piece in pieces:
            length = len(piece[2:] if piece.startswith("##") else piece)
            token_spans.append((start, start + length))
            start += length
            tokens.append(piece)
    for index, (start, end) in enumerate(token_spans):
        for position in range(start, end):
            char_to_token[position] = index
    return TokenizedText(tokens=tokens, char_to_token=char_to_token, token_spans=token_spans)


def _window(tokenized: TokenizedText, text: str, query: int) -> tuple[str, int, TokenizedText]:
    """Cut a text of more than ``MAX_TOKENS - 2`` tokens to a window centred on the query's token."""
    budget = MAX_TOKENS - 2
    query_token = tokenized.char_to_token[query]
    assert query_token is not None
    first = query_token - budget // 2
    last = first + budget
    if first < 0:
        first, last = 0, last - first
    elif last > len(tokenized.tokens):
        first, last = first - (last - len(tokenized.tokens)), len(tokenized.tokens)
    start, end = tokenized.token_spans[first][0], tokenized.token_spans[last - 1][1]
    window = TokenizedText(
        tokens=tokenized.tokens[first:last],
        char_to_token=[None if i is None else i - first for i in tokenized.char_to_token[start:end]],
        token_spans=[(s - start, e - start) for s, e in tokenized.token_spans[first:last]],
    )
    return text[start:end], query - start, window


@dataclass(frozen=True)
class QueryInputs:
    input_ids: list[int]
    query_char: str
    position_id: int


def query_inputs(tokenizer: Any, text: str, query: int, cache: dict[str, TokenizedText]) -> QueryInputs:
    """Token ids for ``text`` (lower-cased) and the token position of character ``query``."""
    text = text.lower()
    tokenized = cache.get(text)
    if tokenized is None:
        tokenized = cache[text] = tokenize_with_map(tokenizer, text)
    if len(tokenized.tokens) > MAX_TOKENS - 2:
        text, query, tokenized = _window(tokenized, text, query)
    ids = [int(i) for i in tokenizer.convert_tokens_to_ids(["[CLS]", *tokenized.tokens, "[SEP]"])]
    position = tokenized.char_to_token[query]
    assert position is not None
    return QueryInputs(input_ids=ids, query_char=text[query], position_id=position + 1)


def batch_arrays(
    queries: Sequence[QueryInputs], char_ids: Sequence[int], phoneme_masks: Sequence[Sequence[float]]
) -> dict[str, np.ndarray]:
    """Pad a batch into the arrays the G2PW ONNX graph takes (names as upstream's ``prepare_onnx_input``)."""
    width = max(len(query.input_ids) for query in queries)
    input_ids = np.zeros((len(queries), width), dtype=np.int64)
    attention = np.zeros((len(queries), width), dtype=np.int64)
    for row, query in enumerate(queries):
        input_ids[row, : len(query.input_ids)] = query.input_ids
        attention[row, : len(query.input_ids)] = 1
    return {
        "input_ids": input_ids,
        "token_type_ids": np.zeros_like(input_ids),
        "attention_masks": attention,
        "phoneme_masks": np.asarray(phoneme_masks, dtype=np.float32),
        "char_ids": np.asarray(char_ids, dtype=np.int64),
        "position_ids": np.asarray([query.position_id for query in queries], dtype=np.int64),
    }
