"""Shared manifest helpers: safe ids, validation issues, and table readers for Parquet / CSV / JSON Lines.

Depends on pyarrow only. Readers take bytes, or any object with ``read_bytes(rel) -> bytes`` (such as
`pipelines.storage.Storage`), so this layer stays free of fsspec.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq


__all__ = [
    "ID_PATTERN",
    "MAX_ID_LENGTH",
    "Issue",
    "ManifestError",
    "SupportsReadBytes",
    "check_id",
    "id_collision_key",
    "find_id_collisions",
    "read_table",
    "read_table_bytes",
    "table_format",
    "table_to_bytes",
]

MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class ManifestError(ValueError):
    """A manifest cannot be read or lacks required columns."""


class SupportsReadBytes(Protocol):
    def read_bytes(self, rel: str) -> bytes: ...


@dataclass(frozen=True)
class Issue:
    """One validation finding. `row` is 0-based (None for whole-table problems such as a missing column)."""

    row: int | None
    id: str | None
    reason: str

    def __str__(self) -> str:
        where = "table" if self.row is None else f"row {self.row}"
        return f"{where} ({self.id!r}): {self.reason}" if self.id is not None else f"{where}: {self.reason}"


def check_id(value: Any, what: str = "id") -> str | None:
    """Reason why `value` is not a safe id, or None when it is.

    Safe ids are 1-128 ASCII characters from ``[A-Za-z0-9._-]`` starting with a letter or digit, so they can be used
    as file names and object keys on any file system: no ``/``, no ``..`` traversal, no hidden files.
    """
    if value is None:
        return f"{what} is missing"
    if not isinstance(value, str):
        return f"{what} must be a string, got {type(value).__name__}"
    if not value:
        return f"{what} is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{what} is {len(value)} characters long (max {MAX_ID_LENGTH})"
    if not ID_PATTERN.fullmatch(value):
        return f"{what} {value!r} must match [A-Za-z0-9][A-Za-z0-9._-]* (no '/', spaces, unicode or leading '.')"
    return None


def id_collision_key(value: str) -> str:
    """Key under which two ids are the same file on some system: unicode NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", value).casefold()


def find_id_collisions(ids: Iterable[Any], what: str = "id") -> list[Issue]:
    """Issues for exact duplicates and ids that collide after NFKC + case folding (each later row is reported)."""
    first_row: dict[str, tuple[int, str]] = {}
    issues: list[Issue] = []
    for row, value in enumerate(ids):
        if not isinstance(value, str) or not value:
            continue
        key = id_collision_key(value)
        if key in first_row:
            other_row, other = first_row[key]
            kind = "duplicate" if other == value else "collides after case folding / unicode normalisation with"
            issues.append(Issue(row, value, f"{what} {kind} {other!r} (row {other_row})"))
        else:
            first_row[key] = (row, value)
    return issues


def table_format(name: str) -> str:
    """ "parquet", "csv" or "jsonl" from a file name's suffix."""
    lower = name.lower()
    for suffix, fmt in _FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    raise ManifestError(f"{name}: unknown manifest format; use one of {sorted(_FORMATS)}")


def check_utf8(data: bytes, name: str, header_lines: int = 0) -> str:
    """``data`` decoded as UTF-8, or a ManifestError naming the file, line, row and byte offset of the first bad byte.

    Args:
        data: a text file's bytes.
        name: the file's name or URI (for the message).
        header_lines: lines before the first data row (1 for CSV), so the message can name the row.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        row = f", row {line - 1 - header_lines}" if line > header_lines else ""
        raise ManifestError(
            f"{name}: invalid UTF-8 at byte {exc.start} (line {line}{row}): {data[exc.start : exc.start + 4]!r}; "
            "save the file as UTF-8"
        ) from None


def _read_jsonl(data: bytes, name: str) -> pa.Table:
    rows = []
    for n, line in enumerate(check_utf8(data, name).splitlines(), start=1):
        if not line.strip():
            continue
        try:  # same parse-or-explain shape as voices._as_list, for whole lines rather than cells
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{name}: line {n} is not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise ManifestError(f"{name}: line {n} is not a JSON object")
        rows.append(row)
    columns: dict[str, list[Any]] = {key: [] for row in rows for key in row}
    for row in rows:
        for key, values in columns.items():
            values.append(row.get(key))
    # Mixed scalar/list cells (ref_audio "a.wav" in one row, ["a.wav", "b.wav"] in another) are legal in JSON Lines:
    # keep such columns as Python objects serialised to JSON text, and let the manifest's normaliser parse them.
    arrays = {}
    for key, values in columns.items():
        try:
            arrays[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[key] = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
    return pa.table(arrays)


def read_table_bytes(data: bytes, name: str, string_columns: Iterable[str] = ()) -> pa.Table:
    """Parse a manifest file's bytes; the format comes from `name`'s suffix (.parquet, .csv, .jsonl).

    Args:
        data: file content.
        name: file name or URI (format and error messages).
        string_columns: CSV columns to keep as text rather than letting type inference turn ids like "007" into
            integers. Empty CSV cells are read as nulls.
    """
    fmt = table_format(name)
    try:
        if fmt == "parquet":
            return pq.read_table(io.BytesIO(data))
        if fmt == "csv":
            check_utf8(data, name, header_lines=1)
            types = dict.fromkeys(string_columns, pa.string())
            options = pa_csv.ConvertOptions(strings_can_be_null=True, column_types=types)
            return pa_csv.read_csv(io.BytesIO(data), convert_options=options)
        return _read_jsonl(data, name)
    except ManifestError:
        raise
    except (pa.ArrowException, UnicodeDecodeError, OSError) as exc:
        raise ManifestError(f"{name}: cannot read as {fmt}: {exc}") from exc


def read_table(storage: SupportsReadBytes, rel: str, string_columns: Iterable[str] = ()) -> pa.Table:
    """Read a Parquet / CSV / JSONL manifest through a storage object's ``read_bytes``."""
    return read_table_bytes(storage.read_bytes(rel), rel, string_columns)


def table_to_bytes(table: pa.Table, fmt: str = "parquet") -> bytes:
    """Serialise a table (Parquet with zstd by default; "csv" for humans)."""
    buf = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, buf, compression="zstd")
    elif fmt == "csv":
        pa_csv.write_csv(table, buf)
    else:
        raise ManifestError(f"cannot write a table as {fmt!r}")
    return buf.getvalue()
