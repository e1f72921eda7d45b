"""Text frontend for GPT-SoVITS v2: text → phone ids (per language run), long-text segmentation, symbol table.

Main entry points:

- :func:`text_to_phones` (``frontend``): upstream's ``get_phones_and_bert`` without BERT.
- :func:`split_text` (``segment``): upstream's ``cut0`` … ``cut5`` plus paragraph tracking and a hard length cap.
- ``SYMBOLS`` / ``SYMBOL_TO_ID`` (``symbols``): the frozen 732-symbol v2 table.
- :func:`configure_langdetect` (``langsplit``): choose the local fastText model used for ``auto`` splitting.

Language G2P modules live in the sub-packages ``zh``, ``en``, ``ja``, ``ko``, ``yue`` and are imported lazily, so
importing this package is cheap and needs no optional language extra.
"""

from .errors import MissingLanguageSupport, TextError
from .frontend import LANGUAGES, UPSTREAM_ALIASES, Phonemes, PhonePart, resolve_lang, text_to_phones
from .langsplit import configure_langdetect
from .segment import SPLIT_METHODS, Boundary, Segment, split_text
from .symbols import SYMBOL_TO_ID, SYMBOLS


__all__ = [
    "LANGUAGES",
    "SPLIT_METHODS",
    "SYMBOLS",
    "SYMBOL_TO_ID",
    "UPSTREAM_ALIASES",
    "Boundary",
    "MissingLanguageSupport",
    "PhonePart",
    "Phonemes",
    "Segment",
    "TextError",
    "configure_langdetect",
    "resolve_lang",
    "split_text",
    "text_to_phones",
]
