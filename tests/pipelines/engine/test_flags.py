"""Flags generated from nested frozen config dataclasses: one place per setting, help on every flag."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from pipelines.engine.flags import (
    ConfigError,
    add_flags,
    check,
    flag_name,
    from_args,
    from_flat,
    replace_flat,
    setting,
)


@dataclass(frozen=True)
class Inner:
    rate: int | None = setting(None, help="sample rate", flag="--sample-rate")
    fmt: str = setting("wav", help="format", choices=("wav", "flac"), aliases=("--format",))

    def __post_init__(self) -> None:
        if self.rate is not None:
            check(self.rate >= 8000, type(self), "rate", self.rate, "must be >= 8000")


@dataclass(frozen=True)
class Outer:
    FLAG_DEFAULTS = {"fmt": "flac"}

    name: str = setting(help="a required name")
    inner: Inner
    loud: bool | None = setting(None, help="on/off/auto")
    quiet: bool = setting(False, help="a switch")
    hidden: str | None = setting(None, help="filled in by the program", cli=False)


def _parse(argv: list[str]) -> Outer:
    parser = argparse.ArgumentParser()
    add_flags(parser, Outer)
    return from_args(Outer, parser.parse_args(argv))


def test_flags_build_the_nested_config() -> None:
    config = _parse(["--name", "x", "--sample-rate", "16000", "--no-loud", "--quiet"])
    assert config == Outer(name="x", inner=Inner(rate=16000, fmt="flac"), loud=False, quiet=True)
    assert _parse(["--name", "y", "--format", "wav"]).inner.fmt == "wav"  # an alias; the job's default is flac
    with pytest.raises(SystemExit):
        _parse(["--sample-rate", "8000"])  # --name is required
    with pytest.raises(SystemExit):
        _parse(["--name", "x", "--hidden", "h"])  # not a flag


def test_validation_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--sample-rate 7999: must be >= 8000$"):
        _parse(["--name", "x", "--sample-rate", "7999"])
    assert flag_name(Inner, "rate") == "--sample-rate" and flag_name(Outer, "quiet") == "--quiet"


def test_flat_construction_and_replacement() -> None:
    config = from_flat(Outer, name="x", rate=22050)
    assert config.inner == Inner(rate=22050, fmt="flac") and config.loud is None
    changed = replace_flat(config, fmt="wav", hidden="fp")
    assert (changed.inner.fmt, changed.inner.rate, changed.hidden) == ("wav", 22050, "fp")
    with pytest.raises(TypeError, match="no setting"):
        from_flat(Outer, name="x", colour="red")


def test_every_job_flag_has_help_and_no_setting_appears_twice() -> None:
    from jobs.precompute_voices import PrecomputeConfig
    from jobs.synthesize import SynthesizeJobConfig

    for cls in (SynthesizeJobConfig, PrecomputeConfig):
        parser = argparse.ArgumentParser()
        add_flags(parser, cls)  # raises when a setting name is repeated across sections
        assert all(action.help for action in parser._actions)
