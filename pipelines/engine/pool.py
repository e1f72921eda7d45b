"""A pool of long-lived Ray actors that each build heavy state once and then process tasks.

With ``cluster.py`` and the engine's runner, this is where ``pipelines/`` imports ``ray`` (lazily, inside functions). The actor classes it
runs are plain Python classes: ``ActorSpec(cls, args, kwargs, method_name)`` says how to build one and which method
handles one task, so the same class is unit-tested without Ray.

Fault handling is Ray's own:

* every actor is created with ``max_restarts`` (default: unbounded) so a crashed or preempted worker process is
  restarted, rebuilding its state in ``__init__``;
* every call is made with ``max_task_retries`` so a call that was running (or queued) on a dead actor is re-run on
  the restarted actor. An exception raised by the task itself is *not* retried (the engine's workers return data
  failures as rows, so a raised exception is a bug): it comes back as a :class:`TaskFailure` in the
  :class:`PoolReport`;
* a task that kills its actor more than ``max_task_retries`` times is reported as failed (kind ``"worker_lost"``),
  the pool carries on with the other tasks.

The driver side is a plain ``ray.wait`` loop that keeps ``max_in_flight_per_actor`` calls on every actor and hands
each result to ``on_result`` in the driver.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pipelines.engine.cluster import describe_resources, init_ray, resolve_workers


logger = logging.getLogger(__name__)

__all__ = ["ActorSpec", "PoolReport", "PoolStartError", "TaskFailure", "init_ray", "resolve_workers", "run_actor_pool"]

T = TypeVar("T")
R = TypeVar("R")

FailureKind = Literal["task_error", "worker_lost"]
TICK_S = 1.0


@dataclass(frozen=True)
class ActorSpec:
    """How to build one pool worker and which of its methods handles one task.

    Args:
        cls: a plain Python class; ``cls(*args, **kwargs)`` builds the heavy state (models) once per actor.
        args: positional constructor arguments (must pickle).
        kwargs: keyword constructor arguments (must pickle).
        method_name: the method called as ``getattr(instance, method_name)(task)`` for every task.
    """

    cls: type
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    method_name: str = "__call__"

    def build(self) -> Any:
        """Instantiate the worker object (what a Ray actor does once in its constructor)."""
        return self.cls(*self.args, **self.kwargs)


@dataclass(frozen=True)
class TaskFailure:
    """A task that did not produce a result: ``index`` into the task list, error kind and message."""

    index: int
    kind: FailureKind
    error: str


@dataclass
class PoolReport:
    """What happened in one :func:`run_actor_pool` call."""

    n_tasks: int
    n_workers: int
    num_gpus: float
    n_succeeded: int = 0
    failures: list[TaskFailure] = field(default_factory=list)
    wall_seconds: float = 0.0
    driver_seconds: float = 0.0  # time spent in on_result callbacks (driver overhead)

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures


class PoolStartError(RuntimeError):
    """Every pool worker failed to build its state (e.g. a model folder that does not load)."""


class _PoolWorker:
    """The Ray actor body: builds the user's object once and forwards tasks to its method."""

    def __init__(self, spec: ActorSpec) -> None:
        self._target = spec.build()
        self._method = getattr(self._target, spec.method_name)

    def ready(self) -> int:
        """Return the worker process id once construction finished (used as a liveness probe)."""
        return os.getpid()

    def run(self, task: Any) -> Any:
        return self._method(task)


def _make_actors(
    spec: ActorSpec, n_workers: int, num_gpus: float, num_cpus: float, max_restarts: int, max_task_retries: int
) -> list[Any]:
    import ray

    remote_cls = ray.remote(_PoolWorker)
    options: dict[str, Any] = {
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "max_restarts": max_restarts,
        "max_task_retries": max_task_retries,
    }
    return [remote_cls.options(**options).remote(spec) for _ in range(n_workers)]


def _wait_ready(actors: list[Any], timeout: float | None, asked: str) -> list[Any]:
    """Wait until actors have built their state; drop those whose constructor failed (raise if all did).

    Raises:
        PoolStartError: no actor was ready within ``timeout`` seconds (the cluster never granted the resources, or
            the model takes longer to load), or every actor failed to build its state.
    """
    import ray

    probes = {actor.ready.remote(): actor for actor in actors}
    ready, waiting = ray.wait(list(probes), num_returns=len(probes), timeout=timeout)
    alive, errors = [], []
    for ref in ready:
        try:
            pid = ray.get(ref)
        except ray.exceptions.RayError as exc:
            errors.append(str(exc))
            ray.kill(probes[ref], no_restart=True)
            continue
        logger.debug("pool worker ready (pid %d)", pid)
        alive.append(probes[ref])
    for ref in waiting:
        ray.kill(probes[ref], no_restart=True)
    if waiting and not alive:
        raise PoolStartError(
            f"the pool did not start within {timeout:g} s: it asked for {asked}, and the cluster has "
            f"{describe_resources()}. Ask for fewer workers or GPUs (--workers, --num-gpus), add nodes, or raise "
            "--pool-start-timeout."
        )
    if not alive:
        raise PoolStartError(f"all {len(actors)} pool workers failed to start; first error:\n{errors[0]}")
    if errors or waiting:
        logger.error("%d of %d pool workers did not start: %s", len(errors) + len(waiting), len(actors),
                     errors[0] if errors else f"not ready within {timeout:g} s")  # fmt: skip
    return alive


class _Dispatcher(Generic[T, R]):
    """Keeps up to ``depth`` calls queued per actor and routes finished calls to ``on_result``."""

    def __init__(
        self,
        actors: list[Any],
        tasks: Sequence[T],
        on_result: Callable[[T, R], None],
        depth: int,
        task_timeout: float | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.actors = actors
        self.on_tick = on_tick
        self.task_timeout = task_timeout
        self.started: dict[Any, float] = {}  # ObjectRef -> when it was submitted (or its worker last restarted)
        self.tasks = tasks
        self.on_result = on_result
        self.depth = depth
        self.pending: deque[int] = deque(range(len(tasks)))
        self.in_flight: dict[Any, tuple[int, int]] = {}  # ObjectRef -> (task index, actor slot)
        self.load = [0] * len(actors)
        self.dead: set[int] = set()
        self.n_succeeded = 0
        self.failures: list[TaskFailure] = []
        self.driver_seconds = 0.0

    def submit_ready(self) -> None:
        for slot, actor in enumerate(self.actors):
            while slot not in self.dead and self.load[slot] < self.depth and self.pending:
                index = self.pending.popleft()
                ref = actor.run.remote(self.tasks[index])
                self.in_flight[ref] = (index, slot)
                self.started[ref] = time.monotonic()
                self.load[slot] += 1

    def step(self) -> None:
        import ray

        timeout = None if self.task_timeout is None else max(0.1, min(self.task_timeout, 5.0))
        if self.on_tick is not None:
            timeout = min(timeout or TICK_S, TICK_S)
        done, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=timeout)
        if self.on_tick is not None:
            self.on_tick()
        if not done:
            if self.task_timeout is not None:
                self.restart_overdue()
            return
        for ref in done:
            index, slot = self.in_flight.pop(ref)
            self.started.pop(ref, None)
            self.load[slot] -= 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                self._worker_lost(index, slot, exc)
            except ray.exceptions.RayTaskError as exc:
                logger.error("task %d raised: %s", index, exc)
                self.failures.append(TaskFailure(index, "task_error", str(exc.cause or exc)))
            else:
                started = time.perf_counter()
                self.on_result(self.tasks[index], result)
                self.driver_seconds += time.perf_counter() - started
                self.n_succeeded += 1

    def restart_overdue(self) -> None:
        """Kill (and so restart) the worker of every call running longer than ``task_timeout``.

        Ray re-runs the call on the restarted actor, counting it against ``max_task_retries``; a call that keeps
        hanging therefore ends as ``worker_lost`` once its retries are used up.
        """
        import ray

        now = time.monotonic()
        for ref, (index, slot) in list(self.in_flight.items()):
            if now - self.started[ref] > self.task_timeout:
                logger.warning("task %d ran over %.0f s: restarting pool worker %d", index, self.task_timeout, slot)
                ray.kill(self.actors[slot], no_restart=False)
                for other, (_, other_slot) in self.in_flight.items():
                    if other_slot == slot:
                        self.started[other] = now

    def _worker_lost(self, index: int, slot: int, exc: Exception) -> None:
        import ray

        logger.error("task %d lost its worker after all retries: %s", index, exc)
        self.failures.append(TaskFailure(index, "worker_lost", str(exc)))
        if isinstance(exc, ray.exceptions.ActorDiedError) and not self._alive(slot):
            logger.error("pool worker %d is dead for good; %d workers left", slot, len(self.actors) - len(self.dead))

    def _alive(self, slot: int) -> bool:
        import ray

        try:
            ray.get(self.actors[slot].ready.remote())
        except ray.exceptions.RayActorError:
            self.dead.add(slot)
            return False
        return True

    def fail_unrunnable(self) -> None:
        """Fail every pending task when no worker is left to run it."""
        while self.pending:
            self.failures.append(TaskFailure(self.pending.popleft(), "worker_lost", "no live pool worker left"))

    def run(self) -> None:
        while self.pending or self.in_flight:
            self.submit_ready()
            if not self.in_flight:
                self.fail_unrunnable()
                break
            self.step()


def run_actor_pool(
    actor_factory: ActorSpec,
    tasks: Sequence[T],
    *,
    n_workers: int,
    num_gpus: float,
    on_result: Callable[[T, R], None],
    max_task_retries: int = 3,
    max_restarts: int = -1,
    num_cpus: float = 1.0,
    max_in_flight_per_actor: int = 1,
    task_timeout: float | None = None,
    start_timeout: float | None = None,
    on_tick: Callable[[], None] | None = None,
) -> PoolReport:
    """Run ``tasks`` on ``n_workers`` Ray actors built from ``actor_factory``; call ``on_result`` in the driver.

    Ray must already be initialised (:func:`init_ray`). Actors are killed when the call returns.

    Args:
        actor_factory: how to build one worker and which method runs one task.
        tasks: task payloads (must pickle); each becomes one ``method(task)`` call on some actor.
        n_workers: number of actors (model replicas).
        num_gpus: GPUs per actor; 0 runs the actors on CPU.
        on_result: called in the driver as ``on_result(task, result)`` for every successful task, in completion
            order. Exceptions it raises propagate (after the actors are killed).
        max_task_retries: re-runs of a call whose actor died while it ran or was queued.
        max_restarts: restarts per actor after process death (-1: unbounded; preemptions in long jobs).
        num_cpus: CPUs per actor.
        max_in_flight_per_actor: calls queued on each actor. 1 (default) suits coarse tasks (shards): a task that
            kills its actor then cannot use up the retries of tasks queued behind it; raise it for tiny tasks.
        task_timeout: seconds a call may run before its worker is restarted and the call retried (None: no limit).
        start_timeout: seconds to wait for the actors to be ready (None: no limit).
        on_tick: called in the driver about every second while tasks run (progress polling).

    Returns:
        A :class:`PoolReport` with successes, failures (task index, kind, message) and timings.

    Raises:
        PoolStartError: no actor could build its state, or none was ready within ``start_timeout``.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    report = PoolReport(n_tasks=len(tasks), n_workers=n_workers, num_gpus=num_gpus)
    if not tasks:
        return report
    import ray

    started = time.perf_counter()
    actors = _make_actors(actor_factory, n_workers, num_gpus, num_cpus, max_restarts, max_task_retries)
    try:
        asked = f"{n_workers} worker(s) x ({num_gpus:g} GPU, {num_cpus:g} CPU)"
        actors = _wait_ready(actors, start_timeout, asked)
        depth = max(1, max_in_flight_per_actor)
        dispatcher: _Dispatcher[T, R] = _Dispatcher(actors, tasks, on_result, depth, task_timeout, on_tick)
        dispatcher.run()
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
    report.n_succeeded = dispatcher.n_succeeded
    report.failures = sorted(dispatcher.failures, key=lambda failure: failure.index)
    report.driver_seconds = dispatcher.driver_seconds
    report.wall_seconds = time.perf_counter() - started
    return report
