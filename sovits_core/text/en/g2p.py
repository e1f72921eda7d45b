"""English grapheme-to-phoneme conversion with GPT-SoVITS v2's rules (``english.en_G2p`` + ``english.g2p``).

Per token of the normalised text (NLTK's TweetTokenizer, case kept):

1. no letter -> the token itself (punctuation);
2. one letter -> that letter as a word, with a capital ``A`` read "EY1";
3. a homograph -> its reading for the token's POS tag (:mod:`.pos`, :mod:`.homographs`);
4. otherwise :meth:`EnglishG2P.lookup_word`: lexicon (words of 2+ letters) -> name dictionary (title-case tokens)
   -> spelled letter by letter if at most 3 characters -> ``X's`` as ``X`` + S/AH0 Z/Z -> split into known words
   (wordsegment) and recurse -> neural prediction.

The ARPAbet result is mapped onto the v2 symbol table as upstream does (``<unk>`` -> ``UNK``, ``'`` -> ``-``;
predictor specials, unstressed ``UW`` and anything else outside the table dropped).
"""

import logging
import re
from collections.abc import Callable, Iterable, Sequence

from sovits_core.text import pronounce
from sovits_core.text.en.homographs import Homograph
from sovits_core.text.en.lexicon import Lexicon
from sovits_core.text.en.oov import CompoundSplitter, PronunciationPredictor
from sovits_core.text.en.phoneset import DROPPED_TOKENS, EN_SYMBOLS, TOKEN_REMAP
from sovits_core.text.en.pos import Tagger


logger = logging.getLogger(__name__)

_HAS_LETTER_RE = re.compile("[a-z]")
_POSSESSIVE_RE = re.compile(r"^([a-z]+)('s)$")
_VOICELESS_ENDINGS = frozenset({"P", "T", "K", "F", "TH", "HH"})
_SIBILANT_ENDINGS = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})
_WORD_CACHE_SIZE = 200_000


def to_v2_symbols(tokens: Iterable[str]) -> list[str]:
    """Map raw G2P tokens onto v2 symbols (upstream ``g2p`` filter + ``replace_phs``)."""
    phones = []
    for token in tokens:
        if token in DROPPED_TOKENS:
            continue
        token = TOKEN_REMAP.get(token, token)
        if token in EN_SYMBOLS:
            phones.append(token)
        else:
            logger.debug("dropping %r: not a v2 symbol", token)
    return phones


def possessive_suffix(stem: Sequence[str]) -> tuple[str, ...]:
    """Phones of "'s" after ``stem``: S after voiceless stops/fricatives, AH0 Z after sibilants, Z otherwise."""
    last = stem[-1] if stem else ""
    if last in _VOICELESS_ENDINGS:
        return ("S",)
    if last in _SIBILANT_ENDINGS:
        return ("AH0", "Z")
    return ("Z",)


class EnglishG2P:
    """Normalised English text -> v2 phone symbols. Thread-compatible after construction (caches are dicts)."""

    def __init__(
        self,
        lexicon: Lexicon,
        homographs: dict[str, Homograph],
        tagger: Tagger,
        predictor: Callable[[], PronunciationPredictor],
        splitter: CompoundSplitter,
        tokenize: Callable[[str], list[str]],
    ) -> None:
        """
        Args:
            lexicon: word and name pronunciations.
            homographs: POS-dependent readings, keyed by lower-case word.
            tagger: POS tagger for homograph positions.
            predictor: returns the (lazily built, cached) OOV predictor.
            splitter: compound splitter.
            tokenize: upstream's word tokenizer (NLTK TweetTokenizer).
        """
        self.lexicon = lexicon
        self.homographs = homographs
        self.tagger = tagger
        self._predictor = predictor
        self._splitter = splitter
        self._tokenize = tokenize
        self._word_cache: dict[str, tuple[str, ...]] = {}

    def phonemize(self, norm_text: str) -> list[str]:
        """Upstream ``english.g2p``: phones (v2 symbols) for already-normalised text; may be empty."""
        tokens = self._tokenize(norm_text)
        lowered = [t.lower() for t in tokens]
        positions = [i for i, w in enumerate(lowered) if len(w) > 1 and w in self.homographs]
        tags = self.tagger.tags_at(tokens, positions) if positions else {}
        raw: list[str] = []
        for i, (token, word) in enumerate(zip(tokens, lowered, strict=True)):
            if i in tags and pronounce.lookup("en", word) is None:
                raw.extend(self.homographs[word].choose(tags[i]))
            else:
                raw.extend(self.token_phones(token, word))
        return to_v2_symbols(raw)

    def token_phones(self, token: str, word: str) -> Sequence[str]:
        """Raw phones of one non-homograph token (``word`` is ``token.lower()``); a user pronunciation wins."""
        user = pronounce.lookup("en", word)
        if user is not None:
            return user
        if _HAS_LETTER_RE.search(word) is None:
            return (word,)
        if len(word) == 1:
            return ("EY1",) if token == "A" else self._letter(word)
        return self.lookup_word(token)

    def lookup_word(self, token: str) -> tuple[str, ...]:
        """Upstream ``qryword``: pronunciation of one word token (case matters for the name dictionary)."""
        cached = self._word_cache.get(token)
        if cached is None:
            cached = self._lookup_uncached(token)
            if len(self._word_cache) >= _WORD_CACHE_SIZE:
                self._word_cache.clear()
            self._word_cache[token] = cached
        return cached

    def _lookup_uncached(self, token: str) -> tuple[str, ...]:
        word = token.lower()
        if len(word) > 1 and word in self.lexicon.words:
            return self.lexicon.words[word]
        if token.istitle() and word in self.lexicon.names:
            return self.lexicon.names[word]
        if len(word) <= 3:
            return self._spell(word)
        if _POSSESSIVE_RE.match(word):
            stem = self.lookup_word(word[:-2])
            return stem + possessive_suffix(stem)
        parts = self._splitter.split(word)
        if len(parts) == 1:
            return tuple(self._predictor().predict(word))
        return tuple(phone for part in parts for phone in self.lookup_word(part))

    def _spell(self, word: str) -> tuple[str, ...]:
        """Read a short word letter by letter ("a" is "EY1"; non-letters pass through)."""
        phones: list[str] = []
        for ch in word:
            if ch == "a":
                phones.append("EY1")
            elif not ch.isalpha():
                phones.append(ch)
            else:
                phones.extend(self._letter(ch))
        return tuple(phones)

    def _letter(self, letter: str) -> Sequence[str]:
        pron = self.lexicon.letter(letter)
        if pron is None:  # not an ASCII letter, or a lexicon without letter entries
            return self._predictor().predict(letter)
        return pron
