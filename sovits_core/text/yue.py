"""Cantonese G2P with GPT-SoVITS v2 behaviour (optional extra ``yue``).

Upstream v2 normalises Cantonese with the Mandarin normaliser (traditional -> simplified characters, numbers, dates
and units spelled in characters), keeps only CJK ideographs and the v2 punctuation, reads each character in Jyutping
with ToJyutping (which ships its data), splits every syllable into an "initial" and a toned "final", and prefixes
both with ``Y`` so they never collide with Mandarin symbols: ``"佢"`` -> ``keoi5`` -> ``Yk Yeoi5``. Every character
gives two phones and every punctuation mark one (the word2ph). Phones that are not in the v2 table (rare
combinations) become ``UNK``, as upstream's ``clean_text`` does.
"""

import re
from types import ModuleType

from .errors import TextError, missing_extra, require_str
from .symbols import PUNCTUATION, SYMBOL_TO_ID, UNK


LANGUAGE = "Cantonese"
EXTRA = "yue"

# Upstream's "initials", tried in this order; the first prefix that matches wins (the list mixes true initials with
# vowel-initial syllable heads, which is why the order matters).
_INITIALS = (
    "aa", "aai", "aak", "aap", "aat", "aau", "ai", "au", "ap", "at", "ak", "a", "p", "b", "e", "ts", "t", "dz", "d",
    "kw", "k", "gw", "g", "f", "h", "l", "m", "ng", "n", "s", "y", "w", "c", "z", "j", "ong", "on", "ou", "oi", "ok",
    "o", "uk", "ung", "sp", "spl", "spn", "sil",
)  # fmt: skip
_PREFIX = "Y"

_FOLD = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",", "...": "…",
    "$": ".", "“": "'", "”": "'", '"': "'", "‘": "'", "’": "'", "（": "'", "）": "'", "(": "'", ")": "'",
    "《": "'", "》": "'", "【": "'", "】": "'", "[": "'", "]": "'", "—": "-", "～": "-", "~": "-", "「": "'",
    "」": "'",
}  # fmt: skip
_RE_FOLD = re.compile("|".join(re.escape(key) for key in _FOLD))
_RE_UNSPEAKABLE = re.compile(r"[^\u4e00-\u9fa5" + re.escape("".join(PUNCTUATION)) + r"]+")
_RE_PUNCTUATION_RUN = re.compile(f"^[{re.escape(''.join(PUNCTUATION))}]+$")
_RE_JYUTPING = re.compile(r"^([a-z]+[1-6]+[ ]?)+$")


def normalize(text: str) -> str:
    """Upstream's Cantonese normalisation; the result holds only ideographs U+4E00..U+9FA5 and ``!?…,.-``.

    Raises:
        MissingLanguageSupport: the Mandarin normaliser's own data package is missing.
    """
    from .zh.normalize.sentence import normalize_sentence, split_sentences

    return "".join(_fold_punctuation(normalize_sentence(sentence)) for sentence in split_sentences(text))


def g2p(text: str) -> tuple[list[str], list[int], str]:
    """Convert Cantonese text to v2 phones.

    Args:
        text: raw Cantonese text (traditional or simplified characters, digits, punctuation).

    Returns:
        ``(phones, word2ph, norm_text)``: v2 Cantonese symbols and punctuation, the number of phones of each
        character of ``norm_text`` (2 per ideograph, 1 per punctuation mark), and the normalised text.

    Raises:
        MissingLanguageSupport: the ``yue`` extra is not installed.
        TextError: a character has no Jyutping reading.
    """
    # the G2P entry every language module has (check, load its backend, normalise); the shared part is require_str
    require_str(text, LANGUAGE)
    to_jyutping = _tojyutping()
    norm_text = normalize(text)
    phones: list[str] = []
    word2ph: list[int] = []
    for syllable in _jyutping_syllables(to_jyutping, norm_text):
        parts = split_syllable(syllable)
        phones += [_to_symbol(part) for part in parts]
        word2ph.append(len(parts))
    if len(word2ph) != len(norm_text):
        raise TextError(
            f"Cantonese G2P gave {len(word2ph)} readings for the {len(norm_text)} characters of {norm_text!r}"
        )
    return phones, word2ph, norm_text


def split_syllable(syllable: str) -> list[str]:
    """Split one Jyutping syllable into v2 phone names before the ``Y`` prefix (``"keoi5"`` -> ``["k", "eoi5"]``).

    A punctuation mark is returned as itself. The tone (1-6) goes on the final; a syllable without a tone digit
    gets none.

    Raises:
        TextError: no upstream initial matches the syllable.
    """
    if syllable in PUNCTUATION or syllable == "_":
        return [syllable]
    tone = syllable[-1] if syllable[-1] in "123456" else ""
    body = syllable[:-1] if tone else syllable
    if body.startswith("nga"):
        return [body[:2], (body[2:] or body[-1]) + tone]
    for initial in _INITIALS:
        if body.startswith(initial):
            return [initial, (body[len(initial) :] or initial[-1]) + tone]
    raise TextError(f"cannot split the Jyutping syllable {syllable!r} into an initial and a final")


def _tojyutping() -> ModuleType:
    try:
        import ToJyutping
    except ImportError as exc:
        raise missing_extra(LANGUAGE, EXTRA, f"cannot import ToJyutping: {exc}") from exc
    return ToJyutping


def _fold_punctuation(sentence: str) -> str:
    return _RE_UNSPEAKABLE.sub("", _RE_FOLD.sub(lambda match: _FOLD[match.group(0)], sentence))


def _jyutping_syllables(to_jyutping: ModuleType, text: str) -> list[str]:
    """One Jyutping syllable per ideograph and one entry per punctuation mark."""
    try:
        pairs = to_jyutping.get_jyutping_list(text)
    except Exception as exc:  # keep library failures on odd input out of the caller's traceback
        raise TextError(f"ToJyutping failed on Cantonese text {text!r}: {exc}") from exc
    syllables: list[str] = []
    for word, reading in pairs:
        if _RE_PUNCTUATION_RUN.match(word):
            syllables += list(word)
        elif reading and _RE_JYUTPING.match(reading):
            syllables.append(reading)
        else:
            raise TextError(f"no Jyutping reading for {word!r} in Cantonese text {text!r} (got {reading!r})")
    return syllables


def _to_symbol(part: str) -> str:
    phone = part if part in PUNCTUATION else _PREFIX + part
    return phone if phone in SYMBOL_TO_ID else UNK
