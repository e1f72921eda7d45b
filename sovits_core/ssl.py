"""CNHuBERT content features through ``transformers.HubertModel`` (upstream ``feature_extractor/cnhubert.py``).

Upstream's inference (``inference_webui.py``, ``TTS.py``) and its training-data preparation both call the bare
``HubertModel`` on the raw 16 kHz waveform, bypassing the ``Wav2Vec2FeatureExtractor`` (no zero-mean/unit-variance
normalisation); we do the same, so codes match upstream's. The folder's ``preprocessor_config.json`` is only checked
for its sampling rate. Padding the reference with zeros before extraction (upstream appends ``int(32000 * 0.3)``
zeros) is the caller's job. Loading is local-only: transformers never touches the network.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch


logger = logging.getLogger(__name__)

SSL_SAMPLE_RATE = 16000
CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PREPROCESSOR_FILE = "preprocessor_config.json"


class ModelFolderError(ValueError):
    """A transformers model folder is missing or incomplete (the message names the folder and the files)."""


def check_model_folder(
    path: str | Path, needed: tuple[str, ...] = (), weights: tuple[str, ...] = WEIGHT_FILES
) -> Path:
    """Return ``path`` as a Path if it is a local folder with ``config.json``, one weight file and ``needed``."""
    text = str(path)
    if "://" in text:
        raise ModelFolderError(f"{text}: only local folders are accepted (fetch remote models to disk first)")
    folder = Path(text)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist")
    missing = [name for name in (CONFIG_FILE, *needed) if not (folder / name).is_file()]
    if not any((folder / w).is_file() for w in weights):
        missing.append(" or ".join(weights))
    if missing:
        raise ModelFolderError(f"model folder {folder} is missing {', '.join(missing)}")
    return folder


class SSLModel:
    """CNHuBERT wrapper: ``features(wav16k [B, T]) -> [B, hidden (768), frames]`` (50 frames per second)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()

    @classmethod
    def from_folder(
        cls, path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> SSLModel:
        """Load a transformers ``HubertModel`` folder (``config.json`` + ``model.safetensors``/``pytorch_model.bin``)."""
        from transformers import HubertModel
        from transformers.utils import logging as hf_logging

        folder = check_model_folder(path)
        _check_preprocessor(folder)
        try:
            hf_logging.disable_progress_bar()
            model = HubertModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(f"cannot load CNHuBERT from {folder}: {exc}") from exc
        return cls(model).to(device, dtype)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> SSLModel:
        self.model.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def features(self, wav16k: torch.Tensor) -> torch.Tensor:
        """Raw 16 kHz audio ``[T]`` or ``[B, T]`` -> ``last_hidden_state`` transposed, ``[B, hidden, frames]``.

        Rows are processed together without an attention mask (as upstream, one clip at a time); HuBERT's group
        norm sees the whole row, so pad rows only if you accept that padding changes their features.
        """
        if wav16k.dim() == 1:
            wav16k = wav16k.unsqueeze(0)
        if wav16k.dim() != 2:
            raise ValueError(f"SSL input must be [T] or [B, T] audio, got shape {tuple(wav16k.shape)}")
        x = wav16k.to(device=self.device, dtype=self.dtype)
        hidden = self.model(x).last_hidden_state
        return hidden.transpose(1, 2)


def _check_preprocessor(folder: Path) -> None:
    file = folder / PREPROCESSOR_FILE
    if not file.is_file():
        logger.debug("%s has no %s; assuming 16 kHz input", folder, PREPROCESSOR_FILE)
        return
    try:
        rate = json.loads(file.read_text()).get("sampling_rate", SSL_SAMPLE_RATE)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{file} is not valid JSON: {exc}") from exc
    if int(rate) != SSL_SAMPLE_RATE:
        raise ModelFolderError(f"{file}: sampling_rate {rate}, expected {SSL_SAMPLE_RATE}")
