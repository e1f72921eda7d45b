"""Linear spectrogram exactly as upstream's ``mel_processing.spectrogram_torch`` with the v2 ``s2.json`` parameters.

Upstream: reflect-pad ``(n_fft - hop) / 2`` samples on both sides, ``torch.stft`` with ``center=False`` and a periodic
Hann window of ``win_length``, magnitude ``sqrt(re^2 + im^2 + 1e-8)``. With n_fft = win = 2048 and hop = 640 at
32 kHz a clip of N samples gives ``N // 640`` frames of 1025 bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


SAMPLE_RATE = 32000
FILTER_LENGTH = 2048
HOP_LENGTH = 640
WIN_LENGTH = 2048
N_BINS = FILTER_LENGTH // 2 + 1
_MAGNITUDE_EPS = 1e-8


def linear_spectrogram(
    wav: torch.Tensor,
    n_fft: int = FILTER_LENGTH,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
) -> torch.Tensor:
    """Magnitude spectrogram of 32 kHz audio.

    Args:
        wav: ``[N]`` or ``[B, N]`` samples in [-1, 1] (computed in float32 whatever the input dtype).
    Returns:
        float32 ``[B, n_fft // 2 + 1, frames]`` with ``frames = (N + 2 * pad - n_fft) // hop + 1``.
    """
    if wav.dim() == 1:
        wav = wav.unsqueeze(0)
    if wav.dim() != 2:
        raise ValueError(f"linear_spectrogram expects [N] or [B, N] audio, got shape {tuple(wav.shape)}")
    pad = (n_fft - hop_length) // 2
    if wav.shape[1] <= pad:
        raise ValueError(f"audio of {wav.shape[1]} samples is too short for a spectrogram (needs > {pad})")
    x = F.pad(wav.float().unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win_length, device=x.device, dtype=torch.float32)
    # every argument spelled out as upstream passes it (keyword calls elsewhere share only this shape)
    spec = torch.stft(
        x,
        n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + _MAGNITUDE_EPS)
