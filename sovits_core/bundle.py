"""TTSBundle: the four networks of GPT-SoVITS v2 loaded from one model folder, plus device and dtype.

A model folder holds the official files unmodified::

    MODEL_DIR/gpt.ckpt                          GPT (text-to-semantic) checkpoint, as the GPT-SoVITS WebUI writes it
    MODEL_DIR/sovits.pth                        SoVITS v2 checkpoint, as the WebUI writes it
    MODEL_DIR/chinese-hubert-base/              CNHuBERT (transformers folder)
    MODEL_DIR/chinese-roberta-wwm-ext-large/    RoBERTa (transformers folder)

``gpt.ckpt`` / ``sovits.pth`` may also be named ``*.ckpt`` / ``*.pth`` when the folder holds exactly one of each.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from sovits_core.audio import SAMPLE_RATE


if TYPE_CHECKING:  # the networks' modules are imported when a bundle is loaded, not with this module
    from sovits_core.bert import BertModel
    from sovits_core.sovits.model import SynthesizerTrnV2
    from sovits_core.ssl import SSLModel
    from sovits_core.t2s.model import T2SModel


logger = logging.getLogger(__name__)

HUBERT_DIR = "chinese-hubert-base"
ROBERTA_DIR = "chinese-roberta-wwm-ext-large"
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


class ModelDirError(ValueError):
    """The model folder is missing or incomplete."""


@dataclass
class TTSBundle:
    """Everything inference needs, already on ``device`` in ``dtype`` and in eval mode."""

    t2s: T2SModel
    sovits: SynthesizerTrnV2
    ssl: SSLModel
    bert: BertModel
    device: torch.device
    dtype: torch.dtype
    fingerprint: str
    model_dir: Path
    sovits_version: str = "v2"
    sample_rate: int = SAMPLE_RATE

    @property
    def hz(self) -> int:
        """Semantic token rate of the GPT (tokens per second)."""
        return 50


def resolve_device(device: str | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; asking for CUDA without one falls back to CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        logger.warning("CUDA requested but not available; using CPU")
        return torch.device("cpu")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """fp16/bf16 only on CUDA; CPU always runs float32 (half precision there is slow and lossy)."""
    if isinstance(dtype, torch.dtype):
        chosen = dtype
    elif dtype in (None, "auto"):
        chosen = torch.float16 if device.type == "cuda" else torch.float32
    elif dtype in _DTYPES:
        chosen = _DTYPES[dtype]
    else:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    if device.type != "cuda" and chosen != torch.float32:
        logger.warning("dtype %s requested on %s; using float32", chosen, device)
        return torch.float32
    return chosen


def find_model_files(model_dir: str | Path) -> dict[str, Path]:
    """Locate the four model parts in a folder, with an error naming whatever is missing."""
    root = Path(model_dir)
    if not root.is_dir():
        raise ModelDirError(f"model folder {root} does not exist or is not a folder")
    found = {
        "gpt": _single(root, "gpt.ckpt", "*.ckpt"),
        "sovits": _single(root, "sovits.pth", "*.pth"),
        "hubert": root / HUBERT_DIR,
        "roberta": root / ROBERTA_DIR,
    }
    missing = [name for name, path in found.items() if path is None or not path.exists()]
    if missing:
        raise ModelDirError(
            f"model folder {root} is incomplete: missing {', '.join(missing)} "
            f"(expected gpt.ckpt, sovits.pth, {HUBERT_DIR}/, {ROBERTA_DIR}/)"
        )
    return found  # type: ignore[return-value]


def _single(root: Path, name: str, pattern: str) -> Path | None:
    if (root / name).exists():
        return root / name
    matches = sorted(root.glob(pattern))
    if len(matches) > 1:
        raise ModelDirError(f"model folder {root} has several {pattern} files; name one {name}")
    return matches[0] if matches else None


def fingerprint_files(paths: list[Path]) -> str:
    """SHA-256 over file contents (folders: every file, sorted by relative path); first 16 hex digits."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.name.encode())
            with open(file, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


def model_fingerprint(model_dir: str | Path) -> str:
    """The fingerprint ``load_bundle`` gives this folder, without loading any network."""
    files = find_model_files(model_dir)
    return fingerprint_files([files["gpt"], files["sovits"], files["hubert"], files["roberta"]])


def load_bundle(
    model_dir: str | Path,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    fingerprint: str | None = None,
) -> TTSBundle:
    """Load GPT, SoVITS, CNHuBERT and RoBERTa from ``model_dir`` (a local folder).

    Args:
        model_dir: the model folder (see the module docstring).
        device: ``cpu``, ``cuda``, ``cuda:N``; ``None``/``"auto"``: CUDA when available.
        dtype: ``float32``, ``float16``, ``bfloat16`` (half precision on CUDA only); ``None``: float16 on CUDA.
        fingerprint: the folder's :func:`model_fingerprint`, when the caller already has it (e.g. computed once by
            the job driver): it is used as given and the folder is not hashed (hashing real weights takes seconds).
    """
    from sovits_core.bert import BertModel
    from sovits_core.checkpoint import load_gpt, load_sovits
    from sovits_core.sovits.model import SynthesizerTrnV2
    from sovits_core.ssl import SSLModel
    from sovits_core.t2s.model import T2SModel

    if fingerprint is not None and (not isinstance(fingerprint, str) or not fingerprint.strip()):
        raise ValueError(f"fingerprint must be a non-empty string or None, got {fingerprint!r}")
    files = find_model_files(model_dir)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    t2s_cfg, t2s_sd = load_gpt(files["gpt"])
    t2s = T2SModel(t2s_cfg)
    t2s.load_state_dict(t2s_sd, strict=True)
    sovits_cfg, sovits_sd, version = load_sovits(files["sovits"])
    sovits = SynthesizerTrnV2(sovits_cfg)
    sovits.load_weights(sovits_sd)
    ssl = SSLModel.from_folder(files["hubert"])
    bert = BertModel.from_folder(files["roberta"])
    for module in (t2s, sovits):
        module.eval().to(device=dev, dtype=dt)
    for wrapper in (ssl, bert):
        wrapper.to(device=dev, dtype=dt)
    if fingerprint is None:
        fingerprint = model_fingerprint(model_dir)
    logger.info("loaded model %s from %s on %s (%s)", fingerprint, model_dir, dev, dt)
    return TTSBundle(t2s, sovits, ssl, bert, dev, dt, fingerprint, Path(model_dir), version)
