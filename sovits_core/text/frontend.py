"""Text → v2 phone ids: input checks, language splitting, per-language G2P and joining (upstream v2 semantics).

:func:`text_to_phones` is the counterpart of upstream's ``get_phones_and_bert`` minus BERT (``sovits_core.bert``
computes features from the returned parts): the text is split into language runs by the mode rules of
:mod:`.langsplit`, each run goes through its language's G2P module with upstream ``clean_text``'s glue (Chinese
``￥`` / ``^`` become the silences ``SP2`` / ``SP3``; phones outside the v2 table become ``UNK``; the English module
itself adds upstream's leading ``,`` to runs shorter than 4 phones) and the runs are concatenated. Like upstream, a result of fewer than 6
phones is recomputed once with ``"."`` prepended (``short_text_retry``), which gives very short texts a lead-in pause.

Deviations from upstream, all on input upstream would crash on or turn into noise: control / format characters are
removed first (newline and tab are kept as newline and space), and empty text, text without any letter or digit and
text whose phones carry no speech sound raise :class:`TextError` instead of returning punctuation only.
"""

import importlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from types import ModuleType

from .errors import MissingLanguageSupport, TextError
from .langsplit import split_for_mode
from .symbols import SYMBOL_TO_ID, UNK, is_punctuation


logger = logging.getLogger(__name__)

# Our codes and upstream's webui codes; both name one of upstream's text-language modes.
LANGUAGES: tuple[str, ...] = ("zh", "en", "ja", "ko", "yue", "auto")
UPSTREAM_ALIASES: tuple[str, ...] = ("all_zh", "all_ja", "all_yue", "all_ko", "auto_yue")
_G2P_MODULES = {"zh": "zh", "en": "en", "ja": "ja", "ko": "ko", "yue": "yue"}
_OPTIONAL_EXTRAS = {"ja": "ja", "ko": "ko", "yue": "yue"}
_SPECIALS = (("￥", "SP2"), ("^", "SP3"))  # Chinese-only pause marks (upstream cleaner.special)
MIN_PHONES = 6
_KEEP_CONTROLS = {"\n": "\n", "\t": " ", "\r": "\n"}
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_WORD_CHAR = re.compile(r"[^\W_]")
_MULTI_SPACE = re.compile(r" {2,}")


@dataclass(frozen=True)
class PhonePart:
    """The phones of one language run.

    Attributes:
        lang: language module that produced the run: ``zh``, ``en``, ``ja``, ``ko`` or ``yue``.
        phones: v2 phone symbols.
        phone_ids: ids of ``phones`` in the v2 table.
        word2ph: for ``zh`` / ``yue``, phones per character of ``norm_text`` (``len == len(norm_text)``); else None.
        norm_text: the normalised text of the run (what BERT reads for Chinese).
    """

    lang: str
    phones: tuple[str, ...]
    phone_ids: tuple[int, ...]
    word2ph: tuple[int, ...] | None
    norm_text: str

    def __post_init__(self) -> None:
        if len(self.phones) != len(self.phone_ids):
            raise TextError(f"{self.lang} part: {len(self.phones)} phones but {len(self.phone_ids)} ids")
        if self.word2ph is not None and (
            sum(self.word2ph) != len(self.phones) or len(self.word2ph) != len(self.norm_text)
        ):
            raise TextError(
                f"{self.lang} part {self.norm_text[:40]!r}: word2ph sums to {sum(self.word2ph)} for "
                f"{len(self.phones)} phones and has {len(self.word2ph)} entries for {len(self.norm_text)} characters"
            )


@dataclass(frozen=True)
class Phonemes:
    """The phones of a text: one :class:`PhonePart` per language run, in text order."""

    parts: tuple[PhonePart, ...]

    @property
    def phone_ids(self) -> list[int]:
        """All phone ids, concatenated."""
        return [index for part in self.parts for index in part.phone_ids]

    @property
    def phones(self) -> list[str]:
        """All phone symbols, concatenated."""
        return [phone for part in self.parts for phone in part.phones]

    @property
    def norm_text(self) -> str:
        """The normalised text of all parts joined without separator, as upstream joins them."""
        return "".join(part.norm_text for part in self.parts)

    def __len__(self) -> int:
        return sum(len(part.phone_ids) for part in self.parts)


def resolve_lang(lang: str) -> str:
    """Map a language code to upstream's mode name.

    Args:
        lang: one of ``LANGUAGES`` or ``UPSTREAM_ALIASES`` (case and surrounding spaces are ignored).

    Raises:
        TextError: unknown code (the message lists the valid codes).
    """
    code = lang.strip().lower() if isinstance(lang, str) else None
    if code in LANGUAGES or code in UPSTREAM_ALIASES:
        return code
    valid = ", ".join(LANGUAGES + UPSTREAM_ALIASES)
    raise TextError(f"unknown language {lang!r}; valid codes: {valid}")


def clean_input(text: str | bytes) -> str:
    """Decode and sanitise raw input text.

    Bytes must be UTF-8. Control, format, surrogate and private-use characters are removed, except that newlines
    are kept (``\\r`` becomes ``\\n``) and a tab becomes a space; runs of spaces collapse to one (as upstream).

    Raises:
        TextError: bytes that are not valid UTF-8 (names the offset and byte), or a non-text object.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start]
            raise TextError(
                f"text is not valid UTF-8: byte 0x{bad:02x} at offset {exc.start} ({exc.reason})"
            ) from None
    if not isinstance(text, str):
        raise TextError(f"text must be str or UTF-8 bytes, got {type(text).__name__}")
    if not text.isprintable():
        text = "".join(_clean_char(char) for char in text)
    return _MULTI_SPACE.sub(" ", text)


def _clean_char(char: str) -> str:
    if char in _KEEP_CONTROLS:
        return _KEEP_CONTROLS[char]
    return "" if unicodedata.category(char) in _DROP_CATEGORIES else char


def _load_module(lang: str) -> ModuleType:
    try:
        return importlib.import_module(f"{__package__}.{_G2P_MODULES[lang]}")
    except MissingLanguageSupport:
        raise
    except ImportError as exc:
        extra = _OPTIONAL_EXTRAS.get(lang)
        hint = f": pip install 'sovits-batch[{extra}]'" if extra else ""
        raise MissingLanguageSupport(f"language {lang!r} is not available ({exc}){hint}") from exc


def _run_g2p(lang: str, text: str) -> tuple[list[str], list[int] | None, str]:
    module = _load_module(lang)
    try:
        phones, word2ph, norm_text = module.g2p(text)
    except TextError:
        raise
    except Exception as exc:  # never let a G2P library's internal error escape as an arbitrary type
        raise TextError(f"{lang} G2P failed on {text[:40]!r}: {type(exc).__name__}: {exc}") from exc
    return list(phones), None if word2ph is None else list(word2ph), norm_text


def phonemize_run(text: str, lang: str) -> PhonePart:
    """G2P for one language run, with upstream ``clean_text``'s glue rules.

    Args:
        text: the run's text.
        lang: ``zh``, ``en``, ``ja``, ``ko`` or ``yue``; any other label is treated like upstream (English G2P of
            a single space, which yields a lone ``,``).
    """
    if lang not in _G2P_MODULES:
        logger.debug("run %r has label %r without a G2P module; using upstream's fallback", text[:40], lang)
        lang, text = "en", " "
    special = next((pair for pair in _SPECIALS if lang == "zh" and pair[0] in text), None)
    if special is not None:
        text = text.replace(special[0], ",")
    phones, word2ph, norm_text = _run_g2p(lang, text)
    if special is not None:
        phones = [special[1] if phone == "," else phone for phone in phones]
    phones = [phone if phone in SYMBOL_TO_ID else UNK for phone in phones]
    ids = tuple(SYMBOL_TO_ID[phone] for phone in phones)
    w2p = tuple(word2ph) if lang in ("zh", "yue") and word2ph is not None else None
    return PhonePart(lang, tuple(phones), ids, w2p, norm_text)


def _phonemize(text: str, mode: str) -> list[PhonePart]:
    return [phonemize_run(span.text, span.lang) for span in split_for_mode(text, mode)]


def text_to_phones(text: str | bytes, lang: str, *, short_text_retry: bool = True) -> Phonemes:
    """Convert text to GPT-SoVITS v2 phones (upstream ``get_phones_and_bert`` without BERT).

    Args:
        text: the text (str, or UTF-8 bytes).
        lang: ``zh`` / ``ja`` / ``ko`` / ``yue`` (that language, with English runs read by the English G2P),
            ``en`` (all English), ``auto`` (detected per run), or upstream's ``all_zh``, ``all_ja``, ``all_yue``,
            ``all_ko``, ``auto_yue``.
        short_text_retry: when the result has fewer than 6 phones, recompute it once with ``"."`` prepended
            (upstream behaviour, on by default).

    Returns:
        The phones, one part per language run.

    Raises:
        TextError: unknown ``lang``; invalid UTF-8; empty text, text without letters or digits, or text whose phones
            carry no speech sound; a G2P failure (names the run).
        MissingLanguageSupport: the text needs a language whose optional packages are not installed.
    """
    mode = resolve_lang(lang)
    clean = clean_input(text)
    if not clean.strip():
        raise TextError("text is empty (or only whitespace / control characters)")
    if not _WORD_CHAR.search(clean):
        raise TextError(f"text has no letters or digits to speak: {clean[:40]!r}")
    parts = _phonemize(clean, mode)
    if short_text_retry and sum(len(part.phone_ids) for part in parts) < MIN_PHONES:
        parts = _phonemize("." + clean, mode)
    result = Phonemes(tuple(parts))
    if not any(not is_punctuation(phone) and phone != UNK for phone in result.phones):
        raise TextError(f"text {clean[:40]!r} ({lang}) produced no speech phones: {result.phones[:12]}")
    return result
