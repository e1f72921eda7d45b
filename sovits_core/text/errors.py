"""Errors raised by the text frontend (re-exported by ``sovits_core.text``)."""


class TextError(ValueError):
    """The text cannot be turned into phones (names the input and the reason)."""


class MissingLanguageSupport(TextError):
    """The optional packages for a language are not installed; the message names the extra to install."""


def missing_extra(language: str, extra: str, detail: str = "") -> MissingLanguageSupport:
    """Build the error for a language whose optional extra is not usable.

    Args:
        language: human name of the language, e.g. ``"Japanese"``.
        extra: name of the ``sovits-batch`` extra that provides it, e.g. ``"ja"``.
        detail: optional reason (the import error, a missing dictionary folder, ...).

    Returns:
        The error to raise (callers write ``raise missing_extra(...) from exc``).
    """
    message = f"{language} needs the '{extra}' extra: pip install 'sovits-batch[{extra}]'"
    if detail:
        message = f"{message} ({detail})"
    return MissingLanguageSupport(message)


def require_str(text: object, language: str) -> str:
    """``text`` when it is a str; otherwise the TextError a language's G2P raises for non-text input.

    Args:
        text: what the G2P was given.
        language: human name of the language, e.g. ``"Japanese"``.
    """
    if not isinstance(text, str):
        raise TextError(f"{language} text must be a str, got {type(text).__name__}")
    return text
