"""Storage error types, transient-error classification and the bounded retry policy used by `pipelines.storage`.

Kept apart from `storage.py` so that the classification rules (which exception means "try again") can be read and
tested on their own. Nothing here imports a cloud SDK: botocore / aiohttp errors are recognised by their attributes
and class names, so the module works whatever fsspec backends are installed.
"""

from __future__ import annotations

import errno
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar


logger = logging.getLogger(__name__)

T = TypeVar("T")
ErrorKind = Literal["not_found", "permission", "transient", "fatal"]


class StorageError(OSError):
    """Base class for storage failures; the message always names the URI involved."""


class StorageNotFound(StorageError, FileNotFoundError):
    """The object or folder does not exist (never retried)."""


class StoragePermissionError(StorageError, PermissionError):
    """Access was refused (never retried)."""


class UnsafePathError(StorageError, ValueError):
    """A relative path tried to leave the storage root (``..``, absolute path, URL, NUL byte...)."""


_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EBUSY,  # s3fs: 503 SlowDown / ServiceUnavailable
        getattr(errno, "EREMOTEIO", 121),  # s3fs: 500 InternalError
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EAGAIN,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "500",
        "502",
        "503",
        "504",
    }
)
_TRANSIENT_CLASS_NAMES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ClientOSError",
        "ServerTimeoutError",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
_PERMISSION_CODES = frozenset({"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield `exc` and its causes/contexts (each once)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    """(HTTP status, service error code) of a botocore ClientError / aiohttp error, else (None, None)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        meta = response.get("ResponseMetadata") or {}
        error = response.get("Error") or {}
        return meta.get("HTTPStatusCode"), error.get("Code")
    status = getattr(exc, "status", None)
    return (status, None) if isinstance(status, int) else (None, None)


def _classify_one(exc: BaseException) -> ErrorKind | None:
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "permission"
    if isinstance(exc, ConnectionError | TimeoutError):
        return "transient"
    if any(cls.__name__ in _TRANSIENT_CLASS_NAMES for cls in type(exc).__mro__):
        return "transient"
    status, code = _http_status_and_code(exc)
    if code in _NOT_FOUND_CODES or status == 404:
        return "not_found"
    if code in _PERMISSION_CODES or status == 403:
        return "permission"
    if code in _TRANSIENT_CODES or status == 429 or (status is not None and status >= 500):
        return "transient"
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return "transient"
    return None


def classify_error(exc: BaseException) -> ErrorKind:
    """Say whether `exc` means not-found, permission denied, a transient failure worth retrying, or anything else.

    The whole cause chain is inspected (fsspec backends often wrap the SDK error); the first decisive link wins.
    """
    for link in _exception_chain(exc):
        kind = _classify_one(link)
        if kind is not None:
            return kind
    return "fatal"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for transient storage errors.

    Args:
        max_attempts: total tries of one operation (1 = no retry).
        base_delay_s: delay before the first retry; doubled after each failure.
        max_delay_s: cap on a single delay.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("RetryPolicy delays must be >= 0")

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number `attempt` (0-based)."""
        cap = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return cap * random.uniform(0.5, 1.0)


def call_with_retry(op: str, uri: str, fn: Callable[[], T], policy: RetryPolicy) -> T:
    """Run `fn`, retrying transient failures per `policy`; map failures onto the `StorageError` family.

    Args:
        op: operation name for messages ("read", "write"...).
        uri: full URI of the object, for messages (never credentials).
        fn: the zero-argument operation.
        policy: retry bounds.

    Raises:
        StorageNotFound / StoragePermissionError immediately; StorageError once retries are exhausted or the error
        is not transient. `UnsafePathError` and `StorageError`s raised by `fn` itself pass through unchanged.
    """
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except StorageError:
            raise
        except Exception as exc:
            kind = classify_error(exc)
            if kind == "not_found":
                raise StorageNotFound(f"{op}: {uri} does not exist ({exc})") from exc
            if kind == "permission":
                raise StoragePermissionError(f"{op}: permission denied for {uri} ({exc})") from exc
            if kind == "fatal":
                raise StorageError(f"{op} {uri} failed: {type(exc).__name__}: {exc}") from exc
            if attempt + 1 >= policy.max_attempts:
                raise StorageError(
                    f"{op} {uri} failed after {policy.max_attempts} attempts: {type(exc).__name__}: {exc}"
                ) from exc
            wait = policy.delay(attempt)
            logger.warning(
                "%s %s: transient %s (%s); retry %d in %.2f s", op, uri, type(exc).__name__, exc, attempt + 1, wait
            )
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
