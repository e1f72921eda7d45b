"""Hyper-parameters of the GPT-SoVITS text-to-semantic (stage s1, "GPT") model.

An official ``.ckpt`` stores its training YAML as a dict under ``"config"``; only ``config["model"]`` and
``config["data"]["max_sec"]`` matter for inference. :class:`T2SConfig` reads and writes that layout, so official
checkpoints load unmodified and checkpoints we write load in upstream GPT-SoVITS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


#: Upstream multiplies ``max_sec`` by this rate to get its early-stop token count (``hz * max_sec``).
EARLY_STOP_HZ = 50
#: Upstream's decoding loop runs at most this many steps, whatever ``max_sec`` says.
MAX_DECODE_STEPS = 1500
#: Width of the per-phone BERT features fed through ``bert_proj``.
BERT_DIM = 1024

# (dataclass field, key in config["model"]) for the fields read from the checkpoint's model section.
_MODEL_KEYS: tuple[tuple[str, str], ...] = (
    ("vocab_size", "vocab_size"),
    ("phoneme_vocab_size", "phoneme_vocab_size"),
    ("embedding_dim", "embedding_dim"),
    ("hidden_dim", "hidden_dim"),
    ("n_heads", "head"),
    ("n_layers", "n_layer"),
    ("dropout", "dropout"),
    ("eos", "EOS"),
)


@dataclass(frozen=True)
class T2SConfig:
    """Architecture of the text-to-semantic transformer (defaults: GPT-SoVITS v2, ``s1longer-v2.yaml``).

    Attributes:
        vocab_size: semantic vocabulary including EOS (1024 codes + EOS).
        phoneme_vocab_size: number of phone symbols (732 for v2).
        embedding_dim: width of the token embeddings; must equal ``hidden_dim``.
        hidden_dim: transformer width; the feed-forward width is ``4 * hidden_dim`` as upstream builds it.
        n_heads: attention heads.
        n_layers: transformer layers.
        linear_units: value stored in the checkpoint config; upstream ignores it (uses ``4 * hidden_dim``).
        dropout: stored for round trips; inference never applies dropout.
        eos: id of the end-of-sequence token; upstream requires ``eos == vocab_size - 1``.
        max_sec: ``config["data"]["max_sec"]``; with :data:`EARLY_STOP_HZ` it gives the default length cap.
        pad_val: ``config["data"]["pad_val"]`` (training only; kept for round trips).
    """

    vocab_size: int = 1025
    phoneme_vocab_size: int = 732
    embedding_dim: int = 512
    hidden_dim: int = 512
    n_heads: int = 16
    n_layers: int = 24
    linear_units: int = 2048
    dropout: float = 0.0
    eos: int = 1024
    max_sec: int = 54
    pad_val: int = 1024

    def __post_init__(self) -> None:
        for name in ("vocab_size", "phoneme_vocab_size", "embedding_dim", "hidden_dim", "n_heads", "n_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"T2SConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.eos != self.vocab_size - 1:
            raise ValueError(f"T2SConfig.eos must be vocab_size - 1 = {self.vocab_size - 1}, got {self.eos}")
        if self.embedding_dim != self.hidden_dim:
            raise ValueError(
                f"T2SConfig.embedding_dim ({self.embedding_dim}) must equal hidden_dim ({self.hidden_dim})"
            )
        if self.hidden_dim % self.n_heads:
            raise ValueError(f"T2SConfig.hidden_dim ({self.hidden_dim}) is not divisible by n_heads ({self.n_heads})")
        if self.max_sec <= 0:
            raise ValueError(f"T2SConfig.max_sec must be > 0, got {self.max_sec!r}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_dim // self.n_heads

    @property
    def ffn_dim(self) -> int:
        """Feed-forward width (upstream hard-codes ``4 * hidden_dim``)."""
        return 4 * self.hidden_dim

    @property
    def default_max_new_tokens(self) -> int:
        """Upstream's effective length cap: ``min(hz * max_sec, 1500 loop steps)``."""
        return min(EARLY_STOP_HZ * int(self.max_sec), MAX_DECODE_STEPS)

    @classmethod
    def from_ckpt_config(cls, cfg: dict[str, Any]) -> T2SConfig:
        """Build from the ``"config"`` dict of an upstream s1 checkpoint.

        Args:
            cfg: dict with ``cfg["model"]`` (``vocab_size``, ``phoneme_vocab_size``, ``embedding_dim``,
                ``hidden_dim``, ``head``, ``n_layer``, ``dropout``, ``EOS``, optional ``linear_units``) and
                ``cfg["data"]["max_sec"]`` (optional ``pad_val``).

        Raises:
            ValueError: a section or key is missing or has the wrong type, naming it.
        """
        model = _section(cfg, "model")
        data = _section(cfg, "data")
        values: dict[str, Any] = {}
        for field_name, key in _MODEL_KEYS:
            values[field_name] = _read(model, "model", key, float if field_name == "dropout" else int)
        values["linear_units"] = _read(model, "model", "linear_units", int, default=4 * values["hidden_dim"])
        values["max_sec"] = _read(data, "data", "max_sec", int)
        values["pad_val"] = _read(data, "data", "pad_val", int, default=values["eos"])
        return cls(**values)

    def to_ckpt_config(self) -> dict[str, Any]:
        """The ``"config"`` dict in upstream's layout (what :meth:`from_ckpt_config` and upstream read)."""
        model = {key: getattr(self, field_name) for field_name, key in _MODEL_KEYS}
        model["linear_units"] = self.linear_units
        return {"model": model, "data": {"max_sec": self.max_sec, "pad_val": self.pad_val}}


def _section(cfg: Any, name: str) -> dict[str, Any]:
    if not isinstance(cfg, dict):
        raise ValueError(f"T2S checkpoint config must be a dict, got {type(cfg).__name__}")
    section = cfg.get(name)
    if not isinstance(section, dict):
        raise ValueError(f"T2S checkpoint config has no dict section config[{name!r}]")
    return section


_MISSING = object()


def _read(section: dict[str, Any], name: str, key: str, kind: type, default: Any = _MISSING) -> Any:
    if key not in section:
        if default is _MISSING:
            raise ValueError(f"T2S checkpoint config lacks config[{name!r}][{key!r}]")
        return default
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise ValueError(f"T2S checkpoint config[{name!r}][{key!r}] must be {kind.__name__}, got {value!r}")
    return kind(value)
