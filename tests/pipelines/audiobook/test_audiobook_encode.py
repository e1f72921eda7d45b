"""Encoders decode back (PyAV) at the right length and rate; mp3 is CBR; uploads are all or nothing."""

from __future__ import annotations

from pathlib import Path

import fsspec
import numpy as np
import pytest
from audiobook_signals import speechlike

from pipelines.audiobook.encode import DEFAULT_BIT_RATES, FORMATS, AudioReader, open_encoder, probe
from pipelines.publish import publish_file
from pipelines.storage import Storage


# format -> (rate of the decoded file for 44.1 kHz input, priming the container declares)
EXPECTED = {"mp3": (44100, 1105), "flac": (44100, 0), "opus": (48000, 312), "m4a": (44100, 1024), "wav": (44100, 0)}


def _encode(fmt: str, audio: np.ndarray, rate: int, block: int = 4410, **kwargs: object) -> Path:
    with open_encoder(fmt, rate, **kwargs) as encoder:
        for start in range(0, len(audio), block):
            encoder.write(audio[start : start + block])
    return encoder.close().path


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_back_at_the_right_length(fmt: str) -> None:
    audio = speechlike(3.217, 44100, seed=1, level=0.3)  # not a whole number of codec frames
    path = _encode(fmt, audio, 44100)
    try:
        info = probe(path)
        rate, priming = EXPECTED[fmt]
        assert info.sample_rate == rate
        assert info.channels == 1
        assert info.priming_samples == priming
        assert info.n_samples == round(len(audio) * rate / 44100)  # delay and padding removed exactly
        assert info.duration_s == pytest.approx(3.217, abs=1 / 44100)
        if fmt == "m4a":
            assert 0 < info.trimmed_padding_samples < 1024  # the AAC decoder's end padding, trimmed by the reader
        with AudioReader(path) as reader:  # and the waveform survives (lossy formats: roughly)
            decoded = np.concatenate(list(reader.blocks()))
        if rate == 44100:
            err = np.sqrt(np.mean((decoded - audio) ** 2)) / np.sqrt(np.mean(audio**2))
            assert err < (1e-3 if fmt in ("flac", "wav") else 0.35)
    finally:
        path.unlink()


def test_mp3_is_192k_cbr_by_default_and_honours_other_bit_rates() -> None:
    audio = speechlike(2.0, 44100, seed=2, level=0.3)
    path = _encode("mp3", audio, 44100)
    info = probe(path)
    assert DEFAULT_BIT_RATES["mp3"] == 192_000
    assert info.frame_bit_rates == (192_000,)  # every frame header says 192 kbps: constant bit rate
    assert info.bit_rate == 192_000
    assert path.stat().st_size == pytest.approx(192_000 / 8 * 2.0, rel=0.05)
    path.unlink()
    path = _encode("mp3", audio, 44100, bit_rate=128_000)
    assert probe(path).frame_bit_rates == (128_000,)
    path.unlink()


def test_opus_resamples_and_bytes_input_decodes() -> None:
    audio = speechlike(1.0, 32000, seed=3, level=0.3)
    path = _encode("opus", audio, 32000)
    info = probe(path.read_bytes())  # from bytes, too
    assert (info.sample_rate, info.n_samples) == (48000, 48000)
    path.unlink()


def test_encoder_errors_and_abort() -> None:
    with pytest.raises(ValueError, match="unknown audio format"):
        open_encoder("aiff", 44100)
    with pytest.raises(ValueError, match="mp3 cannot hold"):
        open_encoder("mp3", 44000)
    with pytest.raises(RuntimeError, match="boom"), open_encoder("flac", 44100) as encoder:
        encoder.write(np.zeros(1000, dtype=np.float32))
        raise RuntimeError("boom")
    assert not encoder.path.exists()  # an encoder that sees an exception deletes its partial file
    closed = open_encoder("wav", 8000)
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        closed.write(np.zeros(10))
    closed.path.unlink()


@pytest.mark.parametrize("in_memory_max", [64 << 20, 1000])
def test_publish_file_local(tmp_path: Path, in_memory_max: int) -> None:
    storage = Storage(tmp_path / "out")
    payload = np.random.default_rng(0).bytes(200_000)
    src = tmp_path / "chapter.mp3"
    src.write_bytes(payload)
    storage.write_bytes("book/ch01.mp3", b"old")
    publish_file(storage, "book/ch01.mp3", src, chunk_bytes=4096, in_memory_max=in_memory_max)
    assert storage.read_bytes("book/ch01.mp3") == payload
    assert storage.list("book") == ["book/ch01.mp3"]  # no temporary file left behind


def _fail_on_read(monkeypatch: pytest.MonkeyPatch, src: Path, fail_at: int) -> None:
    """Make the ``fail_at``-th read of ``src`` raise, as a disk or network failure half-way through an upload."""
    real_open = Path.open
    reads = {"n": 0}

    def failing_open(self: Path, *args: object, **kwargs: object):  # noqa: ANN202
        fh = real_open(self, *args, **kwargs)
        if self == src:
            real_read = fh.read

            def read(n: int = -1) -> bytes:
                reads["n"] += 1
                if reads["n"] == fail_at:
                    raise OSError("disk went away")
                return real_read(n)

            fh.read = read  # type: ignore[method-assign]
        return fh

    monkeypatch.setattr(Path, "open", failing_open)


def test_publish_file_failure_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = Storage(tmp_path / "out")
    storage.write_bytes("ch.mp3", b"old")
    src = tmp_path / "big.mp3"
    src.write_bytes(b"x" * 50_000)
    _fail_on_read(monkeypatch, src, fail_at=3)
    with pytest.raises(OSError, match="went away"):
        publish_file(storage, "ch.mp3", src, chunk_bytes=4096, in_memory_max=0)
    assert storage.read_bytes("ch.mp3") == b"old"  # readers never saw a part of the new file
    assert storage.list("") == ["ch.mp3"]  # and the temporary sibling is gone


def test_publish_file_memory_backend(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory", global_store=False, skip_instance_cache=True)
    storage = Storage("memory://book", fs=fs)
    src = tmp_path / "b.m4b"
    src.write_bytes(b"y" * 30_000)
    publish_file(storage, "b.m4b", src, chunk_bytes=1000, in_memory_max=0)  # streamed to a temp key, then moved
    assert storage.read_bytes("b.m4b") == b"y" * 30_000
    assert storage.list("") == ["b.m4b"]


@pytest.mark.slow
def test_publish_file_s3_streams_a_multipart_upload(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage(s3_bucket + "/book")
    payload = np.random.default_rng(1).bytes(12 << 20)  # > s3fs's 5 MiB block: a real multipart upload
    src = tmp_path / "book.m4b"
    src.write_bytes(payload)
    publish_file(storage, "book.m4b", src, in_memory_max=0)
    assert storage.read_bytes("book.m4b") == payload
    assert storage.list("") == ["book.m4b"]
    # a failure after some parts went up: the upload is aborted, the old object stays whole
    new = tmp_path / "new.m4b"
    new.write_bytes(b"n" * (12 << 20))
    _fail_on_read(monkeypatch, new, fail_at=10)  # 1 MiB reads: ~9 MiB sent, at least one part uploaded
    with pytest.raises(OSError, match="went away"):
        publish_file(storage, "book.m4b", new, chunk_bytes=1 << 20, in_memory_max=0)
    assert storage.read_bytes("book.m4b") == payload
