"""The QC measurements themselves: pure functions over semantic tokens, audio samples and speech spans.

Nothing here loads a model: speech spans come from :mod:`pipelines.qc.vad`, embeddings from
:mod:`pipelines.qc.speaker`. Each function returns a number; :mod:`pipelines.qc.evaluate` compares the numbers
with the thresholds of a :class:`~pipelines.qc.config.QCConfig`.
"""

from __future__ import annotations

import numpy as np


Spans = list[tuple[float, float]]
FULL_SCALE_FRACTION = 0.98  # a sample within 2 % of the clip's peak counts as "at full scale"
END_WINDOW_S = 0.05


# ------------------------------------------------------------------------------------------------------- tokens
def _true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the runs of True in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    return starts, ends - starts


def longest_run(tokens: np.ndarray) -> int:
    """Length of the longest run of one token value."""
    tokens = np.asarray(tokens)
    if tokens.size == 0:
        return 0
    _, lengths = _true_runs(tokens[1:] == tokens[:-1])  # runs of equal neighbours: one token fewer than the run
    return int(lengths.max(initial=0)) + 1


def longest_loop(tokens: np.ndarray, max_period: int = 8) -> int:
    """Tokens covered by the longest stretch that repeats with a period of 2..``max_period`` tokens.

    A stretch of one repeated token is a run (:func:`longest_run`), not a loop, and is not counted here.
    """
    tokens = np.asarray(tokens)
    best = 0
    for period in range(2, max_period + 1):
        if tokens.size <= period:
            break
        starts, lengths = _true_runs(tokens[period:] == tokens[:-period])
        for i in np.argsort(lengths)[::-1]:
            covered = int(lengths[i]) + period
            if covered <= best:
                break
            if np.unique(tokens[starts[i] : starts[i] + covered]).size > 1:
                best = covered
                break
    return best


def top_share(tokens: np.ndarray) -> float:
    """Share of the most frequent token (0 for no tokens)."""
    tokens = np.asarray(tokens)
    if tokens.size == 0:
        return 0.0
    return float(np.unique(tokens, return_counts=True)[1].max() / tokens.size)


# ------------------------------------------------------------------------------------------------------- audio
def nonfinite(wav: np.ndarray) -> bool:
    return bool(wav.size and not np.isfinite(wav).all())


def clipped_share(wav: np.ndarray) -> float:
    """Share of samples within 2 % of the clip's peak: flat tops from clipping, at any level."""
    magnitude = np.abs(np.nan_to_num(wav))
    peak = float(magnitude.max(initial=0.0))
    if peak < 1e-3:
        return 0.0
    return float(np.mean(magnitude >= FULL_SCALE_FRACTION * peak))


def _span_samples(spans: Spans, sample_rate: int, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for start, end in spans:
        mask[int(start * sample_rate) : int(end * sample_rate)] = True
    return mask


def level_dbfs(wav: np.ndarray, sample_rate: int, spans: Spans) -> float | None:
    """RMS level of the speech (dBFS); None without speech."""
    mask = _span_samples(spans, sample_rate, len(wav))
    if not mask.any():
        return None
    rms = float(np.sqrt(np.mean(np.square(np.nan_to_num(wav[mask], nan=0.0)))))
    return 20 * np.log10(max(rms, 1e-10))


def silences(duration: float, spans: Spans) -> tuple[float, float, float, float]:
    """(leading silence, trailing silence, longest internal pause, speech ratio) in seconds / share."""
    if not spans or duration <= 0:
        return duration, duration, 0.0, 0.0
    gaps = [b[0] - a[1] for a, b in zip(spans[:-1], spans[1:], strict=True)]
    speech = sum(end - start for start, end in spans)
    return spans[0][0], max(0.0, duration - spans[-1][1]), max(gaps, default=0.0), min(1.0, speech / duration)


def end_level_db(wav: np.ndarray, sample_rate: int, spans: Spans) -> float | None:
    """Level of the last 50 ms relative to the speech level (dB): near 0 when speech is cut off mid-word."""
    speech = level_dbfs(wav, sample_rate, spans)
    tail = np.nan_to_num(wav[-max(1, int(END_WINDOW_S * sample_rate)) :])
    if speech is None or tail.size == 0:
        return None
    rms = float(np.sqrt(np.mean(np.square(tail))))
    return 20 * np.log10(max(rms, 1e-10)) - speech


def _log_mel_frames(wav: np.ndarray, sample_rate: int, hop_s: float) -> np.ndarray:
    """Mean-normalised log-mel frames [T, 40], unit length, for self-similarity."""
    import torch

    from pipelines.qc.speaker import mel_filterbank

    x = torch.from_numpy(np.nan_to_num(np.asarray(wav, dtype=np.float32)))
    n_fft, hop = int(0.025 * sample_rate), max(1, int(hop_s * sample_rate))
    if x.numel() < n_fft:
        return np.zeros((0, 40), dtype=np.float32)
    window = torch.hann_window(n_fft)
    power = torch.stft(x, n_fft, hop_length=hop, window=window, center=False, return_complex=True).abs() ** 2
    fbank = torch.from_numpy(mel_filterbank(sample_rate, n_fft, 40))
    frames = torch.log(fbank @ power + 1e-6).T.numpy()
    frames = frames - frames.mean(axis=0, keepdims=True)
    return frames / np.maximum(np.linalg.norm(frames, axis=1, keepdims=True), 1e-6)


def longest_repeat(
    wav: np.ndarray, sample_rate: int, spans: Spans, min_similarity: float = 0.97, min_lag_s: float = 0.3
) -> float:
    """Seconds of the longest stretch of speech that repeats an earlier stretch (a word or phrase said twice).

    Frames are log-mel vectors every 10 ms (20 ms for audio over 30 s); a repeat is a run of frames along one
    diagonal of the self-similarity matrix, at a lag of at least ``min_lag_s``, whose cosine similarity to the
    earlier frames stays at or above ``min_similarity`` and that lies in speech.
    """
    hop_s = 0.01 if len(wav) <= 30 * sample_rate else 0.02
    frames = _log_mel_frames(wav, sample_rate, hop_s)
    n = len(frames)
    min_lag = int(min_lag_s / hop_s)
    if n <= min_lag:
        return 0.0
    centres = (np.arange(n) * hop_s) + 0.0125
    in_speech = np.zeros(n, dtype=bool)
    for start, end in spans:
        in_speech |= (centres >= start) & (centres < end)
    similarity = frames @ frames.T
    best = 0
    for lag in range(min_lag, n):
        diagonal = np.diagonal(similarity, lag) >= min_similarity
        diagonal &= in_speech[lag:] & in_speech[: n - lag]
        if diagonal.any():
            best = max(best, int(_true_runs(diagonal)[1].max()))
    return best * hop_s
