"""``cut_for_search`` as upstream's ``jieba_fast`` computes it, on top of the ``jieba`` package's data.

Upstream's tone sandhi splits words with ``jieba_fast.cut_for_search``. jieba_fast shares jieba's dictionary and HMM
tables but computes two steps in C, with different tie-breaking, which changes the result for words made of
characters the HMM has never seen (e.g. 苵五笉: jieba gives 苵 / 五 / 笉, jieba_fast gives 苵五笉):

* the best-path search over the dictionary DAG keeps the *first* best end position (jieba keeps the last) and looks
  at no more than 12 dictionary words starting at one position;
* the BMES Viterbi keeps the first best predecessor, and when every candidate score is below ``MIN_FLOAT`` (unseen
  characters) it stores ``MIN_FLOAT`` itself and takes the larger state letter; the final state is ``E`` unless
  ``S`` scores strictly higher.

This module reproduces those rules in Python (the inputs are single words, so speed does not matter). ``jieba.posseg``,
the main segmentation, is pure Python in both packages and is used as is.
"""

import math
import re
from collections.abc import Iterator

import jieba
import jieba.finalseg


MIN_FLOAT = -3.14e100
_C_INT_MIN = -2147483648.0
_MAX_DAG_ENDS = 12
_PREVIOUS_STATES = {"B": "ES", "M": "MB", "S": "SE", "E": "BM"}

_RE_BLOCK = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%]+)")
_RE_SKIP = re.compile("(\r\n|\\s)")
_RE_HMM_BLOCK = re.compile("([\u4e00-\u9fd5]+)")
_RE_HMM_SKIP = re.compile("([a-zA-Z0-9]+(?:\\.\\d+)?%?)")


def _best_route(sentence: str, freq: dict[str, int], total: float) -> list[int]:
    """End index of the best dictionary word starting at each position (jieba_fast ``_get_DAG_and_calc``)."""
    n_chars = len(sentence)
    log_total = math.log(total)
    score = [0.0] * (n_chars + 1)
    best_end = [0] * (n_chars + 1)
    for start in range(n_chars - 1, -1, -1):
        best, best_x = _C_INT_MIN, 0
        for end in _dag_ends(sentence, start, freq):
            value = math.log(freq.get(sentence[start : end + 1]) or 1) - log_total + score[end + 1]
            if value > best:
                best, best_x = value, end
        score[start], best_end[start] = best, best_x
    return best_end


def _dag_ends(sentence: str, start: int, freq: dict[str, int]) -> list[int]:
    ends: list[int] = []
    i, fragment = start, sentence[start]
    while i < len(sentence) and fragment in freq and len(ends) < _MAX_DAG_ENDS:
        if freq[fragment]:
            ends.append(i)
        i += 1
        fragment = sentence[start : i + 1]
    return ends or [start]


def _viterbi_states(chars: str) -> list[str]:
    """BMES labels of ``chars`` (jieba_fast ``_viterbi``)."""
    start_p, trans_p, emit_p = jieba.finalseg.start_P, jieba.finalseg.trans_P, jieba.finalseg.emit_P
    scores = {state: emit_p[state].get(chars[0], MIN_FLOAT) + start_p[state] for state in "BMES"}
    back: list[dict[str, str]] = []
    for char in chars[1:]:
        new_scores: dict[str, float] = {}
        pointers: dict[str, str] = {}
        for state in "BMES":
            emission = emit_p[state].get(char, MIN_FLOAT)
            best, best_prev = MIN_FLOAT, ""
            for prev in _PREVIOUS_STATES[state]:
                value = emission + scores[prev] + trans_p[prev].get(state, MIN_FLOAT)
                if value > best:
                    best, best_prev = value, prev
            new_scores[state] = best
            pointers[state] = best_prev or max(_PREVIOUS_STATES[state])
        scores = new_scores
        back.append(pointers)
    state = "S" if scores["S"] > scores["E"] else "E"
    labels = [state]
    for pointers in reversed(back):
        state = pointers[state]
        labels.append(state)
    return labels[::-1]


def _hmm_words(chars: str) -> Iterator[str]:
    labels = _viterbi_states(chars)
    begin = next_start = 0
    for i, (char, label) in enumerate(zip(chars, labels, strict=True)):
        if label == "B":
            begin = i
        elif label == "E":
            yield chars[begin : i + 1]
            next_start = i + 1
        elif label == "S":
            yield char
            next_start = i + 1
    if next_start < len(chars):
        yield chars[next_start:]


def _hmm_cut(text: str) -> Iterator[str]:
    for block in _RE_HMM_BLOCK.split(text):
        if _RE_HMM_BLOCK.match(block):
            yield from _hmm_words(block)
        else:
            yield from (part for part in _RE_HMM_SKIP.split(block) if part)


def _flush(buffer: str, freq: dict[str, int]) -> Iterator[str]:
    if len(buffer) == 1:
        yield buffer
    elif not freq.get(buffer):
        yield from _hmm_cut(buffer)
    else:
        yield from buffer


def _cut_block(block: str, freq: dict[str, int], total: float) -> Iterator[str]:
    best_end = _best_route(block, freq, total)
    position, buffer = 0, ""
    while position < len(block):
        end = best_end[position] + 1
        if end - position == 1:
            buffer += block[position:end]
        else:
            if buffer:
                yield from _flush(buffer, freq)
                buffer = ""
            yield block[position:end]
        position = end
    if buffer:
        yield from _flush(buffer, freq)


def _cut(sentence: str) -> Iterator[str]:
    tokenizer = jieba.dt
    for block in _RE_BLOCK.split(sentence):
        if not block:
            continue
        if _RE_BLOCK.match(block):
            yield from _cut_block(block, tokenizer.FREQ, float(tokenizer.total))
            continue
        for part in _RE_SKIP.split(block):
            if _RE_SKIP.match(part):
                yield part
            else:
                yield from part


def cut_for_search(sentence: str) -> list[str]:
    """jieba_fast's ``lcut_for_search``: dictionary 2-grams and 3-grams inside long words, then each word."""
    jieba.dt.check_initialized()
    freq = jieba.dt.FREQ
    words: list[str] = []
    for word in _cut(sentence):
        if len(word) > 2:
            words.extend(word[i : i + 2] for i in range(len(word) - 1) if freq.get(word[i : i + 2]))
        if len(word) > 3:
            words.extend(word[i : i + 3] for i in range(len(word) - 2) if freq.get(word[i : i + 3]))
        words.append(word)
    return words
