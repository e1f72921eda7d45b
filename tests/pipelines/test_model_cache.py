"""The node-local model cache: remote folders downloaded once by content, fingerprints hashed once, bad folders
refused on the driver with one line naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines import model_cache
from pipelines.model_cache import ModelConfig, check_model, fingerprint, local_model
from pipelines.storage import Storage, StorageNotFound
from sovits_core.bundle import ModelDirError, model_fingerprint
from sovits_core.checkpoint import CheckpointError


def _upload(folder: Path, storage: Storage, prefix: str) -> str:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        storage.write_bytes(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())
    return storage.url(prefix)


def test_local_folder_is_used_where_it_is(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert local_model(str(tiny_model_dir), str(tmp_path / "cache")) == tiny_model_dir
    assert not (tmp_path / "cache").exists()
    with pytest.raises(StorageNotFound, match="does not exist"):
        local_model(str(tmp_path / "absent"), str(tmp_path / "cache"))


def test_remote_model_is_downloaded_once_per_content(
    tiny_model_dir: Path, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = Storage(s3_bucket)
    first_url = _upload(tiny_model_dir, bucket, "models/a")
    second_url = _upload(tiny_model_dir, bucket, "models/b")  # the same files under another URL
    cache = str(tmp_path / "cache")
    got = local_model(first_url, cache)
    assert got.name == model_fingerprint(tiny_model_dir) and model_fingerprint(got) == got.name

    downloads: list[str] = []
    real = model_cache._download
    monkeypatch.setattr(model_cache, "_download", lambda *a: downloads.append(a[1]) or real(*a))
    assert local_model(first_url, cache) == got  # same listing: served from the cache
    assert local_model(second_url, cache) == got  # same content (S3 ETags) under another URL: no download
    assert downloads == []

    config = tiny_model_dir / "chinese-hubert-base" / "config.json"
    bucket.write_bytes("models/a/chinese-hubert-base/config.json", config.read_bytes().replace(b"{", b'{"x": 1, ', 1))
    changed = local_model(first_url, cache)
    assert len(downloads) == 1 and changed != got and changed.name == model_fingerprint(changed)
    with pytest.raises(StorageNotFound, match="empty or does not exist"):
        local_model(bucket.url("models/none"), cache)


def test_fingerprint_is_hashed_once_while_files_are_unchanged(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    cache = str(tmp_path / "cache")
    calls: list[Path] = []
    real = model_fingerprint
    monkeypatch.setattr("sovits_core.bundle.model_fingerprint", lambda d: calls.append(d) or real(d))
    value = fingerprint(folder, cache)
    assert fingerprint(folder, cache) == value == real(folder) and len(calls) == 1
    (folder / "gpt.ckpt").touch()  # a new mtime: hashed again (same content, same value)
    assert fingerprint(folder, cache) == value and len(calls) == 2
    config = folder / "chinese-roberta-wwm-ext-large" / "config.json"
    config.write_text(config.read_text() + " ")
    assert fingerprint(folder, cache) != value and len(calls) == 3


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(b""), "gpt.ckpt"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 3]), "gpt.ckpt"),
        (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not a readable PyTorch checkpoint"),
    ],
    ids=["zero-byte", "truncated", "not-a-zip"],
)
def test_bad_checkpoint_is_refused_on_the_driver(tiny_model_dir: Path, tmp_path: Path, damage, message: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    damage(folder / "gpt.ckpt")
    with pytest.raises(CheckpointError, match=message) as info:
        ModelConfig(model_dir=str(folder), model_cache=str(tmp_path / "cache")).prepared()
    assert str(folder / "gpt.ckpt") in str(info.value)


def test_incomplete_folder_names_what_is_missing(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "sovits.pth").unlink()
    with pytest.raises(ModelDirError, match="missing sovits"):
        check_model(folder)
