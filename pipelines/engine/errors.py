"""Failures by type: which exceptions are the environment's fault (retried) and which are the job's input (exit 2).

:func:`classify` maps an exception raised inside a stage to a *retryable* :class:`~manifests.results.ErrorKind`, or
None for everything else. The engine retries a batch whose exception classifies (an out-of-memory batch is split in
halves first); any other exception is a bug and crashes the shard (a crash in tests, not a failed row). Data
problems are not exceptions at this level: a stage returns them as failed rows with a final kind.

Classification is by exception type only, never by the text of a message.
"""

from __future__ import annotations

import sys

from manifests.common import ManifestError
from manifests.results import ErrorKind
from pipelines.storage import StorageError


class RetryableError(RuntimeError):
    """Raised by a stage for an environment failure it detected itself; ``kind`` must be a retryable kind."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        if kind.final:
            raise ValueError(f"{kind} is a final kind; return a failed row instead")
        super().__init__(message)
        self.kind = kind


class InputError(ValueError):
    """The job's input or arguments cannot work (exit 2); the message is one line naming the flag, file or row."""


def _torch_kind(exc: BaseException) -> ErrorKind | None:
    torch = sys.modules.get("torch")  # only a stage that uses torch can raise torch's errors
    if torch is None:
        return None
    if isinstance(exc, torch.OutOfMemoryError):
        return ErrorKind.OUT_OF_MEMORY
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is not None and isinstance(exc, accelerator_error):
        return ErrorKind.DEVICE_ERROR
    return None


def classify(exc: BaseException) -> ErrorKind | None:
    """The retryable kind of an environment failure, or None when ``exc`` is not one (a bug: let it crash)."""
    if isinstance(exc, RetryableError):
        return exc.kind
    if isinstance(exc, MemoryError):
        return ErrorKind.OUT_OF_MEMORY
    kind = _torch_kind(exc)
    if kind is not None:
        return kind
    if isinstance(exc, StorageError | ConnectionError | TimeoutError):
        return ErrorKind.STORAGE_ERROR
    return None


def input_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the input cannot work" wherever the driver meets them (exit 2, one line)."""
    from pipelines.engine.flags import ConfigError
    from pipelines.engine.plan import PlanMismatch, SettingsMismatch
    from pipelines.storage import StorageNotFound
    from pipelines.voice_bank import VoiceBankError
    from sovits_core.bundle import ModelDirError
    from sovits_core.checkpoint import CheckpointError

    return (
        InputError,
        ManifestError,
        ConfigError,
        PlanMismatch,
        SettingsMismatch,
        StorageNotFound,
        VoiceBankError,
        ModelDirError,
        CheckpointError,
    )
