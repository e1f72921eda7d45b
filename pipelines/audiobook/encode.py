"""Streaming audio encoders (PyAV for mp3 / flac / opus / m4a, soundfile for wav) and a PyAV reader to check them.

An encoder takes mono float blocks through ``write(block)`` and writes a *local temporary file*; ``close()`` returns
an `EncodedFile` naming it. The caller uploads it (`pipelines.publish.publish_file`, atomic) and deletes
it. Used as a context manager, an encoder that sees an exception deletes its partial file.

Encoder delay and padding, as measured on the files these encoders write (decoded back with PyAV / FFmpeg):

* mp3 (libmp3lame, CBR): 576 samples of LAME encoder delay + 529 of decoder delay (1105 at the start, FFmpeg's
  ``start_time``) and up to a frame of end padding; the mp3 muxer writes a LAME "Info" header with both, and the
  decoder trims them: the decoded length equals the input length exactly.
* m4a (FFmpeg's native AAC): 1024 priming samples (the first packet's pts is -1024); the muxer writes an edit list
  that skips them (written with a movie time scale of 1/rate, so it is sample-exact; FFmpeg's default of 1 ms
  would round the length), but FFmpeg's decoder still outputs the last frame's padding (up to 1023 samples):
  `AudioReader` trims the decoded stream to the track's declared duration.
* opus (libopus, Ogg): 312 samples of pre-skip at 48 kHz (in the OpusHead), end trimmed through the last page's
  granule position; decoded length exact. Opus runs at 48 kHz only: other input rates are resampled (soxr).
* flac, wav: no delay, no padding. WAV is RIFF (16-bit), so at most 4 GiB: ~13.5 h of 44.1 kHz mono.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import soundfile as sf
import soxr


__all__ = [
    "DEFAULT_BIT_RATES",
    "FORMATS",
    "AudioEncoder",
    "AudioReader",
    "DecodedInfo",
    "EncodedFile",
    "open_encoder",
    "probe",
]

FORMATS: tuple[str, ...] = ("mp3", "flac", "opus", "m4a", "wav")
DEFAULT_BIT_RATES: dict[str, int] = {"mp3": 192_000, "m4a": 96_000, "opus": 64_000}
# format -> (PyAV codec, PyAV container format, file suffix)
_PYAV: dict[str, tuple[str, str, str]] = {
    "mp3": ("libmp3lame", "mp3", ".mp3"),
    "flac": ("flac", "flac", ".flac"),
    "opus": ("libopus", "ogg", ".opus"),
    "m4a": ("aac", "ipod", ".m4a"),
}
_MP3_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
_OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})
_MPEG1_L3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_L3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


@dataclass(frozen=True)
class EncodedFile:
    """A finished local file.

    Attributes:
        path: the local temporary file (the caller uploads and deletes it).
        format: one of `FORMATS`; codec: the encoder's name.
        sample_rate: rate of the file; input_rate: rate of the blocks written (they differ for opus at 44.1 kHz).
        n_samples: samples written, at ``input_rate``.
        bit_rate: nominal bit rate in bit/s (None for lossless).
    """

    path: Path
    format: str
    codec: str
    sample_rate: int
    input_rate: int
    n_samples: int
    bit_rate: int | None

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.input_rate


class AudioEncoder:
    """Base of the encoders: ``write`` mono blocks, then ``close``. Build with `open_encoder`."""

    def __init__(self, fmt: str, sample_rate: int, path: Path, bit_rate: int | None) -> None:
        self.format = fmt
        self.sample_rate = sample_rate
        self.path = path
        self.bit_rate = bit_rate
        self.n_samples = 0
        self.closed = False

    def write(self, block: np.ndarray) -> None:
        """Encode the next samples (float, mono ``[N]``; clipped to [-1, 1], NaN written as 0)."""
        if self.closed:
            raise ValueError(f"{self.format} encoder is closed")
        data = np.clip(np.nan_to_num(np.asarray(block, dtype=np.float32).reshape(-1), nan=0.0), -1.0, 1.0)
        if len(data):
            self._write(data)
            self.n_samples += len(data)

    def close(self) -> EncodedFile:
        """Flush the encoder and finish the file; returns where it is."""
        if not self.closed:
            self._finish()
            self.closed = True
        return EncodedFile(
            self.path, self.format, self._codec(), self._file_rate(), self.sample_rate, self.n_samples, self.bit_rate
        )

    def abort(self) -> None:
        """Stop and delete the partial file."""
        with contextlib.suppress(Exception):
            if not self.closed:
                self._finish()
        self.closed = True
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> AudioEncoder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def _write(self, data: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _codec(self) -> str:
        raise NotImplementedError

    def _file_rate(self) -> int:
        return self.sample_rate


class _PyAVEncoder(AudioEncoder):
    def __init__(self, fmt: str, sample_rate: int, path: Path, bit_rate: int | None) -> None:
        super().__init__(fmt, sample_rate, path, bit_rate)
        codec, container_format, _ = _PYAV[fmt]
        self.rate = 48000 if fmt == "opus" and sample_rate not in _OPUS_RATES else sample_rate
        self.resampler = (
            soxr.ResampleStream(sample_rate, self.rate, 1, dtype="float32") if self.rate != sample_rate else None
        )
        # MP4: a movie time scale of 1/rate makes the edit list (priming, end padding) sample-exact (default: ms)
        options = {"movie_timescale": str(self.rate)} if fmt == "m4a" else {}
        self.container = av.open(str(path), "w", format=container_format, options=options)
        self.stream = self.container.add_stream(codec, rate=self.rate, layout="mono")
        if bit_rate:
            self.stream.bit_rate = bit_rate
        self.pts = 0

    def _write(self, data: np.ndarray) -> None:
        self._encode(self.resampler.resample_chunk(data) if self.resampler else data)

    def _encode(self, data: np.ndarray | None) -> None:
        frame = None
        if data is not None:
            if len(data) == 0:
                return
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data)[None, :], format="flt", layout="mono")
            frame.sample_rate = self.rate
            frame.pts = self.pts
            self.pts += len(data)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def _finish(self) -> None:
        try:
            if self.resampler is not None:
                self._encode(self.resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
            self._encode(None)
        finally:
            self.container.close()

    def _codec(self) -> str:
        return _PYAV[self.format][0]

    def _file_rate(self) -> int:
        return self.rate


class _WavEncoder(AudioEncoder):
    def __init__(self, sample_rate: int, path: Path, subtype: str = "PCM_16") -> None:
        super().__init__("wav", sample_rate, path, None)
        self.file = sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, format="WAV", subtype=subtype)

    def _write(self, data: np.ndarray) -> None:
        self.file.write(data)

    def _finish(self) -> None:
        self.file.close()

    def _codec(self) -> str:
        return "pcm_s16le"


def open_encoder(
    fmt: str, sample_rate: int, *, bit_rate: int | None = None, directory: str | os.PathLike[str] | None = None
) -> AudioEncoder:
    """A streaming mono encoder writing a new local temporary file.

    Args:
        fmt: "mp3" (CBR), "flac" (16-bit), "opus" (Ogg), "m4a" (AAC-LC in MP4) or "wav" (16-bit PCM).
        sample_rate: rate of the blocks that will be written, Hz.
        bit_rate: bit/s for the lossy formats (defaults: `DEFAULT_BIT_RATES`; ACX wants mp3 at 192000); ignored
            for flac and wav.
        directory: folder of the temporary file (default: the system's temporary folder).

    Raises:
        ValueError: unknown format, or a rate the format cannot hold (mp3).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; choose one of {FORMATS}")
    if fmt == "mp3" and sample_rate not in _MP3_RATES:
        raise ValueError(f"mp3 cannot hold {sample_rate} Hz; use one of {sorted(_MP3_RATES)}")
    suffix = ".wav" if fmt == "wav" else _PYAV[fmt][2]
    fd, name = tempfile.mkstemp(prefix="audiobook-", suffix=suffix, dir=directory)
    os.close(fd)
    path = Path(name)
    try:
        if fmt == "wav":
            return _WavEncoder(sample_rate, path)
        lossy_rate = bit_rate or DEFAULT_BIT_RATES.get(fmt)
        return _PyAVEncoder(fmt, sample_rate, path, lossy_rate if fmt != "flac" else None)
    except Exception:
        path.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class DecodedInfo:
    """What a file decodes to (through PyAV), and what its container says.

    Attributes:
        container: FFmpeg's demuxer name; codec: the decoder's name.
        sample_rate / channels: of the audio stream.
        n_samples: decoded samples per channel (after trimming the declared padding).
        bit_rate: the stream's (or container's) bit rate in bit/s, None when unknown.
        priming_samples: encoder delay the container declares (mp4 negative start, mp3 start time, Opus pre-skip).
        trimmed_padding_samples: samples the decoder produced past the declared end and `AudioReader` dropped.
        frame_bit_rates: distinct bit rates of the MPEG audio frame headers (mp3 only; one value means CBR).
    """

    container: str
    codec: str
    sample_rate: int
    channels: int
    n_samples: int
    bit_rate: int | None
    priming_samples: int
    trimmed_padding_samples: int
    frame_bit_rates: tuple[int, ...]

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


class AudioReader:
    """Decode an audio file with PyAV into mono float32 blocks (channels averaged).

    Args:
        source: a local path, or the file's bytes.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes) -> None:
        target = io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source)
        self.container = av.open(target)
        self.stream = self.container.streams.audio[0]
        self.sample_rate = int(self.stream.rate)
        self.channels = int(self.stream.channels)
        self.n_samples = 0
        self.trimmed = 0
        self.first_pts: int | None = None
        self.frame_bit_rates: set[int] = set()
        self.limit = self._declared_samples()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """The decoded audio, mono float32, one decoded frame at a time."""
        for packet in self.container.demux(self.stream):
            if self.first_pts is None and packet.pts is not None:
                self.first_pts = int(packet.pts)
            if packet.size and self.stream.codec_context.name in ("mp3", "mp3float"):
                self._note_mp3_header(bytes(packet)[:4])
            for frame in packet.decode():
                block = _frame_to_mono(frame)
                if self.limit is not None and self.n_samples + len(block) > self.limit:
                    keep = max(0, self.limit - self.n_samples)
                    self.trimmed += len(block) - keep
                    block = block[:keep]
                self.n_samples += len(block)
                if len(block):
                    yield block

    def info(self) -> DecodedInfo:
        """What was decoded so far (call after `blocks` is exhausted for the whole file's figures)."""
        bit_rate = self.stream.bit_rate or self.container.bit_rate or None
        return DecodedInfo(
            container=self.container.format.name,
            codec=self.stream.codec_context.name,
            sample_rate=self.sample_rate,
            channels=self.channels,
            n_samples=self.n_samples,
            bit_rate=int(bit_rate) if bit_rate else None,
            priming_samples=self._declared_priming(),
            trimmed_padding_samples=self.trimmed,
            frame_bit_rates=tuple(sorted(self.frame_bit_rates)),
        )

    def _declared_samples(self) -> int | None:
        """The exact track length of AAC in MP4 (edit list / mdhd); None for the formats that trim themselves."""
        if "mp4" not in self.container.format.name or self.stream.duration is None:
            return None
        return int(round(float(self.stream.duration * self.stream.time_base) * self.sample_rate))

    def _declared_priming(self) -> int:
        name = self.container.format.name
        if name == "mp3" and self.stream.start_time:
            return int(round(float(self.stream.start_time * self.stream.time_base) * self.sample_rate))
        extradata = self.stream.codec_context.extradata or b""
        if self.stream.codec_context.name == "opus" and extradata[:8] == b"OpusHead" and len(extradata) >= 12:
            return int.from_bytes(extradata[10:12], "little")
        if "mp4" in name and self.first_pts is not None and self.first_pts < 0:
            return int(round(-self.first_pts * float(self.stream.time_base) * self.sample_rate))
        return 0

    def _note_mp3_header(self, header: bytes) -> None:
        if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0 or ((header[1] >> 1) & 3) != 1:
            return  # not an MPEG audio layer III frame header
        version, index = (header[1] >> 3) & 3, header[2] >> 4
        if 0 < index < 15:
            table = _MPEG1_L3_KBPS if version == 3 else _MPEG2_L3_KBPS
            self.frame_bit_rates.add(table[index] * 1000)


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    if not frame.format.is_planar:
        data = data.reshape(-1, len(frame.layout.channels)).T
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    data = data.astype(np.float32, copy=False)
    return data.mean(axis=0) if data.shape[0] > 1 else data[0]


def probe(source: str | os.PathLike[str] | bytes) -> DecodedInfo:
    """Decode a whole file and report its length, rate, bit rate, priming and padding (see `DecodedInfo`)."""
    with AudioReader(source) as reader:
        for _ in reader.blocks():
            pass
        return reader.info()
