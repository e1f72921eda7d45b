"""Streaming level meters for one mono channel: BS.1770 loudness, true peak, and the ACX level statistics.

Every meter takes blocks of any size through ``add(block)`` and keeps a fixed amount of state, whatever the length
of the stream (a 10-hour book is measured in the same memory as a 10-second clip).

Integrated loudness (`LoudnessMeter`): pyloudnorm's ``Meter.integrated_loudness`` needs the whole signal in one
array and restarts its filters at zero, so it cannot be fed block by block. We use pyloudnorm's own K-weighting
filter objects (the same coefficients its meter applies), run them as one second-order-section cascade whose state
is carried from block to block (``scipy.signal.sosfilt`` with ``zi``), and compute the BS.1770-4 gated loudness
ourselves: mean squares over 100 ms steps, 400 ms gating blocks (4 steps, 75 % overlap), the absolute gate at
-70 LUFS and the relative gate 10 LU below the ungated level. Instead of keeping one value per block (which grows
with the stream), the blocks are gathered in a histogram of 0.01 LU bins holding each bin's *sum of mean squares*
and count, so both gates are exact except for the blocks inside the one bin that holds the relative threshold
(at most 0.01 LU off). On whole files it agrees with ``pyloudnorm.Meter.integrated_loudness`` to ~0.01 LU (tested).

True peak (`TruePeakMeter`): 4x oversampling with the 48-tap, 4-phase interpolation filter published in ITU-R
BS.1770-4 Annex 2; the true peak is the largest magnitude of the interpolated and the original samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy.signal import sosfilt, sosfilt_zi


__all__ = [
    "TRUE_PEAK_TAPS",
    "FrameSums",
    "LevelMeter",
    "LevelStats",
    "LoudnessMeter",
    "TruePeakMeter",
    "db_to_amplitude",
    "to_db",
]

# BS.1770-4 Annex 2: y_p[n] = sum_k TRUE_PEAK_TAPS[p, k] * x[n - k], p = 0..3 (the published order).
TRUE_PEAK_TAPS = np.array(
    [
        [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625]
        + [0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
        [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250]
        + [0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
        [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125, 0.7797851562500]
        + [0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
        [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750, 0.9721679687500]
        + [0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
    ]
)
# |interpolated value| <= this * max|x| over the filter's window: lets meters skip blocks that cannot matter.
TRUE_PEAK_BOUND = float(np.abs(TRUE_PEAK_TAPS).sum(axis=1).max())

_ABS_GATE_LUFS = -70.0
_REL_GATE_LU = -10.0
_HIST_TOP_LUFS = 10.0
_HIST_BIN_LU = 0.01
_N_BINS = int(round((_HIST_TOP_LUFS - _ABS_GATE_LUFS) / _HIST_BIN_LU))
_TINY = 1e-20


def to_db(power_or_amplitude: float, *, power: bool = False) -> float:
    """Decibels of an amplitude (20 log10) or a power (10 log10); ``-inf`` for zero."""
    if power_or_amplitude <= 0.0:
        return float("-inf")
    return (10.0 if power else 20.0) * math.log10(power_or_amplitude)


def db_to_amplitude(db: float) -> float:
    """Linear amplitude of a level in dB (dBFS / dBTP / dB gain)."""
    return 10.0 ** (db / 20.0)


class FrameSums:
    """Cuts a stream into consecutive frames of ``frame`` samples and returns each complete frame's sum of squares.

    Args:
        frame: frame length in samples (> 0).
    """

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self._carry = np.zeros(0, dtype=np.float64)

    def push(self, block: np.ndarray) -> np.ndarray:
        """Sums of squares ``[n_frames]`` (float64) of the frames completed by ``block``."""
        data = np.concatenate([self._carry, np.asarray(block, dtype=np.float64)])
        n_full = len(data) // self.frame
        self._carry = data[n_full * self.frame :]
        return np.square(data[: n_full * self.frame]).reshape(n_full, self.frame).sum(axis=1)

    def pending(self) -> np.ndarray:
        """The samples of the incomplete last frame (fewer than ``frame``)."""
        return self._carry


class LoudnessMeter:
    """ITU-R BS.1770-4 integrated loudness (LUFS) of a mono stream, block by block, in bounded memory.

    Args:
        rate: sample rate in Hz.
    """

    def __init__(self, rate: int) -> None:
        filters = pyloudnorm.Meter(rate, filter_class="K-weighting")._filters.values()  # no public accessor
        sos = [np.concatenate([f.passband_gain * np.asarray(f.b), np.asarray(f.a)]) for f in filters]
        self._sos = np.array(sos, dtype=np.float64)
        self._zi = sosfilt_zi(self._sos) * 0.0
        self._steps = FrameSums(int(round(0.1 * rate)))
        self._block_len = 4 * self._steps.frame
        self._recent = np.zeros(0, dtype=np.float64)  # the last (up to 3) step sums, for overlapping blocks
        self._energy = np.zeros(_N_BINS, dtype=np.float64)
        self._count = np.zeros(_N_BINS, dtype=np.int64)

    def add(self, block: np.ndarray) -> None:
        """Feed the next samples (float, [-1, 1], shape ``[N]``)."""
        weighted, self._zi = sosfilt(self._sos, np.asarray(block, dtype=np.float64), zi=self._zi)
        steps = np.concatenate([self._recent, self._steps.push(weighted)])
        if len(steps) >= 4:
            sums = steps[:-3] + steps[1:-2] + steps[2:-1] + steps[3:]
            self._add_blocks(sums / self._block_len)
        self._recent = steps[-3:]

    def _add_blocks(self, mean_squares: np.ndarray) -> None:
        loudness = -0.691 + 10.0 * np.log10(np.maximum(mean_squares, _TINY))
        keep = loudness >= _ABS_GATE_LUFS
        bins = np.clip(((loudness[keep] - _ABS_GATE_LUFS) / _HIST_BIN_LU).astype(np.int64), 0, _N_BINS - 1)
        self._energy += np.bincount(bins, weights=mean_squares[keep], minlength=_N_BINS)
        self._count += np.bincount(bins, minlength=_N_BINS)

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS so far (``-inf`` when no 400 ms block passes the absolute gate)."""
        n_total = int(self._count.sum())
        if n_total == 0:
            return float("-inf")
        ungated = -0.691 + 10.0 * math.log10(self._energy.sum() / n_total)
        first = int(math.floor((ungated + _REL_GATE_LU - _ABS_GATE_LUFS) / _HIST_BIN_LU)) + 1
        first = max(first, 0)
        n_kept = int(self._count[first:].sum())
        if n_kept == 0:
            return float("-inf")
        return -0.691 + 10.0 * math.log10(self._energy[first:].sum() / n_kept)


class TruePeakMeter:
    """Largest true-peak magnitude (4x oversampled, BS.1770-4 Annex 2 filter) of a mono stream."""

    def __init__(self) -> None:
        self._history = np.zeros(TRUE_PEAK_TAPS.shape[1] - 1, dtype=np.float64)
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        """Feed the next samples (float, shape ``[N]``)."""
        x = np.asarray(block, dtype=np.float64)
        if len(x) == 0:
            return
        data = np.concatenate([self._history, x])
        self._history = data[-len(self._history) :]
        if float(np.abs(data).max()) * TRUE_PEAK_BOUND <= self.peak:
            return  # nothing in this block can exceed the peak found so far
        self.peak = max(self.peak, float(interpolated_peaks(data, self.peak)[-len(x) :].max()))

    @property
    def dbtp(self) -> float:
        """The true peak in dBTP."""
        return to_db(self.peak)


def interpolated_peaks(data: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per-sample true peak: for each n >= 11, max(|x[n]|, |y_p[n]| for the 4 phases), shape ``[len(data)]``.

    Only the windows that can exceed ``floor`` (those holding a sample with ``|x| * TRUE_PEAK_BOUND > floor``) are
    interpolated; elsewhere the value is ``|x[n]|``, which is <= ``floor`` as the true peak there is. So the result
    is exact wherever it matters for a ceiling or a running maximum of ``floor``, at a fraction of the cost.
    ``data`` should start with 11 samples of history (the first 11 values only see part of the window).
    """
    peaks = np.abs(data)
    hot = np.flatnonzero(peaks * TRUE_PEAK_BOUND > floor)
    if len(hot) == 0:
        return peaks
    n_taps = TRUE_PEAK_TAPS.shape[1]
    if len(hot) * n_taps > len(data) // 2:  # dense: four full convolutions are cheaper
        for taps in TRUE_PEAK_TAPS:
            np.maximum(peaks, np.abs(np.convolve(data, taps)[: len(data)]), out=peaks)
        return peaks
    ends = np.unique((hot[:, None] + np.arange(n_taps)).ravel())
    ends = ends[(ends >= n_taps - 1) & (ends < len(data))]
    windows = np.lib.stride_tricks.sliding_window_view(data, n_taps)[ends - (n_taps - 1)]  # data[n-11 .. n]
    interpolated = np.abs(windows @ TRUE_PEAK_TAPS[:, ::-1].T).max(axis=1)
    peaks[ends] = np.maximum(peaks[ends], interpolated)
    return peaks


@dataclass(frozen=True)
class LevelStats:
    """Level statistics of a mono stream, as ACX defines them.

    Attributes:
        sample_rate: Hz.
        n_samples: length of the stream.
        rms_dbfs: RMS over the whole stream (silence included), dBFS.
        peak_dbfs: largest sample magnitude, dBFS.
        noise_floor_dbfs: RMS of the quietest 500 ms window (windows hop by 10 ms), dBFS.
        head_room_tone_s: time before the first 10 ms frame louder than the speech threshold.
        tail_room_tone_s: time after the last such frame.
        speech_threshold_dbfs: the frame RMS above which a frame counts as programme (not room tone).
    """

    sample_rate: int
    n_samples: int
    rms_dbfs: float
    peak_dbfs: float
    noise_floor_dbfs: float
    head_room_tone_s: float
    tail_room_tone_s: float
    speech_threshold_dbfs: float

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


class LevelMeter:
    """Accumulates `LevelStats` over a stream: RMS, peak, noise floor, head and tail room tone.

    Args:
        rate: sample rate in Hz.
        speech_threshold_dbfs: a 10 ms frame whose RMS exceeds this is programme; quieter frames are room tone.
        window_s: the noise-floor window (ACX: 500 ms).
    """

    def __init__(self, rate: int, speech_threshold_dbfs: float = -50.0, window_s: float = 0.5) -> None:
        self.rate = rate
        self.threshold = speech_threshold_dbfs
        self._frames = FrameSums(max(1, int(round(0.01 * rate))))
        self._window = max(1, int(round(window_s / 0.01)))
        self._recent = np.zeros(0, dtype=np.float64)
        self._sum_sq = 0.0
        self._n = 0
        self._peak = 0.0
        self._min_window = math.inf
        self._first_loud: int | None = None  # index of the first loud frame
        self._last_loud_end = 0  # sample just after the last loud frame
        self._n_frames = 0

    def add(self, block: np.ndarray) -> None:
        """Feed the next samples (float, shape ``[N]``)."""
        x = np.asarray(block, dtype=np.float64)
        if len(x) == 0:
            return
        self._n += len(x)
        self._peak = max(self._peak, float(np.abs(x).max()))
        sums = self._frames.push(x)
        self._sum_sq += float(sums.sum())
        self._add_frames(sums)

    def _add_frames(self, sums: np.ndarray) -> None:
        frame = self._frames.frame
        loud = np.flatnonzero(sums / frame > db_to_amplitude(self.threshold) ** 2)
        if len(loud):
            if self._first_loud is None:
                self._first_loud = self._n_frames + int(loud[0])
            self._last_loud_end = (self._n_frames + int(loud[-1]) + 1) * frame
        self._n_frames += len(sums)
        windows = np.concatenate([self._recent, sums])
        if len(windows) >= self._window:
            totals = np.convolve(windows, np.ones(self._window), mode="valid")
            self._min_window = min(self._min_window, float(totals.min()))
        self._recent = windows[-(self._window - 1) :] if self._window > 1 else windows[:0]

    def stats(self) -> LevelStats:
        """The statistics of everything fed so far (the incomplete last frame counts in RMS and peak)."""
        tail = self._frames.pending()
        sum_sq = self._sum_sq + float(np.square(tail).sum())
        frame = self._frames.frame
        if self._min_window < math.inf:
            noise = to_db(self._min_window / (self._window * frame), power=True)
        else:  # shorter than one window: the whole stream is the quietest window
            noise = to_db(sum_sq / max(self._n, 1), power=True)
        head = (self._first_loud * frame if self._first_loud is not None else self._n) / self.rate
        tail_s = (self._n - self._last_loud_end) / self.rate if self._first_loud is not None else self._n / self.rate
        return LevelStats(
            sample_rate=self.rate,
            n_samples=self._n,
            rms_dbfs=to_db(sum_sq / max(self._n, 1), power=True),
            peak_dbfs=to_db(self._peak),
            noise_floor_dbfs=noise,
            head_room_tone_s=head,
            tail_room_tone_s=max(tail_s, 0.0),
            speech_threshold_dbfs=self.threshold,
        )
