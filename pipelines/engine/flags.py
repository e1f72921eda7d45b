"""Command-line flags generated from frozen config dataclasses: one place per setting, help text included.

A config field declares its flag with :func:`setting`::

    @dataclass(frozen=True)
    class StageConfig:
        audio_format: str = setting("wav", help="audio file format", flag="--format", choices=("wav", "flac"))

A field whose type is itself a config dataclass is a nested section: its fields become flags too (flattened, so
``--format`` rather than ``--stage-format``). :func:`add_flags` adds every flag to an ``argparse`` parser,
:func:`from_args` builds the nested config back from the parsed namespace, :func:`from_flat` builds it from flat
keyword arguments (tests, schedulers) and :func:`replace_flat` changes settings by their flat names. Validation lives
in each dataclass's ``__post_init__`` (raising :class:`ConfigError`, whose message names the flag).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any


_MISSING = dataclasses.MISSING


class ConfigError(ValueError):
    """A setting is out of range or inconsistent; the message names the flag."""


def setting(
    default: Any = _MISSING,
    *,
    help: str,
    flag: str | None = None,
    choices: Sequence[Any] | None = None,
    aliases: Sequence[str] = (),
    factory: Any = _MISSING,
    cli: bool = True,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with command-line metadata.

    Args:
        default: the default value (omit for a required setting).
        help: the flag's help text.
        flag: the flag's name (default ``--field-name``).
        choices: allowed values (argparse refuses others).
        aliases: other accepted flag names (kept for compatibility).
        factory: default factory, instead of ``default``.
        cli: False for settings that are not flags (filled in by the program, e.g. a computed fingerprint).
        metavar: name of the value in the help text.
    """
    meta = {"help": help, "flag": flag, "choices": choices, "aliases": tuple(aliases), "cli": cli, "metavar": metavar}
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_name(cls: type, name: str) -> str:
    """The command-line flag of field ``name`` of config class ``cls`` (for error messages)."""
    for owner, field in _leaf_fields(cls):
        if field.name == name and owner is cls:
            return field.metadata.get("flag") or "--" + name.replace("_", "-")
    return "--" + name.replace("_", "-")


def check(condition: bool, cls: type, name: str, value: Any, why: str) -> None:
    """Raise :class:`ConfigError` ``"--flag VALUE: why"`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{flag_name(cls, name)} {value}: {why}")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _leaf_fields(cls: type) -> Iterator[tuple[type, dataclasses.Field]]:
    """(owner class, field) for every non-section field, depth first, in declaration order."""
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        if _is_config(hints[field.name]):
            yield from _leaf_fields(hints[field.name])
        else:
            yield cls, field


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return tp, False


def _job_defaults(cls: type) -> dict[str, Any]:
    """Defaults a job overrides for its sections' settings (``FLAG_DEFAULTS`` on the top-level config class)."""
    return dict(getattr(cls, "FLAG_DEFAULTS", {}))


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add a flag for every (nested) field of config class ``cls``."""
    overrides = _job_defaults(cls)
    names = [field.name for _, field in _leaf_fields(cls)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise TypeError(f"{cls.__name__}: setting(s) {repeated} appear in more than one section")
    for owner, field in _leaf_fields(cls):
        meta = field.metadata
        if not meta.get("cli", True):
            continue
        if "help" not in meta:
            raise TypeError(f"{owner.__name__}.{field.name} has no help text: declare it with setting(...)")
        tp, optional = _unwrap_optional(_hints(owner)[field.name])
        names = [meta.get("flag") or "--" + field.name.replace("_", "-"), *meta.get("aliases", ())]
        kwargs: dict[str, Any] = {"dest": field.name, "help": meta["help"]}
        required = field.default is _MISSING and field.default_factory is _MISSING
        if field.name in overrides:
            kwargs["default"], required = overrides[field.name], False
        elif not required:
            kwargs["default"] = field.default if field.default is not _MISSING else field.default_factory()
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction if optional else "store_true"
        else:
            kwargs["type"] = tp if tp in (int, float, str) else str
            kwargs["choices"] = meta.get("choices")
            kwargs["metavar"] = meta.get("metavar")
        kwargs["required"] = required
        parser.add_argument(*names, **{k: v for k, v in kwargs.items() if v is not None or k == "default"})


def _build(cls: type, values: dict[str, Any], used: set[str]) -> Any:
    hints = _hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if _is_config(hints[field.name]):
            kwargs[field.name] = _build(hints[field.name], values, used)
        elif field.name in values:
            kwargs[field.name] = values[field.name]
            used.add(field.name)
    return cls(**kwargs)


def from_flat(cls: type, **values: Any) -> Any:
    """Build config ``cls`` (sections included) from flat keyword arguments named like its leaf fields."""
    values = {**_job_defaults(cls), **values}
    used: set[str] = set()
    config = _build(cls, values, used)
    unknown = set(values) - used
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting(s) {sorted(unknown)}")
    return config


def from_args(cls: type, namespace: argparse.Namespace) -> Any:
    """Build config ``cls`` from an ``argparse`` namespace filled by :func:`add_flags` (extra names are ignored)."""
    names = {field.name for _, field in _leaf_fields(cls)}
    return from_flat(cls, **{k: v for k, v in vars(namespace).items() if k in names})


def to_flat(config: Any) -> dict[str, Any]:
    """Every leaf setting of ``config`` by its flat name (a leaf may itself hold a dataclass value)."""
    out: dict[str, Any] = {}
    hints = _hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out.update(to_flat(value) if _is_config(hints[field.name]) else {field.name: value})
    return out


def replace_flat(config: Any, **changes: Any) -> Any:
    """A copy of ``config`` with leaf settings changed by their flat names (sections found automatically)."""
    return from_flat(type(config), **{**to_flat(config), **changes})
