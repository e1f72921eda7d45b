"""Stand-in for upstream's pickled config class ``utils.HParams`` and a pickler that writes it under that name.

Upstream SoVITS checkpoints store their config as a pickled ``utils.HParams`` object (an attribute bag). We never
import upstream and never unpickle with ``weights_only=False``: :func:`allow_hparams_unpickling` registers this
stand-in with torch's weights-only unpickler under upstream's global names, so ``torch.load(weights_only=True)``
rebuilds the object as pure data (``__dict__`` update, no code). Writing goes the other way: :data:`OFFICIAL_PICKLE`
is a ``pickle_module`` for ``torch.save`` that emits the stand-in as the global ``utils.HParams``, so files we write
open in upstream unchanged.
"""

from __future__ import annotations

import pickle
import types
from collections.abc import Iterator
from typing import Any

import torch


UPSTREAM_NAMES = ("utils.HParams", "GPT_SoVITS.utils.HParams")
_WRITE_MODULE, _WRITE_NAME = "utils", "HParams"


class HParams:
    """Attribute bag with dict-style access (same behaviour as upstream ``utils.HParams``)."""

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            self[key] = HParams(**value) if isinstance(value, dict) else value

    def keys(self):
        return self.__dict__.keys()

    def items(self):
        return self.__dict__.items()

    def values(self):
        return self.__dict__.values()

    def __len__(self) -> int:
        return len(self.__dict__)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HParams) and to_plain(self) == to_plain(other)

    def __repr__(self) -> str:
        return repr(self.__dict__)


def to_plain(value: Any) -> Any:
    """HParams / nested containers -> plain dicts and lists."""
    if isinstance(value, HParams):
        return {k: to_plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


_registered = False


def allow_hparams_unpickling() -> None:
    """Let ``torch.load(weights_only=True)`` rebuild upstream's ``utils.HParams`` as :class:`HParams` (idempotent)."""
    global _registered
    if not _registered:
        torch.serialization.add_safe_globals([(HParams, name) for name in UPSTREAM_NAMES])
        _registered = True


class _OfficialPickler(pickle._Pickler):
    """Pure-Python pickler that writes :class:`HParams` as upstream's global ``utils.HParams``."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is HParams:
            self.write(pickle.GLOBAL + f"{_WRITE_MODULE}\n{_WRITE_NAME}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)


OFFICIAL_PICKLE = types.ModuleType("sovits_official_pickle")
OFFICIAL_PICKLE.Pickler = _OfficialPickler  # type: ignore[attr-defined]
