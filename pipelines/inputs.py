"""Input files of a job: a manifest URL (one file, a folder of files, or a glob) read into one table.

Outputs are never read as inputs: :func:`check_out_apart` refuses an output folder equal to or inside the folder
a folder or glob input reads (a rerun would otherwise read its own ``results.parquet`` and ``_job/`` parts as manifest rows).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pyarrow as pa

from manifests.common import ManifestError, read_table
from pipelines.engine.errors import InputError
from pipelines.storage import Storage, StorageNotFound, split_url


logger = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".parquet", ".pq", ".csv", ".jsonl", ".ndjson")
_GLOB_CHARS = "*?["


def _glob_base(url: str) -> str:
    cut = min(url.index(c) for c in _GLOB_CHARS if c in url)
    return url[:cut].rpartition("/")[0] or "."


def manifest_files(url: str, suffixes: tuple[str, ...] = MANIFEST_SUFFIXES) -> tuple[Storage, list[str]]:
    """Resolve a manifest URL (one file, a folder of files, or a glob) to a storage and sorted relative paths."""
    if any(c in url for c in _GLOB_CHARS):
        base = _glob_base(url)
        storage = Storage(base)
        files = storage.glob(url[len(base) + 1 :])
    else:
        storage = Storage(url)
        files = storage.list(recursive=True) if _is_folder(storage) else []
        if not files and not _is_folder(storage):
            parent, name = split_url(url)
            storage, files = Storage(parent), [name]
    files = [f for f in files if f.lower().endswith(suffixes)]
    if not files:
        raise ManifestError(f"manifest {url}: no {'/'.join(suffixes)} files found")
    return storage, files


def _is_folder(storage: Storage) -> bool:
    try:
        return storage.info("").get("type") == "directory"
    except StorageNotFound:
        return False


def load_manifest(url: str, string_columns: Iterable[str] = ()) -> pa.Table:
    """Read every file of a manifest (sorted by path) into one table; rows keep that order.

    Args:
        url: file, folder or glob (any fsspec URL).
        string_columns: columns read as text from CSV files (ids like ``007`` stay strings).
    """
    storage, files = manifest_files(url)
    tables = [read_table(storage, rel, string_columns) for rel in files]
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ManifestError(f"manifest {url}: files have incompatible columns: {exc}") from exc
    logger.info("manifest %s: %d rows from %d file(s)", url, table.num_rows, len(files))
    return table


def _folder_of(url: str) -> str | None:
    """The folder whose files an input URL reads: a glob's base or a folder itself; None for a single file."""
    if any(c in url for c in _GLOB_CHARS):
        return _glob_base(url)
    return url if _is_folder(Storage(url)) else None


def _key(url: str) -> str:
    storage = Storage(url)
    return storage.url().rstrip("/") + "/"


def check_out_apart(input_url: str, out_url: str, input_flag: str = "--manifest") -> None:
    """Refuse an output folder that overlaps the folder a folder or glob input is read from.

    Raises:
        InputError: ``--out`` is the input's folder or inside it.
    """
    source = _folder_of(input_url)
    if source is None:
        return
    folder, out = _key(source), _key(out_url)
    if out.startswith(folder):
        raise InputError(
            f"--out {out_url} overlaps the {input_flag} folder {folder.rstrip('/')}: the job would read its own "
            f"outputs as input on a rerun; choose an --out outside it"
        )
