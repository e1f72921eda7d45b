"""Speaker embeddings with Resemblyzer's GE2E network, reimplemented without importing ``resemblyzer``.

``import resemblyzer`` fails here: its ``__init__`` imports ``webrtcvad``, which imports ``pkg_resources`` (gone from
recent setuptools). We only need the weights file it ships, ``resemblyzer/pretrained.pt``, found with
``importlib.util.find_spec`` (which locates a package without running it) and loaded with ``weights_only=True``.

The inference follows ``resemblyzer.VoiceEncoder.embed_utterance`` (checked against it in the tests, cosine > 0.999):

- 16 kHz mono audio; when speech spans are given (from :class:`pipelines.qc.vad.VAD`), only the speech is kept
  (this replaces Resemblyzer's webrtcvad trimming of long silences); then the volume is raised (never lowered) to
  -30 dBFS RMS. Resemblyzer raises the volume *before* trimming; we do it after, on the speech only, so that the
  embedding of a quiet utterance does not depend on how much silence surrounds it (the GE2E network is sensitive
  to level: one clip at -22 and at -30 dBFS gives cosine 0.96). Without spans both orders are the same.
- Partial utterances of 160 frames (1.6 s) every 77 frames (a rate of 1.3 per second); the last one is kept when it
  covers at least 75 % of its window; the audio is zero-padded to the end of the last one (so a clip shorter than
  one partial is padded to 1.6 s).
- Mel power spectrogram (not log): 25 ms Hann window (``n_fft`` 400), 10 ms hop, centred frames with zero padding
  (librosa >= 0.10's ``melspectrogram`` default), 40 Slaney mel bands from 0 to 8 kHz with Slaney area norm.
- A 3-layer LSTM 40 -> 256; the last layer's final hidden state -> linear 256 -> 256 -> ReLU -> L2 norm per
  partial; the mean of the partials, L2-normed, is the utterance embedding.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipelines.qc.vad import Spans, prepare_audio


logger = logging.getLogger(__name__)

__all__ = [
    "EMBEDDING_DIM",
    "MODEL_NAME",
    "SpeakerEncoder",
    "SpeakerModelNotFoundError",
    "cosine",
    "mel_filterbank",
    "mel_spectrogram",
    "normalize_volume",
    "partial_starts",
]

MODEL_NAME = "resemblyzer-ge2e"  # stored next to embeddings, so a bank knows which model made them
EMBEDDING_DIM = 256
SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms step
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
PARTIAL_STEP = 77  # round(16000 / 1.3 / 160): 1.3 partials per second
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
HIDDEN = 256
N_LAYERS = 3

# An utterance item for SpeakerEncoder.embed_many: (wav, sample_rate) or (wav, sample_rate, speech spans or None).
Item = tuple[np.ndarray, int] | tuple[np.ndarray, int, Spans | None]


class SpeakerModelNotFoundError(ValueError):
    """The Resemblyzer weights file is missing (the ``resemblyzer`` package is not installed)."""


# ------------------------------------------------------------------------------------------------------- mel
def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    log_step = np.log(6.4) / 27.0
    return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(log_step * (mel - 15.0)))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular Slaney mel filters from 0 Hz to Nyquist with Slaney area norm, float32 ``[n_mels, n_fft // 2 + 1]``.

    The same matrix as ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)`` (checked in the tests).
    """
    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_hz[None, :]  # [n_mels + 2, n_freqs]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_spectrogram(wav: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    """Mel power spectrogram of 16 kHz audio, as Resemblyzer's encoder expects it.

    Args:
        wav: float32 ``[N]`` at 16 kHz.
        filterbank: ``[40, 201]`` from :func:`mel_filterbank` on the same device.

    Returns:
        float32 ``[1 + N // 160, 40]`` (frames first).
    """
    window = torch.hann_window(N_FFT, periodic=True, device=wav.device)
    spec = torch.stft(wav, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
    return (filterbank @ spec.abs().square()).T


def partial_starts(n_samples: int) -> list[int]:
    """First mel frame of each 160-frame partial utterance of an ``n_samples`` clip (at least one).

    Partials start every 77 frames while they can still reach past the last frame; the last is dropped when under
    75 % of its samples are audio (unless it is the only one).
    """
    n_frames = -(-(n_samples + 1) // HOP)  # ceil((n + 1) / hop)
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + PARTIAL_STEP + 1), PARTIAL_STEP))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


# ------------------------------------------------------------------------------------------------------- model
class _GE2E(nn.Module):
    """Resemblyzer's network: partial mels ``[B, 160, 40]`` -> L2-normed partial embeddings ``[B, 256]``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, N_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING_DIM)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        return nn.functional.normalize(torch.relu(self.linear(hidden[-1])), dim=1)


def _weights_path() -> Path:
    """``resemblyzer/pretrained.pt`` inside the installed package, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise SpeakerModelNotFoundError(
            "the speaker encoder's weights come with the resemblyzer package, which is not installed: "
            "pip install resemblyzer"
        )
    return Path(spec.submodule_search_locations[0]) / "pretrained.pt"


def _load_model(path: Path, device: torch.device) -> _GE2E:
    """The GE2E network with the LSTM and linear weights of ``path`` (its GE2E loss parameters are skipped)."""
    if not path.is_file():
        raise SpeakerModelNotFoundError(
            f"speaker encoder weights not found at {path}; reinstall them with: pip install resemblyzer"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    model = _GE2E()
    model.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}, strict=True)
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------------------- API
def normalize_volume(wav: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``wav`` raised to ``target_dbfs`` RMS, or unchanged when it is already louder (or digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    gain = 10.0 ** (target_dbfs / 20.0) / rms if rms > 0 else 1.0
    return (wav * gain).astype(np.float32) if gain > 1.0 else wav


def _keep_speech(wav16k: np.ndarray, speech: Spans) -> np.ndarray:
    """The samples of ``wav16k`` inside the spans (seconds), concatenated."""
    pieces = [wav16k[max(0, round(s * SAMPLE_RATE)) : max(0, round(e * SAMPLE_RATE))] for s, e in speech]
    return np.concatenate(pieces) if pieces else wav16k[:0]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (0.0 when either is all zeros)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm > 0 else 0.0


class SpeakerEncoder:
    """Speaker embeddings (256-d, unit norm) of utterances; the network is loaded once (one per worker).

    Args:
        device: torch device for the network and the spectrogram (``"cpu"``, ``"cuda"``, ...).
        weights_path: Resemblyzer's ``pretrained.pt``; default: the one inside the installed ``resemblyzer`` package.
        max_partials: partial utterances per LSTM forward pass in :meth:`embed_many` (bounds memory; one pass
            holds ``max_partials x 160 x 256`` floats per layer).

    Raises:
        SpeakerModelNotFoundError: the weights file cannot be found.
    """

    model_name = MODEL_NAME
    cosine = staticmethod(cosine)

    def __init__(self, device: str = "cpu", weights_path: str | Path | None = None, max_partials: int = 512) -> None:
        if max_partials < 1:
            raise ValueError(f"max_partials must be >= 1, got {max_partials}")
        self.device = torch.device(device)
        self.max_partials = max_partials
        self._model = _load_model(Path(weights_path) if weights_path else _weights_path(), self.device)
        self._filterbank = torch.from_numpy(mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS)).to(self.device)

    def preprocess(self, wav: np.ndarray, sample_rate: int, speech: Spans | None = None) -> np.ndarray:
        """The audio the network sees: 16 kHz mono, non-finite samples zeroed, speech kept, volume raised.

        Raises:
            ValueError: no audio is left (empty clip, or empty/out-of-range ``speech``).
        """
        wav16k = prepare_audio(wav, sample_rate, SAMPLE_RATE)
        if speech is not None:
            wav16k = _keep_speech(wav16k, speech)
        if wav16k.size == 0:
            raise ValueError("no audio to embed" + (" inside the speech spans" if speech is not None else ""))
        return normalize_volume(wav16k)

    def embed(self, wav: np.ndarray, sample_rate: int, speech: Spans | None = None) -> np.ndarray:
        """Embedding of one utterance, float32 ``[256]``, unit norm.

        Args:
            wav: audio ``[N]``, ``[N, C]`` or ``[C, N]``, float in [-1, 1], any sample rate.
            sample_rate: rate of ``wav`` in Hz.
            speech: speech spans in seconds (from :meth:`pipelines.qc.vad.VAD.speech_spans`); only they are used.
                None: the whole clip.

        Raises:
            ValueError: no audio to embed.
        """
        return self.embed_many([(wav, sample_rate, speech)])[0]

    @torch.inference_mode()
    def embed_many(self, items: Sequence[Item]) -> np.ndarray:
        """Embeddings of several utterances, float32 ``[len(items), 256]``: all their partial utterances go through
        the LSTM together (in passes of at most ``max_partials``).

        Args:
            items: ``(wav, sample_rate)`` or ``(wav, sample_rate, speech)`` tuples, as for :meth:`embed`.

        Raises:
            ValueError: an item has no audio to embed (the message names its index).
        """
        if not items:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        partials, owners = [], []
        for index, item in enumerate(items):
            mels = self._partial_mels(index, *item)
            partials.append(mels)
            owners += [index] * len(mels)
        embeds = self._forward(torch.cat(partials))
        owner = torch.tensor(owners, device=self.device)
        sums = torch.zeros(len(items), EMBEDDING_DIM, device=self.device).index_add_(0, owner, embeds)
        return nn.functional.normalize(sums, dim=1).cpu().numpy()

    def _partial_mels(
        self, index: int, wav: np.ndarray, sample_rate: int, speech: Spans | None = None
    ) -> torch.Tensor:
        """Mel spectrograms of the partial utterances of one item, ``[P, 160, 40]``."""
        try:
            wav16k = self.preprocess(wav, sample_rate, speech)
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}") from exc
        starts = partial_starts(wav16k.size)
        padded = np.pad(wav16k, (0, max(0, (starts[-1] + PARTIAL_FRAMES) * HOP - wav16k.size)))
        mel = mel_spectrogram(torch.from_numpy(padded).to(self.device), self._filterbank)
        return torch.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])

    def _forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Partial embeddings ``[P, 256]`` of partial mels ``[P, 160, 40]``, ``max_partials`` at a time."""
        return torch.cat([self._model(chunk) for chunk in mels.split(self.max_partials)])
