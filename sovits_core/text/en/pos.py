"""Part-of-speech tags for homograph disambiguation ("I will read" vs "I have read").

Upstream tags every token with NLTK's averaged perceptron tagger and picks a homograph's first reading when the tag
starts with the table's POS. Two taggers implement the :class:`Tagger` protocol here:

* :class:`PerceptronTagger` - the same model and the same arithmetic as ``nltk.tag.perceptron`` (features, summation
  order, tie-break by label), read from NLTK's ``averaged_perceptron_tagger_eng`` JSON files; used when an NLTK data
  folder is configured. Upstream parity.
* :class:`RuleTagger` - the offline fallback (no data): a verb tag after "to", modals, subject pronouns and the like;
  a past participle after have/be forms; a noun or adjective tag after determiners and prepositions, and by default.
  It only guesses for the homograph positions it is asked about.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sovits_core.text.en.resources import TAGGER_PREFIX, EnglishResourceError


logger = logging.getLogger(__name__)


class Tagger(Protocol):
    """Tags for ``positions`` of ``tokens`` (the tagger may look at the whole sentence)."""

    def tags_at(self, tokens: Sequence[str], positions: Sequence[int]) -> dict[int, str]: ...


class PerceptronTagger:
    """NLTK's averaged perceptron POS tagger, loaded from its JSON files without NLTK's loader."""

    START = ("-START-", "-START2-")
    END = ("-END-", "-END2-")

    def __init__(self, weights: dict[str, dict[str, float]], tagdict: dict[str, str], classes: Sequence[str]) -> None:
        self.weights = weights
        self.tagdict = tagdict
        self.classes = tuple(classes)

    @classmethod
    def from_dir(cls, tagger_dir: Path) -> "PerceptronTagger":
        """Load ``averaged_perceptron_tagger_eng.{weights,tagdict,classes}.json`` from ``tagger_dir``.

        Raises:
            EnglishResourceError: a file is missing or not the expected JSON.
        """
        parts = []
        for kind in ("weights", "tagdict", "classes"):
            path = tagger_dir / f"{TAGGER_PREFIX}.{kind}.json"
            try:
                parts.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise EnglishResourceError(f"cannot read POS tagger file {path}: {exc}") from exc
        weights, tagdict, classes = parts
        if not (isinstance(weights, dict) and isinstance(tagdict, dict) and isinstance(classes, list)):
            raise EnglishResourceError(f"POS tagger files in {tagger_dir} do not have the NLTK JSON layout")
        logger.debug("loaded POS tagger from %s (%d features)", tagger_dir, len(weights))
        return cls(weights, tagdict, classes)

    @staticmethod
    def _normalize(word: str) -> str:
        if "-" in word and word[0] != "-":
            return "!HYPHEN"
        if word.isdigit() and len(word) == 4:
            return "!YEAR"
        if word and word[0].isdigit():
            return "!DIGITS"
        return word.lower()

    def _features(self, i: int, word: str, context: list[str], prev: str, prev2: str) -> list[str]:
        """Feature names in NLTK's order (each with count 1; NLTK's dict merges duplicates, see ``_score``)."""
        i += len(self.START)
        return [
            "bias",
            "i suffix " + word[-3:],
            "i pref1 " + (word[0] if word else ""),
            "i-1 tag " + prev,
            "i-2 tag " + prev2,
            f"i tag+i-2 tag {prev} {prev2}",
            "i word " + context[i],
            f"i-1 tag+i word {prev} {context[i]}",
            "i-1 word " + context[i - 1],
            "i-1 suffix " + context[i - 1][-3:],
            "i-2 word " + context[i - 2],
            "i+1 word " + context[i + 1],
            "i+1 suffix " + context[i + 1][-3:],
            "i+2 word " + context[i + 2],
        ]

    def _predict(self, features: list[str]) -> str:
        counts: dict[str, int] = {}
        for feat in features:  # same insertion order and multiplicities as NLTK's defaultdict(int)
            counts[feat] = counts.get(feat, 0) + 1
        scores: defaultdict[str, float] = defaultdict(float)
        for feat, value in counts.items():
            weights = self.weights.get(feat)
            if weights is None:
                continue
            for label, weight in weights.items():
                scores[label] += value * weight
        return max(self.classes, key=lambda label: (scores[label], label))

    def tag(self, tokens: Sequence[str], stop: int | None = None) -> list[str]:
        """Tags of ``tokens[:stop]`` (tagging is left to right, so a prefix is exact)."""
        context = [*self.START, *(self._normalize(w) for w in tokens), *self.END]
        prev, prev2 = self.START
        tags = []
        for i, word in enumerate(tokens[:stop]):
            tag = self.tagdict.get(word) or self._predict(self._features(i, word, context, prev, prev2))
            tags.append(tag)
            prev2, prev = prev, tag
        return tags

    def tags_at(self, tokens: Sequence[str], positions: Sequence[int]) -> dict[int, str]:
        if not positions:
            return {}
        tags = self.tag(tokens, stop=max(positions) + 1)
        return {i: tags[i] for i in positions}


_SUBJECTS = frozenset("i we you they he she".split())
_VERB_CUES = _SUBJECTS | frozenset(
    "to will would shall should can could may might must do does did don't doesn't didn't won't wouldn't can't "
    "cannot couldn't shouldn't please let's not never also often always just 'll".split()
)
_HAVE_FORMS = frozenset("have has had having 've 'd".split())
_BE_FORMS = frozenset("be been being is are was were am 's 're 'm".split())
_DETERMINERS = frozenset(
    "the a an this these those my your his her its our their some any no every each another".split()
)
_PREPOSITIONS = frozenset("of in on at for with by from into about".split())
_OBJECT_STARTERS = frozenset("the a an this that these those it them me him her us you my your his our their".split())


class RuleTagger:
    """Offline fallback: a coarse Penn tag for each homograph from its neighbouring words.

    Rules, first match wins: after have-forms -> VBN; after be-forms -> VBN for "-ed" words else JJ ("is close");
    after "he"/"she" -> VBD; after other subjects, modals, "to", "please" and some adverbs -> VB/VBP; after
    determiners -> JJ when another word follows ("a complex problem") else NN; after prepositions -> NN; at the
    start of a sentence before an object ("Use it", "Record the show") -> VB; otherwise VBD for "-ed" words, else NN.
    """

    def tags_at(self, tokens: Sequence[str], positions: Sequence[int]) -> dict[int, str]:
        lowered = [t.lower() for t in tokens]
        return {i: self._guess(lowered, i) for i in positions}

    @staticmethod
    def _guess(words: Sequence[str], i: int) -> str:
        word = words[i]
        prev = words[i - 1] if i > 0 else "."
        after = words[i + 1] if i + 1 < len(words) else "."
        past = word.endswith("ed")
        if prev in _HAVE_FORMS:
            return "VBN"
        if prev in _BE_FORMS:
            return "VBN" if past else "JJ"
        if prev in ("he", "she"):  # third person: "she read" is past tense ("she reads" otherwise)
            return "VBD"
        if prev in _VERB_CUES:
            return "VBP" if prev in _SUBJECTS else "VB"
        if prev in _DETERMINERS:
            return "JJ" if after[:1].isalpha() else "NN"
        if prev in _PREPOSITIONS:
            return "NN"
        if not prev[:1].isalpha() and after in _OBJECT_STARTERS:
            return "VB"
        return "VBD" if past else "NN"
