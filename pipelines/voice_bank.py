"""Read side of the voice bank: ``VoiceBank(storage_or_url).get(voice_id) -> VoiceFeatures``.

The bank is written by ``jobs.precompute_voices`` (layout and index schema: `manifests.bank`). Synthesis jobs open it
read-only from anywhere (local folder, S3...), look voices up by id and keep recently used `VoiceFeatures` in an LRU.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from manifests.bank import (
    INDEX_FILE,
    STATUS_OK,
    conform_index,
    empty_index,
    index_from_rows,
    validate_bank_index,
)
from manifests.common import ManifestError, read_table_bytes, table_to_bytes
from pipelines.storage import Storage, StorageNotFound, get_storage


if TYPE_CHECKING:
    from sovits_core.voice import VoiceFeatures

logger = logging.getLogger(__name__)

__all__ = [
    "StaleVoiceError",
    "VoiceBank",
    "VoiceBankError",
    "VoiceFailedError",
    "VoiceNotFoundError",
    "read_index",
    "write_index",
]


class VoiceBankError(LookupError):
    """The bank or one of its entries cannot be used."""


class VoiceNotFoundError(VoiceBankError, KeyError):
    """The voice id is not in the bank."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class VoiceFailedError(VoiceBankError):
    """The voice is in the bank's index, but its precompute failed (the index's error says why)."""


class StaleVoiceError(VoiceBankError):
    """The voice was computed with a different model than the one the reader expects."""


def read_index(storage: Storage, *, missing_ok: bool = True) -> pa.Table:
    """The bank's ``index.parquet`` conformed to `BANK_INDEX_SCHEMA` (empty table when absent and `missing_ok`)."""
    try:
        data = storage.read_bytes(INDEX_FILE)
    except StorageNotFound:
        if missing_ok:
            return empty_index()
        raise VoiceBankError(
            f"no voice bank at {storage.url()} ({INDEX_FILE} is missing); build it with python -m jobs.precompute_voices"
        ) from None
    table = read_table_bytes(data, INDEX_FILE)
    issues = validate_bank_index(table)
    if issues:
        raise ManifestError(f"{storage.url(INDEX_FILE)} is not a valid bank index: {'; '.join(map(str, issues[:5]))}")
    return conform_index(table)


class VoiceBank:
    """Voice features by id, loaded on demand from a bank folder, with an LRU of decoded entries.

    Args:
        storage: the bank's root (`Storage` or URL).
        model_fingerprint: when given, `get` refuses voices computed with another model (`StaleVoiceError`).
        cache_size: number of decoded `VoiceFeatures` kept in memory.

    The index is read once, on first use; `reload()` re-reads it (e.g. after a precompute job finished).
    Thread-safe.
    """

    def __init__(self, storage: Storage | str, *, model_fingerprint: str | None = None, cache_size: int = 256) -> None:
        self.storage = get_storage(storage)
        self.model_fingerprint = model_fingerprint
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._index: pa.Table | None = None
        self._entries: dict[str, dict[str, Any]] = {}
        self._cache: OrderedDict[str, VoiceFeatures] = OrderedDict()

    def __repr__(self) -> str:
        return f"VoiceBank({self.storage.url()!r})"

    def reload(self) -> None:
        """Drop the cached index and features; the next call reads the index again."""
        with self._lock:
            self._index = None
            self._entries = {}
            self._cache.clear()

    def index(self) -> pa.Table:
        """The whole index (`manifests.bank.BANK_INDEX_SCHEMA`), including failed voices."""
        with self._lock:
            return self._load_index()

    def _load_index(self) -> pa.Table:
        if self._index is None:
            self._index = read_index(self.storage, missing_ok=False)
            self._entries = {row["voice_id"]: row for row in self._index.to_pylist()}
            logger.info("voice bank %s: %d voices", self.storage.url(), len(self._entries))
        return self._index

    def voice_ids(self) -> list[str]:
        """Ids of the usable voices (status "ok"), sorted."""
        with self._lock:
            self._load_index()
            return sorted(vid for vid, row in self._entries.items() if row["status"] == STATUS_OK)

    def has(self, voice_id: str) -> bool:
        """True when `voice_id` is in the bank with status "ok"."""
        with self._lock:
            self._load_index()
            row = self._entries.get(voice_id)
        return row is not None and row["status"] == STATUS_OK

    def check(self, voice_id: str) -> bool | str:
        """True when `voice_id` is usable, False when the bank lacks it, else why not (the bank's own reason)."""
        with self._lock:
            self._load_index()
            row = self._entries.get(voice_id)
        if row is None:
            return False
        if row["status"] != STATUS_OK:
            return f"voice {voice_id!r} failed precompute: {row['error']}"
        if self.model_fingerprint is not None and row["model_fingerprint"] != self.model_fingerprint:
            return (
                f"voice {voice_id!r} was computed with model {row['model_fingerprint']}, not {self.model_fingerprint}; "
                "rerun jobs.precompute_voices with this model"
            )
        return True

    def entry(self, voice_id: str) -> dict[str, Any]:
        """The index row of `voice_id` (any status). Raises `VoiceNotFoundError`."""
        with self._lock:
            self._load_index()
            row = self._entries.get(voice_id)
        if row is None:
            raise VoiceNotFoundError(f"voice {voice_id!r} is not in the voice bank {self.storage.url()}")
        return row

    def get(self, voice_id: str) -> VoiceFeatures:
        """Decoded features of `voice_id` (from the LRU when recently used).

        Raises:
            VoiceNotFoundError: unknown id. VoiceFailedError: its precompute failed.
            StaleVoiceError: computed with another model than `model_fingerprint`.
            VoiceBankError: the feature file is missing, changed since the index was read, or unreadable.
        """
        with self._lock:
            if voice_id in self._cache:
                self._cache.move_to_end(voice_id)
                return self._cache[voice_id]
        row = self.entry(voice_id)
        features = self._load(row)
        with self._lock:
            self._cache[voice_id] = features
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return features

    def _load(self, row: dict[str, Any]) -> VoiceFeatures:
        from sovits_core.voice import VoiceFeatures

        voice_id, url = row["voice_id"], self.storage.url()
        if row["status"] != STATUS_OK:
            raise VoiceFailedError(f"voice {voice_id!r} in bank {url} failed to precompute: {row['error']}")
        if self.model_fingerprint is not None and row["model_fingerprint"] != self.model_fingerprint:
            raise StaleVoiceError(
                f"voice {voice_id!r} in bank {url} was computed with model {row['model_fingerprint']}, "
                f"not {self.model_fingerprint}; rerun jobs.precompute_voices with this model"
            )
        try:
            data = self.storage.read_bytes(row["file"])
        except StorageNotFound as exc:
            raise VoiceBankError(f"voice {voice_id!r}: feature file is missing ({exc})") from exc
        if row["sha256"] and hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise VoiceBankError(
                f"voice {voice_id!r}: {self.storage.url(row['file'])} changed since the index was read; call reload()"
            )
        try:
            return VoiceFeatures.from_bytes(data)
        except Exception as exc:  # format version / corrupt file: name the voice and file
            raise VoiceBankError(f"voice {voice_id!r}: cannot decode {self.storage.url(row['file'])}: {exc}") from exc


def write_index(storage: Storage, rows: list[dict[str, Any]]) -> pa.Table:
    """Atomically replace the bank's ``index.parquet`` with `rows` (sorted by voice_id); return the table."""
    table = index_from_rows(rows)
    storage.write_bytes(INDEX_FILE, table_to_bytes(table))
    return table
