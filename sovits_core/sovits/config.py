"""SoVITS v2 hyper-parameters, read from / written to the ``config`` (HParams) entry of an official checkpoint.

Upstream stores the whole training config (``configs/s2.json`` plus run fields) in the checkpoint. The network is
built from ``data.filter_length`` and ``model.*``; several sizes are hard-coded in upstream's code (SSL width 768,
codebook of 1024, MRTE width 512, style encoder width 128, flow depth 4 ...). They are fields here too, with upstream's
values as defaults, so that tiny test models can shrink them; they are written into ``model.*`` only when they differ
from the defaults, which keeps a full-size file identical in layout to an upstream one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


# Upstream's s2.json "train" section, written back so that upstream tools can open files we save.
_UPSTREAM_TRAIN = {
    "log_interval": 100,
    "eval_interval": 500,
    "seed": 1234,
    "epochs": 100,
    "learning_rate": 0.0001,
    "betas": [0.8, 0.99],
    "eps": 1e-09,
    "batch_size": 32,
    "fp16_run": True,
    "lr_decay": 0.999875,
    "segment_size": 20480,
    "init_lr_ratio": 1,
    "warmup_epochs": 0,
    "c_mel": 45,
    "c_kl": 1.0,
    "text_low_lr_rate": 0.4,
    "grad_ckpt": False,
}
_UPSTREAM_DATA_EXTRA = {
    "max_wav_value": 32768.0,
    "n_mel_channels": 128,
    "mel_fmin": 0.0,
    "mel_fmax": None,
    "add_blank": True,
    "n_speakers": 300,
    "cleaned_text": True,
}

# model.* keys that upstream's config carries (everything else in SoVITSConfig is an "extra" with a default).
_UPSTREAM_MODEL_KEYS = (
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "gin_channels",
)
_DATA_KEYS = ("sampling_rate", "filter_length", "hop_length", "win_length")


@dataclass(frozen=True)
class SoVITSConfig:
    """Dimensions of :class:`sovits_core.sovits.model.SynthesizerTrnV2` (defaults: upstream v2 ``s2.json``)."""

    # data.*
    sampling_rate: int = 32000
    filter_length: int = 2048
    hop_length: int = 640
    win_length: int = 2048
    # model.* as in upstream's config
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    gin_channels: int = 512
    # sizes hard-coded upstream (extras; written only when not default)
    ssl_dim: int = 768
    n_symbols: int = 732
    codebook_size: int = 1024
    n_codebooks: int = 1
    mrte_channels: int = 512
    mrte_heads: int = 4
    style_hidden: int = 128
    style_heads: int = 2
    style_kernel_size: int = 5
    ref_bins: int = 704
    flow_kernel_size: int = 5
    flow_layers: int = 4
    n_flows: int = 4
    attn_window: int = 4
    version: str = field(default="v2")

    def __post_init__(self) -> None:
        for name in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(
            self, "resblock_dilation_sizes", tuple(tuple(int(d) for d in ds) for ds in self.resblock_dilation_sizes)
        )
        object.__setattr__(self, "resblock", str(self.resblock))
        problems = []
        if self.resblock not in ("1", "2"):
            problems.append(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            problems.append("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            problems.append("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if self.hop_samples != self.hop_length:
            problems.append(
                f"product of upsample_rates ({self.hop_samples}) must equal hop_length ({self.hop_length})"
            )
        if self.mrte_channels != self.gin_channels:
            problems.append(f"mrte_channels ({self.mrte_channels}) must equal gin_channels ({self.gin_channels})")
        if self.hidden_channels % self.n_heads or self.mrte_channels % self.mrte_heads:
            problems.append("channel counts must be divisible by their head counts")
        if self.inter_channels % 2:
            problems.append(f"inter_channels must be even, got {self.inter_channels}")
        if self.ref_bins > self.spec_channels:
            problems.append(f"ref_bins ({self.ref_bins}) exceeds spectrogram bins ({self.spec_channels})")
        if problems:
            raise ValueError("invalid SoVITS config: " + "; ".join(problems))

    @property
    def spec_channels(self) -> int:
        """Linear-spectrogram bins (``filter_length // 2 + 1``)."""
        return self.filter_length // 2 + 1

    @property
    def hop_samples(self) -> int:
        """Output samples per decoder frame (product of the upsampling rates)."""
        out = 1
        for rate in self.upsample_rates:
            out *= rate
        return out

    @property
    def samples_per_code(self) -> int:
        """Output samples per 25 Hz semantic code (codes are repeated twice before decoding)."""
        return 2 * self.hop_samples

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> SoVITSConfig:
        """Build from upstream's config dict (``{"data": {...}, "model": {...}, ...}``); unknown keys are ignored."""
        if not isinstance(hparams, dict) or not isinstance(hparams.get("model"), dict):
            raise ValueError("SoVITS hparams must be a dict with a 'model' section")
        data = hparams.get("data") or {}
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: data[k] for k in _DATA_KEYS if k in data}
        kwargs.update({k: v for k, v in hparams["model"].items() if k in known and k not in _DATA_KEYS})
        kwargs.pop("version", None)  # the file's version is decided by the loader, not by this field
        return cls(**kwargs)

    def to_hparams(self) -> dict[str, Any]:
        """Upstream-shaped config dict (train/data/model sections as in ``configs/s2.json``)."""
        values = asdict(self)
        defaults = asdict(SoVITSConfig())
        model = {k: _plain(values[k]) for k in _UPSTREAM_MODEL_KEYS}
        model["use_spectral_norm"] = False
        model["semantic_frame_rate"] = "25hz"
        model["freeze_quantizer"] = True
        for name, value in values.items():
            if name not in model and name not in _DATA_KEYS and name != "version" and value != defaults[name]:
                model[name] = _plain(value)
        model["version"] = self.version
        data = {k: values[k] for k in _DATA_KEYS}
        data.update(_UPSTREAM_DATA_EXTRA)
        train = dict(_UPSTREAM_TRAIN)
        return {"train": train, "data": data, "model": model, "s2_ckpt_dir": "logs/s2", "content_module": "cnhubert"}


def _plain(value: Any) -> Any:
    """Tuples -> lists (upstream's JSON-born config holds lists)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
