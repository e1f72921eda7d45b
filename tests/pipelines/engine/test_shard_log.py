"""Per-shard logs are uploaded when a shard ends, also when it fails, and never leave handlers behind."""

import logging

import pytest

from pipelines.engine.shard_log import shard_log, shard_log_path
from pipelines.storage import Storage


def test_log_written_on_success_and_failure(tmp_path):
    storage = Storage(str(tmp_path))
    handlers = list(logging.getLogger().handlers)
    ok_path = shard_log_path("_job", 3, "run-a")
    with shard_log(storage, ok_path):
        logging.getLogger("pipelines.test").info("hello from shard three")
    assert ok_path == "_job/logs/00003.run-a.log"
    assert "hello from shard three" in storage.read_bytes(ok_path).decode()

    bad_path = shard_log_path("_job", 4, "run-a")
    with pytest.raises(RuntimeError), shard_log(storage, bad_path):
        raise RuntimeError("model exploded")
    text = storage.read_bytes(bad_path).decode()
    assert "shard failed" in text and "model exploded" in text
    assert logging.getLogger().handlers == handlers


def test_upload_failure_does_not_fail_the_shard(tmp_path):
    storage = Storage(str(tmp_path))
    (tmp_path / "_job").write_text("a file where a folder should be")
    with shard_log(storage, "_job/logs/00000.x.log"):
        logging.getLogger("pipelines.test").info("still fine")
