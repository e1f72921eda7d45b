"""The part of the GPT-SoVITS v2 symbol table that English G2P can produce.

English output is ARPAbet with stress digits plus a few punctuation marks. Upstream keeps a phone only if it is in
the full v2 table (732 symbols); every other v2 symbol (pinyin finals, kana, jamo, Cantonese) cannot come out of the
English pipeline (normalised text holds only ``[ A-Za-z'.,?!-]``), so membership in this subset is the same test.
"""

# ARPAbet phones present in the v2 table. Note: unstressed "UW" is absent (upstream drops it), "ER" and "IH" are
# present without a stress digit.
V2_ARPA: frozenset[str] = frozenset(
    """
    AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH EH0 EH1 EH2 ER ER0 ER1 ER2
    EY0 EY1 EY2 F G HH IH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG OW0 OW1 OW2 OY0 OY1 OY2 P R S SH T TH UH0 UH1 UH2
    UW0 UW1 UW2 V W Y Z ZH
    """.split()
)

# v2 punctuation symbols (upstream ``symbols2.punctuation``), in upstream order.
PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")

UNKNOWN = "UNK"

# Every symbol English G2P may emit.
EN_SYMBOLS: frozenset[str] = V2_ARPA | frozenset(PUNCTUATION) | {UNKNOWN}

# Predictor / tokenizer outputs that upstream removes before mapping to symbols.
DROPPED_TOKENS: frozenset[str] = frozenset({" ", "<pad>", "UW", "</s>", "<s>"})

# Tokens that are not symbols but are mapped to one (upstream ``replace_phs``).
TOKEN_REMAP: dict[str, str] = {"<unk>": UNKNOWN, "'": "-"}
