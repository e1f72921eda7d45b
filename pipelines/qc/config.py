"""QC settings: which checks run, their thresholds, and whether a failure is enforced or only reported.

A run picks a preset by name (``--qc default``) or a JSON/YAML file (``--qc path/to/qc.json``)::

    {"preset": "default",            # optional: start from a preset (default: "default")
     "mode": "enforce",              # "enforce" (retry, then qc_failed) or "report" (scores only)
     "disable": ["level"],           # checks to switch off
     "checks": {"speaker": {"min": 0.8}, "internal_silence": {"max": 2.0}}}

Every check and parameter name is validated before any GPU is asked for: an unknown check or parameter, or a value
out of range, is refused naming its key (``qc.checks.speaker.min: 1.5 is outside [-1, 1]``).

Presets: ``default`` (every check except ``asr``, which runs once an ASR model is configured), ``strict``,
``lenient``, ``report-only`` (default thresholds, nothing enforced: for random demo models) and ``off``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from manifests.qc import CHECK_NAMES
from pipelines.engine.flags import ConfigError, setting


class QCConfigError(ConfigError):
    """A QC setting is unknown or out of range; the message names its key."""


# check -> parameter -> (default, low, high): the allowed range of each threshold.
PARAMETERS: dict[str, dict[str, tuple[float, float, float]]] = {
    "token_run": {"max": (40, 2, 10_000)},  # tokens of one kind in a row (25 per second)
    "token_loop": {"max": (60, 4, 10_000), "max_period": (8, 2, 64)},  # tokens covered by a short-period loop
    "token_share": {"max": (0.35, 0.01, 1.0), "min_tokens": (50, 1, 100_000)},
    "token_cap": {},
    "token_rate": {"min": (0.5, 0.0, 100.0), "max": (2.0, 0.0, 100.0)},  # ratio to the voice's tokens per phone
    "nonfinite": {},
    "clipping": {"max": (0.002, 0.0, 1.0)},  # share of samples at full scale
    "level": {"min": (-40.0, -120.0, 0.0), "max": (-3.0, -120.0, 0.0)},  # RMS dBFS of the speech
    "lead_silence": {"max": (1.0, 0.0, 60.0)},  # seconds
    "trail_silence": {"max": (1.5, 0.0, 60.0)},
    "internal_silence": {"max": (1.3, 0.0, 60.0)},
    "speech_ratio": {"min": (0.35, 0.0, 1.0)},
    "abrupt_end": {"max": (-20.0, -120.0, 40.0)},  # dB of the last 50 ms relative to the speech, speech at the end
    "audio_repeat": {"max": (0.75, 0.05, 60.0), "min_similarity": (0.8, 0.0, 1.0)},  # seconds said twice
    "duration_rate": {"min": (0.6, 0.0, 100.0), "max": (1.8, 0.0, 100.0)},  # ratio to the voice's seconds per phone
    "speaker": {"min": (0.75, -1.0, 1.0)},  # cosine similarity (GE2E)
    "asr": {"max_error": (0.35, 0.0, 10.0), "max_deletions": (0.25, 0.0, 10.0), "max_insertions": (0.25, 0.0, 10.0)},
}
# Without the voice's own rate (a reference-free voice has no transcript), rates are judged in absolute terms.
ABSOLUTE_RATES = {"tokens_per_phone": (0.8, 8.0), "seconds_per_phone": (0.03, 0.4)}
MODES = ("enforce", "report")

_STRICT = {"speaker": {"min": 0.8}, "internal_silence": {"max": 1.0}, "token_rate": {"min": 0.6, "max": 1.6},
           "duration_rate": {"min": 0.7, "max": 1.5}, "asr": {"max_error": 0.2, "max_deletions": 0.15,
           "max_insertions": 0.15}}  # fmt: skip
_LENIENT = {"speaker": {"min": 0.6}, "internal_silence": {"max": 2.5}, "token_rate": {"min": 0.35, "max": 3.0},
            "duration_rate": {"min": 0.4, "max": 2.5}, "lead_silence": {"max": 2.0}, "trail_silence": {"max": 3.0}}  # fmt: skip
PRESETS = ("default", "strict", "lenient", "report-only", "off")


@dataclass(frozen=True)
class QCConfig:
    """The checks to run with their thresholds, and what a failure does."""

    mode: str = "enforce"
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # check -> parameter -> value (enabled)

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name in CHECK_NAMES if name in self.thresholds)

    @property
    def active(self) -> bool:
        return bool(self.thresholds)

    @property
    def enforce(self) -> bool:
        return self.mode == "enforce" and self.active

    def param(self, check: str, name: str) -> float:
        return self.thresholds[check][name]

    def without(self, *checks: str) -> QCConfig:
        return replace(self, thresholds={k: v for k, v in self.thresholds.items() if k not in checks})

    def with_asr(self) -> QCConfig:
        """The ``asr`` check switched on with its default thresholds (once an ASR model is configured)."""
        if "asr" in self.thresholds or not self.active:
            return self
        return replace(self, thresholds={**self.thresholds, "asr": _defaults()["asr"]})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (recorded with the job's settings and shown in the report)."""
        return {"mode": self.mode if self.active else "off", "thresholds": self.thresholds}


def _defaults() -> dict[str, dict[str, float]]:
    return {check: {p: spec[0] for p, spec in params.items()} for check, params in PARAMETERS.items()}


def preset(name: str) -> QCConfig:
    """A named preset (see the module docstring)."""
    if name not in PRESETS:
        raise QCConfigError(f"--qc {name}: not a preset ({', '.join(PRESETS)}) nor a .json/.yaml file")
    thresholds = _defaults()
    del thresholds["asr"]  # runs only once an ASR model is configured
    if name == "off":
        return QCConfig("enforce", {})
    for check, values in {"strict": _STRICT, "lenient": _LENIENT}.get(name, {}).items():
        thresholds.setdefault(check, _defaults()[check]).update(values)
    thresholds.pop("asr", None)
    return QCConfig("report" if name == "report-only" else "enforce", thresholds)


def _check_value(check: str, name: str, value: Any) -> float:
    key = f"qc.checks.{check}.{name}"
    if check not in PARAMETERS:
        raise QCConfigError(f"qc.checks.{check}: unknown check (known: {', '.join(CHECK_NAMES)})")
    if name not in PARAMETERS[check]:
        known = ", ".join(PARAMETERS[check]) or "none"
        raise QCConfigError(f"{key}: unknown parameter (parameters of {check}: {known})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise QCConfigError(f"{key}: {value!r} is not a number")
    _, low, high = PARAMETERS[check][name]
    if not low <= value <= high:
        raise QCConfigError(f"{key}: {value} is outside [{low}, {high}]")
    return float(value)


def _check_pairs(thresholds: dict[str, dict[str, float]]) -> None:
    for check, values in thresholds.items():
        if "min" in values and "max" in values and values["min"] > values["max"]:
            raise QCConfigError(f"qc.checks.{check}: min {values['min']} is above max {values['max']}")


def from_mapping(doc: dict[str, Any], source: str = "qc") -> QCConfig:
    """A QC config from a parsed file (see the module docstring); every key is validated."""
    if not isinstance(doc, dict):
        raise QCConfigError(f"{source}: a QC config must be a mapping, got {type(doc).__name__}")
    unknown = set(doc) - {"preset", "mode", "disable", "checks", "enable"}
    if unknown:
        raise QCConfigError(f"qc.{sorted(unknown)[0]}: unknown key (known: preset, mode, disable, enable, checks)")
    base = preset(str(doc.get("preset", "default")))
    mode = doc.get("mode", base.mode)
    if mode not in MODES:
        raise QCConfigError(f"qc.mode: {mode!r} is not one of {', '.join(MODES)}")
    thresholds = {check: dict(values) for check, values in base.thresholds.items()}
    for check in [*doc.get("enable", []), *(doc.get("checks") or {})]:
        if check not in PARAMETERS:
            raise QCConfigError(f"qc.checks.{check}: unknown check (known: {', '.join(CHECK_NAMES)})")
        thresholds.setdefault(check, _defaults()[check])
    for check, values in (doc.get("checks") or {}).items():
        if not isinstance(values, dict):
            raise QCConfigError(f"qc.checks.{check}: expected a mapping of parameters, got {values!r}")
        for name, value in values.items():
            thresholds[check][name] = _check_value(check, name, value)
    for check in doc.get("disable", []):
        if check not in PARAMETERS:
            raise QCConfigError(f"qc.disable: unknown check {check!r} (known: {', '.join(CHECK_NAMES)})")
        thresholds.pop(check, None)
    _check_pairs(thresholds)
    return QCConfig(mode, thresholds)


def load_qc_config(spec: str) -> QCConfig:
    """``--qc``: a preset name, or a path to a JSON or YAML file."""
    if spec in PRESETS:
        return preset(spec)
    path = Path(spec)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise QCConfigError(f"--qc {spec}: not a preset ({', '.join(PRESETS)}) nor a .json/.yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QCConfigError(f"--qc {spec}: cannot read the file ({exc.strerror})") from exc
    return from_mapping(_parse(text, path.suffix.lower(), spec), spec)


def _parse(text: str, suffix: str, spec: str) -> Any:
    if suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise QCConfigError(f"--qc {spec}: not valid JSON: {exc}") from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise QCConfigError(f"--qc {spec}: not valid YAML: {exc}") from exc


ASR_BACKENDS = ("whisper", "funasr", "faster-whisper", "pocketsphinx")


@dataclass(frozen=True)
class QCSettings:
    """QC flags of a synthesis stage (a config section); ``resolved`` is parsed on the driver and travels with it."""

    qc: str = setting("default", help=f"QC preset ({', '.join(PRESETS)}) or a JSON/YAML file of checks and thresholds")
    qc_retries: int = setting(2, help="new attempts (new seeds) for a row that fails QC before it is qc_failed")
    retry_qc_failed: bool = setting(False, help="rerun rows an earlier run left qc_failed (else a rerun keeps them)")
    asr_backend: str | None = setting(None, help="ASR round trip in QC: whisper, funasr, faster-whisper, pocketsphinx",
                                      choices=ASR_BACKENDS)  # fmt: skip
    asr_model: str | None = setting(None, help="local model folder of the ASR backend (pocketsphinx needs none)")
    resolved: QCConfig | None = setting(None, help="the parsed QC config", cli=False)

    def __post_init__(self) -> None:
        if not 0 <= self.qc_retries <= 20:
            raise QCConfigError(f"--qc-retries {self.qc_retries}: must be in [0, 20]")
        if self.asr_model and not self.asr_backend:
            raise QCConfigError("--asr-model needs --asr-backend (whisper, funasr or faster-whisper)")
        if self.asr_backend in ("whisper", "funasr", "faster-whisper") and not self.asr_model:
            raise QCConfigError(f"--asr-backend {self.asr_backend} needs --asr-model (a local model folder)")
        if self.resolved is None:
            config = load_qc_config(self.qc)
            object.__setattr__(self, "resolved", config.with_asr() if self.asr_backend else config.without("asr"))

    @property
    def config(self) -> QCConfig:
        assert self.resolved is not None
        return self.resolved
