"""The GPT-SoVITS v2 phoneme symbol table.

A phone's id is its position in this table and is baked into every v2 checkpoint (the text embedding rows of both
the GPT and the SoVITS model), so the table is frozen: 732 symbols in exactly upstream's v2 order (its sorted set of
pad, Mandarin initials/finals, Japanese, punctuation and ARPAbet symbols, then ``[`` ``]``, then the sorted Korean
symbols, then the sorted Cantonese symbols). The list lives in ``symbols_v2.txt`` beside this module, one symbol per
line; it was generated once from upstream ``text/symbols2.py`` (commit 48b1a016) and is data, not code.
"""

from collections.abc import Iterable
from importlib import resources

from .errors import TextError


_TABLE_FILE = "symbols_v2.txt"
N_SYMBOLS = 732

PAD = "_"
UNK = "UNK"
# Punctuation phones shared by every language module (upstream's ``punctuation`` list).
PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")
# Silence symbols; SP2 / SP3 are produced from ``￥`` / ``^`` in Chinese text (see ``frontend``).
SILENCES: tuple[str, ...] = ("SP", "SP2", "SP3")


def _load_table() -> tuple[str, ...]:
    raw = resources.files(__package__).joinpath(_TABLE_FILE).read_text(encoding="utf-8")
    table = tuple(raw.split("\n")[:-1]) if raw.endswith("\n") else tuple(raw.split("\n"))
    if len(table) != N_SYMBOLS or len(set(table)) != N_SYMBOLS:
        raise RuntimeError(f"{_TABLE_FILE} is corrupt: {len(table)} lines, {len(set(table))} unique, need {N_SYMBOLS}")
    return table


SYMBOLS: tuple[str, ...] = _load_table()
SYMBOL_TO_ID: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}
UNK_ID = SYMBOL_TO_ID[UNK]


def symbols_to_ids(phones: Iterable[str]) -> list[int]:
    """Map v2 phone symbols to their ids.

    Args:
        phones: phone symbols, each one of ``SYMBOLS``.

    Returns:
        The ids, one per phone.

    Raises:
        TextError: a phone is not in the v2 table (names the phone and its position).
    """
    ids = []
    for position, phone in enumerate(phones):
        try:
            ids.append(SYMBOL_TO_ID[phone])
        except KeyError:
            raise TextError(f"phone {phone!r} at position {position} is not in the v2 symbol table") from None
    return ids


def ids_to_symbols(ids: Iterable[int]) -> list[str]:
    """Map ids back to phone symbols (for debugging and tests).

    Raises:
        TextError: an id is outside ``0 .. N_SYMBOLS - 1``.
    """
    out = []
    for position, index in enumerate(ids):
        if not 0 <= index < N_SYMBOLS:
            raise TextError(f"phone id {index} at position {position} is outside the v2 table (0..{N_SYMBOLS - 1})")
        out.append(SYMBOLS[index])
    return out


def is_punctuation(phone: str) -> bool:
    """True for punctuation and silence phones (phones that carry no speech sound)."""
    return phone in PUNCTUATION or phone in SILENCES or phone == PAD
