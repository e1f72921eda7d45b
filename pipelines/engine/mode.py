"""What a mode supplies to the engine: its input as rows, a stage, its output-changing settings, a finisher.

A *mode* (utterance synthesis, voice precompute, audiobook, ASR dataset) is a :class:`Mode` subclass:

* :meth:`Mode.check` — driver-side checks before anything else (model folder, URLs), raising on bad input;
* :meth:`Mode.prepare` — load and validate the input into plan rows (a ``pa.Table`` with an int64 ``row`` and a
  string ``id`` column) plus the result rows of rejected input; runs before the lock, before any GPU;
* :meth:`Mode.stage` — a :class:`StageSpec`: the class built **once per worker** as ``cls(config, context)``,
  then called with batches of plan rows, ``stage(batch: pa.Table) -> pa.Table`` of result rows in
  :attr:`Mode.result_schema`; outputs (audio) go through ``context.sink``;
* :meth:`Mode.settings` — the settings that change outputs (recorded by the first run; a rerun with other values
  is refused, ``--force`` redoes everything);
* :meth:`Mode.finish` — extra compaction after ``results.parquet`` (a bank index, stitched chapters...).

A stage may also define ``batch_cost(row: dict) -> int`` and ``batch_budget: int``: the engine then packs rows into
batches whose costs add up to at most the budget (a row costing more goes alone), so one long row never holds
short rows back. Without them every batch is one row. A stage that returns a result row with status ``retry`` (and
the columns of its ``retry_schema``) gets that row back in a later batch of the same shard, with other rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from manifests.results import MODEL_TIME_COLUMNS, RESULT_SCHEMA
from pipelines.storage import Storage


STATUS_RETRY = "retry"  # a result row a stage hands back to be run again in a later batch (see the worker)


class Sink:
    """Where a stage writes its outputs (audio files): atomic writes under the job's output folder."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def write(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key`` (relative to the job's folder); return its full URL."""
        self.storage.write_bytes(key, data)
        return self.storage.url(key)

    def url(self, key: str) -> str:
        return self.storage.url(key)


@dataclass(frozen=True)
class StageContext:
    """What the engine hands a stage when it builds it on a worker."""

    storage: Storage  # the job's output folder (read what earlier stages left; write through ``sink``)
    sink: Sink
    worker: str  # host:pid
    attempt: str  # this run's id


class Stage(Protocol):
    def __call__(self, batch: pa.Table) -> pa.Table: ...


@dataclass(frozen=True)
class StageSpec:
    """How a worker builds a mode's stage: ``cls(config, context)`` (``config`` must pickle)."""

    cls: type
    config: Any


@dataclass
class Prepared:
    """A mode's input, ready to plan.

    Attributes:
        rows: plan rows (int64 ``row``: the input position, string ``id``, plus what the stage needs).
        source: what the rows came from, for people (the manifest URL).
        invalid: result rows of rejected input rows (``--skip-invalid``), in the mode's result schema.
        idle_exit: set when there is nothing to do: the job ends with this exit code before taking the lock and
            writes nothing.
    """

    rows: pa.Table
    source: str
    invalid: pa.Table | None = None
    idle_exit: int | None = None


class Mode:
    """Base class of the job modes (see the module docstring); subclasses override what they need."""

    name: str = "job"
    result_schema: pa.Schema = RESULT_SCHEMA
    model_time_columns: tuple[str, ...] = MODEL_TIME_COLUMNS
    output_prefixes: tuple[str, ...] = ()  # removed by --force before a job starts over
    replan: bool = False  # True: the rows differ from run to run (the plan is replaced, not refused)
    accept_settings: bool = False  # True: this run may change the recorded settings on purpose (a re-render)
    input_errors: tuple[type[BaseException], ...] = ()  # the mode's own "bad input" exceptions (exit 2, one line)

    def check(self, in_process: bool) -> None:
        """Driver-side checks before the lock (raise an input error: exit 2)."""

    def prepare(self) -> Prepared:
        raise NotImplementedError

    def stage(self, attempt: str) -> StageSpec:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {}

    def redo_kinds(self) -> frozenset[str]:
        """Final error kinds this run redoes anyway (e.g. ``qc_failed`` with ``--retry-qc-failed``)."""
        return frozenset()

    def redo_rows(self) -> frozenset[int]:
        """Input rows (plan ``row`` numbers) this run redoes although they are done (e.g. a re-render)."""
        return frozenset()

    def summary_addons(self) -> tuple[tuple[str, Any], ...]:
        """``(summary key, factory)`` pairs of extra counters for ``summary.json`` (see ``CompactionSpec``)."""
        return ()

    def shard_done(self, storage: Storage, shard: int) -> None:
        """Called in the driver as each shard finishes (e.g. to checkpoint an index)."""

    def pool_done(self, storage: Storage) -> None:
        """Called in the driver when the pool's shards are done, before its Ray goes away (collect CPU tasks)."""

    def finish(self, storage: Storage, summary: dict[str, Any]) -> dict[str, Any] | None:
        """Extra compaction after results.parquet and summary.json (under the lock); may return an updated summary."""

    def exit_code(self, summary: dict[str, Any]) -> int:
        return int(summary["exit_code"])
