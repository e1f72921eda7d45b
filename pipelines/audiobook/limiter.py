"""A streaming look-ahead true-peak limiter (mono), vectorised with numpy/scipy so hours of audio stay cheap.

For each input sample the required gain is ``r[n] = min(1, ceiling / tp[n])``, where ``tp[n]`` is the BS.1770-4
4x-oversampled true peak of the 12-sample window ending at ``n`` (`levels.interpolated_peaks`). Sample ``x[i]``
feeds the windows ``n = i .. i+11``, so its gain must not exceed any of those ``r[n]``. The gain applied is

    m[j] = min(r[j-W+1 .. j])                    running minimum, W = L + 11
    e[j] = 1 - max(1 - m[j], beta * (1 - e[j-1]))   attenuation released exponentially (``release_s``)
    g[i] = mean(e[i+11 .. i+L+10])                  L-sample look-ahead smoothing (``lookahead_s``)

Each ``e[j] <= m[j]`` and every ``m[j]`` averaged into ``g[i]`` covers all of ``r[i .. i+11]``, so ``g[i] <= r[n]``
for each window ``x[i]`` belongs to: the gain ramps down over L samples before a peak, holds through it, and
recovers with the release time constant. The gain varies slowly across one 12-sample window, so the interpolated
peaks of the output stay at the ceiling (checked by tests; a 0.05 dB safety margin covers the residue). The
release recursion is solved in closed form per block (``log e`` as a running maximum), so there is no per-sample
Python loop. Output lags input by ``delay`` samples; `flush` returns the held tail.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import minimum_filter1d

from pipelines.audiobook.levels import TRUE_PEAK_BOUND, TRUE_PEAK_TAPS, interpolated_peaks


__all__ = ["TruePeakLimiter"]

_MARGIN_DB = 0.05
_Q = TRUE_PEAK_TAPS.shape[1]  # 12 taps per phase
_LIMITED = 10.0 ** (-0.01 / 20.0)  # a sample counts as limited when turned down by more than 0.01 dB


class TruePeakLimiter:
    """Keeps the 4x-oversampled true peak of a mono stream at or under ``ceiling_dbtp``.

    Args:
        ceiling_dbtp: the true-peak ceiling in dBTP (e.g. -1.0).
        rate: sample rate in Hz.
        lookahead_s: attack / look-ahead time (the gain reaches its floor over this long before a peak).
        release_s: time constant of the gain's recovery after a peak.
    """

    def __init__(self, ceiling_dbtp: float, rate: int, lookahead_s: float = 0.003, release_s: float = 0.05) -> None:
        self.ceiling = 10.0 ** ((ceiling_dbtp - _MARGIN_DB) / 20.0)
        self._look = max(1, int(round(lookahead_s * rate)))
        self._window = self._look + _Q - 1
        self._log_beta = -1.0 / max(release_s * rate, 1.0)
        self.delay = self._look + _Q - 2
        self._x = np.zeros(0, dtype=np.float64)  # input samples not yet output
        self._fir_history = np.zeros(_Q - 1, dtype=np.float64)
        self._r_history = np.ones(self._window - 1, dtype=np.float64)
        self._attenuation = 0.0  # 1 - e[j] of the last envelope sample
        self._e = np.zeros(0, dtype=np.float64)  # envelope values not yet averaged out
        self._skip = _Q - 1  # the first envelope values belong to windows before the stream started
        self.n_limited = 0  # output samples turned down by more than 0.01 dB

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed ``block`` (float ``[N]``); returns the limited samples that are ready (lagging by ``delay``)."""
        x = np.asarray(block, dtype=np.float64)
        if len(x) == 0:
            return x
        self._x = np.concatenate([self._x, x])
        envelope = self._envelope(self._required_gain(x))
        if self._skip:
            dropped = min(self._skip, len(envelope))
            envelope, self._skip = envelope[dropped:], self._skip - dropped
        self._e = np.concatenate([self._e, envelope])
        return self._emit()

    def flush(self) -> np.ndarray:
        """The held samples, limited (feeds ``delay`` zeros through; the zeros themselves are not returned)."""
        n_left = len(self._x)
        if n_left == 0:
            return np.zeros(0, dtype=np.float64)
        out = self.process(np.zeros(self.delay + 1, dtype=np.float64))
        self._x = np.zeros(0, dtype=np.float64)
        return out[:n_left]

    def _required_gain(self, x: np.ndarray) -> np.ndarray:
        data = np.concatenate([self._fir_history, x])
        self._fir_history = data[-(_Q - 1) :]
        if float(np.abs(data).max()) * TRUE_PEAK_BOUND <= self.ceiling:
            return np.ones(len(x), dtype=np.float64)
        peaks = interpolated_peaks(data, self.ceiling)[_Q - 1 :]
        return np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-12))

    def _envelope(self, r: np.ndarray) -> np.ndarray:
        history, self._r_history = self._r_history, np.concatenate([self._r_history, r])[-(self._window - 1) :]
        if self._attenuation < 1e-9 and r.min() >= 1.0 and history.min() >= 1.0:
            self._attenuation = 0.0
            return np.ones(len(r), dtype=np.float64)
        rr = np.concatenate([history, r])
        # origin (W-1)//2 turns scipy's centred window into the trailing one, rr[j-W+1 .. j]
        trailing = minimum_filter1d(rr, size=self._window, origin=(self._window - 1) // 2, mode="nearest")
        running_min = trailing[len(history) :]
        return 1.0 - self._release(1.0 - running_min)

    def _release(self, wanted: np.ndarray) -> np.ndarray:
        """a[j] = max(wanted[j], beta * a[j-1]), solved as a running maximum in the log domain."""
        k = np.arange(len(wanted), dtype=np.float64)
        with np.errstate(divide="ignore"):
            terms = np.log(wanted) - k * self._log_beta
            start = math.log(self._attenuation) + self._log_beta if self._attenuation > 0 else -math.inf
        running = np.maximum.accumulate(np.concatenate([[start], terms]))[1:]
        attenuation = np.exp(running + k * self._log_beta)
        self._attenuation = float(attenuation[-1])
        return attenuation

    def _emit(self) -> np.ndarray:
        count = min(len(self._e) - self._look + 1, len(self._x))
        if count <= 0:
            return np.zeros(0, dtype=np.float64)
        e = self._e
        if e[: count + self._look - 1].min() >= 1.0:
            gain = np.ones(count, dtype=np.float64)
        else:
            sums = np.concatenate([[0.0], np.cumsum(e[: count + self._look - 1])])
            gain = (sums[self._look :] - sums[: -self._look]) / self._look
            self.n_limited += int(np.count_nonzero(gain < _LIMITED))
        out = self._x[:count] * gain
        self._x, self._e = self._x[count:], self._e[count:]
        return out
