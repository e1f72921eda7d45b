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
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch


logger = logging.getLogger(__name__)

SSL_SAMPLE_RATE = 16000
CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PREPROCESSOR_FILE = "preprocessor_config.json"


_Wrapper = TypeVar("_Wrapper", bound="PretrainedNetwork")


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


def load_pretrained(from_pretrained: Callable[..., Any], folder: Path, name: str) -> Any:
    """``from_pretrained(folder)`` local-only and without progress bars; load errors become ModelFolderError."""
    from transformers.utils import logging as hf_logging

    try:
        hf_logging.disable_progress_bar()
        return from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot load {name} from {folder}: {exc}") from exc


class PretrainedNetwork:
    """A transformers network kept in eval mode, with the device, dtype and hidden width it runs in.

    Subclasses say how a checked folder is read (:meth:`_load`); :meth:`from_folder` is the same for all.
    """

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network.eval()

    @classmethod
    def from_folder(
        cls: type[_Wrapper], path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> _Wrapper:
        """Load from a local transformers folder (``config.json`` + one weight file, checked first) onto ``device``."""
        return cls._load(check_model_folder(path)).to(device, dtype)

    @classmethod
    def _load(cls: type[_Wrapper], folder: Path) -> _Wrapper:
        raise NotImplementedError

    def to(self: _Wrapper, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> _Wrapper:
        self.network.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.network.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return int(self.network.config.hidden_size)


class SSLModel(PretrainedNetwork):
    """CNHuBERT wrapper: ``features(wav16k [B, T]) -> [B, hidden (768), frames]`` (50 frames per second).

    ``SSLModel.from_folder(path)`` reads a transformers ``HubertModel`` folder (``config.json`` +
    ``model.safetensors`` / ``pytorch_model.bin``; ``preprocessor_config.json``, if any, must say 16 kHz).
    """

    @property
    def model(self) -> torch.nn.Module:
        """The ``HubertModel``."""
        return self.network

    @classmethod
    def _load(cls, folder: Path) -> SSLModel:
        from transformers import HubertModel

        _check_preprocessor(folder)
        return cls(load_pretrained(HubertModel.from_pretrained, folder, "CNHuBERT"))

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
        hidden = self.network(x).last_hidden_state
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
