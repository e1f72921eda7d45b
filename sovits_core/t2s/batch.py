"""Packing rows with different text and prompt lengths into one left-padded batch, and its attention masks.

Row ``i`` holds ``pad_i`` padding columns, then its ``n_text_i`` text columns, then its prompt codes, then the
codes it generates. Every row's prefix ends at the same column, so the last column is always the last real token
of every row (the last phone for a reference-free row, the last prompt code otherwise) and new tokens are appended
at one shared column. Each row keeps its own positions: text ``0..n_text_i-1``, audio ``0..n_prompt_i-1`` and
then ``n_prompt_i + step``, exactly what the row would get alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PrefixLayout:
    """Where each row's prefix sits in a left-padded batch.

    Attributes:
        length: columns of the padded prefix (the longest row's ``n_text + n_prompt``).
        pad: per row, leading padding columns.
        n_text: per row, text columns.
        n_prompt: per row, prompt-code columns (0 = reference-free).
    """

    length: int
    pad: list[int]
    n_text: list[int]
    n_prompt: list[int]


def layout_prefixes(n_text: list[int], n_prompt: list[int]) -> PrefixLayout:
    """Left-padded layout of rows with these text and prompt lengths."""
    lengths = [text + prompt for text, prompt in zip(n_text, n_prompt, strict=True)]
    longest = max(lengths)
    return PrefixLayout(longest, [longest - n for n in lengths], list(n_text), list(n_prompt))


def pad_prefixes(prefixes: list[torch.Tensor], layout: PrefixLayout) -> torch.Tensor:
    """Stack per-row prefix vectors ``[T_i + P_i, D]`` into ``[B, L, D]``, zeros in padding columns."""
    first = prefixes[0]
    inputs = first.new_zeros(len(prefixes), layout.length, first.shape[1])
    for row, (prefix, pad) in enumerate(zip(prefixes, layout.pad, strict=True)):
        inputs[row, pad:] = prefix
    return inputs


def attention_mask(pad: torch.Tensor, n_text: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Full-sequence mask ``[B, 1, S, S]`` (True = query may attend key).

    Text queries attend every text key of their row; audio queries attend all text keys and audio keys up to
    themselves; padding queries attend only themselves (so no softmax row is empty and no NaN appears); no real
    query attends a padding key.

    Args:
        pad: ``[B]`` leading padding columns per row.
        n_text: ``[B]`` text columns per row.
        seq_len: columns ``S`` of the sequence (prefix plus generated tokens).
    """
    columns = torch.arange(seq_len, device=pad.device)
    is_pad = columns < pad.unsqueeze(1)
    is_text = ~is_pad & (columns < (pad + n_text).unsqueeze(1))
    causal = columns.unsqueeze(0) <= columns.unsqueeze(1)  # [query, key]
    audio_rows = ~is_pad.unsqueeze(1) & causal
    allowed = torch.where(is_text.unsqueeze(2), is_text.unsqueeze(1), audio_rows)
    own_column = torch.eye(seq_len, dtype=torch.bool, device=pad.device)
    allowed = torch.where(is_pad.unsqueeze(2), own_column, allowed)
    return allowed.unsqueeze(1)


def key_mask(pad: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Mask ``[B, 1, 1, n_keys]`` for one new audio query per row: every non-padding key."""
    columns = torch.arange(n_keys, device=pad.device)
    return (columns >= pad.unsqueeze(1)).view(pad.shape[0], 1, 1, n_keys)
