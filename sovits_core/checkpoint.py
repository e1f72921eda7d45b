"""The one place that reads and writes model checkpoints, in GPT-SoVITS's official layouts (local paths only).

GPT (``*.ckpt``, as upstream's ``s1_train.py`` writes it)::

    {"weight": OrderedDict("model.<T2S key>": fp16 tensor), "config": <s1 yaml as dict>, "info": "GPT-e<N>"}

SoVITS (``*.pth``, as upstream's ``process_ckpt.savee`` writes it)::

    {"weight": {"<SynthesizerTrn key>": fp16 tensor (no enc_q.*)}, "config": utils.HParams(...), "info": "..."}

Newer upstream writers overwrite the zip's first two bytes (``PK``) with a version marker (``b"05"`` = v2Pro ...).
Reading always uses ``torch.load(weights_only=True)``; upstream's ``utils.HParams`` is rebuilt as a data-only
stand-in (:mod:`sovits_core.sovits.hparams`), and any pickle that asks for anything else is refused with
:class:`CheckpointError` before it can run. Version detection follows upstream (marker bytes, the hashes of the
official pretrained files, then the state-dict shapes); only v2 is supported.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.hparams import OFFICIAL_PICKLE, HParams, allow_hparams_unpickling, to_plain


logger = logging.getLogger(__name__)

ZIP_HEAD = b"PK"
# Upstream's process_ckpt.head2version: first two bytes -> model version.
MARKER_VERSIONS = {b"00": "v1", b"01": "v2", b"02": "v3", b"03": "v3", b"04": "v4", b"05": "v2Pro", b"06": "v2ProPlus"}
V2_MARKER = b"01"
# MD5 of the first 8192 bytes of upstream's pretrained SoVITS files (process_ckpt.hash_pretrained_dict).
PRETRAINED_HASH_VERSIONS = {
    "dc3c97e17592963677a4a1681f30c653": "v1",  # s2G488k.pth (v1 pretrained; upstream maps it by shapes)
    "43797be674a37c1c83ee81081941ed0f": "v3",  # s2Gv3.pth
    "6642b37f3dbb1f76882b69937c95a5f3": "v2",  # s2G2333k.pth
    "4f26b9476d0c5033e04162c486074374": "v4",  # s2Gv4.pth
    "c7e9fce2223f3db685cdfa1e6368728a": "v2Pro",  # s2Gv2Pro.pth
    "66b313e39455b57ab1b0bc0b239c9d0a": "v2ProPlus",  # s2Gv2ProPlus.pth
}
SUPPORTED_VERSION = "v2"
V1_SYMBOLS = 322
TRAINING_ONLY_PREFIX = "enc_q."
GPT_PREFIX = "model."


class CheckpointError(ValueError):
    """A checkpoint cannot be used: unreadable, refused, or not matching the model (message names file/key)."""


class UnsupportedVersion(CheckpointError):
    """The checkpoint is a GPT-SoVITS version other than v2."""

    def __init__(self, path: Path | str, version: str, kind: str = "SoVITS") -> None:
        super().__init__(
            f"{path}: {kind} checkpoint is GPT-SoVITS version {version}; only {SUPPORTED_VERSION} is supported"
        )
        self.version = version


# ----------------------------------------------------------------------------------------------------------- reading
def _local_file(path: str | os.PathLike) -> Path:
    text = os.fspath(path)
    if "://" in text:
        raise CheckpointError(f"{text}: only local paths are accepted here (fetch remote models to disk first)")
    p = Path(text)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    return p


def _verify_sha256(path: Path, sha256: str | None) -> None:
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256.lower():
        raise CheckpointError(f"{path}: SHA-256 {digest.hexdigest()} does not match the expected {sha256}")


def read_marker(path: str | os.PathLike) -> str | None:
    """Version written in the first two bytes by newer upstream writers; None for a plain zip (``PK``)."""
    p = _local_file(path)
    with open(p, "rb") as fh:
        head = fh.read(2)
    if head == ZIP_HEAD:
        return None
    if head in MARKER_VERSIONS:
        return MARKER_VERSIONS[head]
    raise CheckpointError(f"{p}: not a PyTorch zip checkpoint (starts with {head!r})")


def _pretrained_version(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return PRETRAINED_HASH_VERSIONS.get(hashlib.md5(fh.read(8192)).hexdigest())


def _torch_load(path: Path, restore_zip_head: bool) -> Any:
    """``torch.load(weights_only=True)``; a marker head is put back to ``PK`` in memory first."""
    allow_hparams_unpickling()
    source: Any = path
    if restore_zip_head:
        source = io.BytesIO(ZIP_HEAD + path.read_bytes()[2:])
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line for line in str(exc).splitlines() if "GLOBAL" in line or "Unsupported" in line]
        detail = (lines[0] if lines else str(exc)).split(" Please use")[0].replace("WeightsUnpickler error: ", "")
        raise CheckpointError(
            f"{path}: refused to load: the pickle asks for something other than tensors and plain data "
            f"({detail.strip()}); it may be malicious or not a GPT-SoVITS checkpoint"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


def _weights_and_config(path: Path, ckpt: Any) -> tuple[dict[str, torch.Tensor], Any]:
    if not isinstance(ckpt, dict) or "weight" not in ckpt or "config" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: expected a dict with 'weight' and 'config' entries, found {found}")
    weight = ckpt["weight"]
    if not isinstance(weight, dict):
        raise CheckpointError(f"{path}: 'weight' is a {type(weight).__name__}, not a dict of tensors")
    for key, value in weight.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: weight entry {key!r} is not a named tensor")
    return weight, ckpt["config"]


def check_state_dict(path: Path | str, expected: dict[str, torch.Size], got: dict[str, torch.Tensor]) -> None:
    """Raise :class:`CheckpointError` naming missing/unexpected keys and shape mismatches (up to 5 of each)."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    wrong = [
        f"{k} {tuple(got[k].shape)} (expected {tuple(s)})"
        for k, s in expected.items()
        if k in got and tuple(got[k].shape) != tuple(s)
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", wrong)):
        if items:
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise CheckpointError(f"{path}: state dict does not match the model config; " + "; ".join(problems))


class _SkipInit(TorchFunctionMode):
    """Turn parameter initialisers into no-ops (random init on the meta device would import torch._dynamo)."""

    _OPS = frozenset({"normal_", "uniform_", "zero_", "fill_", "trunc_normal_", "exponential_", "random_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", "") == "torch.nn.init" or getattr(func, "__name__", "") in self._OPS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


def build_on_meta(factory: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Build a module on the meta device without initialising it: shapes only, no memory, no time."""
    with torch.device("meta"), _SkipInit():
        return factory()


# ----------------------------------------------------------------------------------------------------------- SoVITS
def detect_sovits_version(weight: dict[str, torch.Tensor], hparams: dict[str, Any]) -> str:
    """Upstream's shape rules: v1 has 322 text symbols; v3/v4 carry ``cfm.*`` and no text embedding; v2Pro(Plus)
    carry a speaker-verification projection. Otherwise the config's ``model.version`` (if any), else v2."""
    model = hparams.get("model")
    declared = str(model.get("version", "")) if isinstance(model, dict) else ""
    if any(k.startswith("cfm.") for k in weight) or "enc_p.text_embedding.weight" not in weight:
        return declared if declared in ("v3", "v4") else "v3/v4"
    if "sv_emb.weight" in weight or "ge_to512.weight" in weight:
        return declared if declared.startswith("v2Pro") else "v2Pro"
    if weight["enc_p.text_embedding.weight"].shape[0] == V1_SYMBOLS:
        return "v1"
    return declared if declared in ("v3", "v4", "v2Pro", "v2ProPlus") else SUPPORTED_VERSION


def sovits_file_shapes(cfg: SoVITSConfig) -> dict[str, torch.Size]:
    """Keys and shapes of an upstream SoVITS ``weight`` dict for ``cfg`` (built on the meta device, no memory)."""
    from sovits_core.sovits.layers import upstream_shapes
    from sovits_core.sovits.model import SynthesizerTrnV2

    return upstream_shapes(build_on_meta(lambda: SynthesizerTrnV2(cfg)))


def load_sovits(
    path: str | os.PathLike, sha256: str | None = None
) -> tuple[SoVITSConfig, dict[str, torch.Tensor], str]:
    """Read an official SoVITS v2 checkpoint -> ``(config, weight dict in upstream layout without enc_q.*, "v2")``.

    Raises:
        UnsupportedVersion: v1, v3, v4, v2Pro, v2ProPlus.
        CheckpointError: unreadable / refused pickle / keys or shapes not matching the config.
    """
    p = _local_file(path)
    _verify_sha256(p, sha256)
    marker = read_marker(p)
    if marker is not None and marker != SUPPORTED_VERSION:
        raise UnsupportedVersion(p, marker)
    by_hash = _pretrained_version(p)
    if by_hash is not None and by_hash not in (SUPPORTED_VERSION, "v1"):
        raise UnsupportedVersion(p, by_hash)
    weight, config = _weights_and_config(p, _torch_load(p, restore_zip_head=marker is not None))
    hparams = to_plain(config)
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{p}: 'config' is a {type(config).__name__}, not upstream's HParams")
    version = detect_sovits_version(weight, hparams)
    if version != SUPPORTED_VERSION:
        raise UnsupportedVersion(p, version)
    try:
        cfg = SoVITSConfig.from_hparams(hparams)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{p}: bad SoVITS config: {exc}") from exc
    dropped = [k for k in weight if k.startswith(TRAINING_ONLY_PREFIX)]
    weight = {k: v for k, v in weight.items() if not k.startswith(TRAINING_ONLY_PREFIX)}
    if dropped:
        logger.debug("%s: ignoring %d training-only %s* tensors", p, len(dropped), TRAINING_ONLY_PREFIX)
    check_state_dict(p, sovits_file_shapes(cfg), weight)
    return cfg, weight, version


def save_sovits(
    path: str | os.PathLike,
    cfg: SoVITSConfig,
    state_dict: dict[str, torch.Tensor],
    info: str = "0epoch_0iteration",
    version_marker: bool = False,
) -> None:
    """Write ``state_dict`` (upstream layout, e.g. ``model.upstream_state_dict()``) as an official v2 ``.pth``.

    fp16 weights, ``enc_q.*`` left out (as ``savee``), config pickled as ``utils.HParams``. ``version_marker=True``
    replaces the zip's ``PK`` head with ``b"01"`` (v2) as newer upstream writers do for their versions.
    """
    weight = {k: v.detach().cpu().half() for k, v in state_dict.items() if not k.startswith(TRAINING_ONLY_PREFIX)}
    check_state_dict(path, sovits_file_shapes(cfg), weight)
    ckpt = OrderedDict(weight=weight, config=HParams(**cfg.to_hparams()), info=info)
    _write(Path(path), ckpt, V2_MARKER if version_marker else None)


# ----------------------------------------------------------------------------------------------------------- GPT
def _t2s_expected_shapes(cfg: Any) -> dict[str, torch.Size]:
    from sovits_core.t2s.model import T2SModel

    return {k: v.shape for k, v in build_on_meta(lambda: T2SModel(cfg)).state_dict().items()}


def load_gpt(path: str | os.PathLike, sha256: str | None = None) -> tuple[Any, dict[str, torch.Tensor]]:
    """Read an official GPT checkpoint -> ``(T2SConfig, state dict with the "model." prefix removed)``."""
    from sovits_core.t2s.config import T2SConfig

    p = _local_file(path)
    _verify_sha256(p, sha256)
    if read_marker(p) is not None:
        raise CheckpointError(f"{p}: GPT checkpoints are plain zips; this one carries a SoVITS version marker")
    weight, config = _weights_and_config(p, _torch_load(p, restore_zip_head=False))
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{p}: GPT 'config' must be a dict with a 'model' section")
    if config["model"].get("phoneme_vocab_size") == 512:
        raise UnsupportedVersion(p, "v1", kind="GPT")
    outside = [k for k in weight if not k.startswith(GPT_PREFIX)]
    if outside:
        raise CheckpointError(f"{p}: GPT weight keys must start with {GPT_PREFIX!r}; found {outside[:5]}")
    try:
        cfg = T2SConfig.from_ckpt_config(config)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{p}: bad GPT config: {exc!r}") from exc
    state = {k[len(GPT_PREFIX) :]: v for k, v in weight.items()}
    check_state_dict(p, _t2s_expected_shapes(cfg), state)
    return cfg, state


def save_gpt(path: str | os.PathLike, cfg: Any, state_dict: dict[str, torch.Tensor], info: str = "GPT-e0") -> None:
    """Write a T2S state dict as an official GPT ``.ckpt`` (keys prefixed ``model.``, fp16, config dict, info)."""
    check_state_dict(path, _t2s_expected_shapes(cfg), state_dict)
    weight = OrderedDict((GPT_PREFIX + k, v.detach().cpu().half()) for k, v in state_dict.items())
    ckpt = OrderedDict(weight=weight, config=cfg.to_ckpt_config(), info=info)
    _write(Path(path), ckpt, None)


def _write(path: Path, ckpt: dict, marker: bytes | None) -> None:
    """Serialise with upstream's global names; atomic replace; optional 2-byte version marker."""
    buf = io.BytesIO()
    torch.save(ckpt, buf, pickle_module=OFFICIAL_PICKLE)
    data = buf.getvalue()
    if marker is not None:
        data = marker + data[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
