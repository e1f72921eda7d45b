"""pipelines.ray_pool on a real local Ray: every task once, data errors reported, dead workers retried."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import ray.cloudpickle

from pipelines.engine.pool import ActorSpec, PoolStartError, resolve_workers, run_actor_pool


# Ray workers cannot import this test module by name: ship its classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.slow


class Recorder:
    """A pool worker that logs every construction and every task to files in ``folder``."""

    def __init__(self, folder: str, fail: bool = False) -> None:
        if fail:
            raise ValueError("cannot load model folder /nonexistent")
        self.folder = Path(folder)
        with open(self.folder / "inits", "a") as fh:
            fh.write(f"{os.getpid()}\n")

    def work(self, task: int) -> tuple[int, int]:
        (self.folder / "busy_pid").write_text(str(os.getpid()))
        time.sleep(0.3)
        if task == 5:
            raise RuntimeError("bad row 5")
        if task == 99:
            os._exit(1)  # a poison task: kills its worker every time
        if task == 77 and not (self.folder / "hung_77").exists():
            (self.folder / "hung_77").write_text(str(os.getpid()))
            time.sleep(600)  # hangs on its first attempt only
        with open(self.folder / "done", "a") as fh:
            fh.write(f"{task}\n")
        return task, task * task


def _spec(folder: Path, **kwargs: object) -> ActorSpec:
    return ActorSpec(Recorder, (str(folder),), dict(kwargs), "work")


def test_actor_spec_builds_plain_object(tmp_path: Path) -> None:
    worker = _spec(tmp_path).build()
    assert worker.work(3) == (3, 9)
    assert (tmp_path / "inits").read_text().strip() == str(os.getpid())


def test_pool_runs_tasks_and_reports_data_errors(ray_local: None, tmp_path: Path) -> None:
    got: dict[int, int] = {}
    report = run_actor_pool(
        _spec(tmp_path),
        list(range(8)),
        n_workers=2,
        num_gpus=0,
        on_result=lambda task, res: got.__setitem__(task, res[1]),
    )
    assert got == {t: t * t for t in range(8) if t != 5}
    assert report.n_succeeded == 7 and report.n_tasks == 8
    assert [(f.index, f.kind) for f in report.failures] == [(5, "task_error")]
    assert "bad row 5" in report.failures[0].error
    assert len((tmp_path / "inits").read_text().split()) == 2  # state built once per actor
    assert report.wall_seconds > 0 and report.driver_seconds >= 0


def test_pool_retries_tasks_of_a_killed_worker(ray_local: None, tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_busy_worker() -> None:
        busy = tmp_path / "busy_pid"
        while not busy.exists():
            time.sleep(0.05)
        pid = int(busy.read_text())
        killed.append(pid)
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_busy_worker)
    killer.start()
    got: list[int] = []
    tasks = [t for t in range(10) if t != 5]
    report = run_actor_pool(
        _spec(tmp_path), tasks, n_workers=1, num_gpus=0, on_result=lambda task, res: got.append(task)
    )
    killer.join()
    assert killed, "the worker was never killed"
    assert report.ok and sorted(got) == tasks  # no task lost, each result delivered once
    inits = (tmp_path / "inits").read_text().split()
    assert len(inits) == 2 and str(killed[0]) == inits[0]  # the worker was restarted once, rebuilding its state


def test_poison_task_fails_after_retries_others_finish(ray_local: None, tmp_path: Path) -> None:
    got: list[int] = []
    report = run_actor_pool(
        _spec(tmp_path),
        [1, 99, 2, 3],
        n_workers=1,
        num_gpus=0,
        max_task_retries=1,
        on_result=lambda task, res: got.append(task),
    )
    assert sorted(got) == [1, 2, 3]
    assert [(f.index, f.kind) for f in report.failures] == [(1, "worker_lost")]


def test_pool_start_error_names_the_cause(ray_local: None, tmp_path: Path) -> None:
    with pytest.raises(PoolStartError, match="cannot load model folder"):
        run_actor_pool(_spec(tmp_path, fail=True), [1, 2], n_workers=1, num_gpus=0, on_result=lambda t, r: None)


def test_resolve_workers_falls_back_to_cpu(ray_local: None) -> None:
    assert resolve_workers(None, None) == (1, 0.0)  # the test cluster has no GPU
    assert resolve_workers(3, 0) == (3, 0.0)
    assert resolve_workers(2, 0.5) == (2, 0.5)  # asked explicitly: kept (warns that the cluster lacks GPUs)


def test_hung_task_is_restarted_after_its_timeout(ray_local: None, tmp_path: Path) -> None:
    got: dict[int, int] = {}
    started = time.perf_counter()
    report = run_actor_pool(
        _spec(tmp_path),
        [76, 77, 78],
        n_workers=1,
        num_gpus=0,
        on_result=lambda task, res: got.__setitem__(task, res[1]),
        task_timeout=3.0,
    )
    assert got == {76: 76 * 76, 77: 77 * 77, 78: 78 * 78}, report.failures
    assert report.failures == []
    assert (tmp_path / "hung_77").exists()  # the first attempt did hang
    assert len((tmp_path / "inits").read_text().split()) == 2  # the worker was restarted once
    assert time.perf_counter() - started < 120


def test_pool_that_never_gets_its_gpus_fails_after_the_start_timeout(ray_local: None, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(PoolStartError) as info:
        run_actor_pool(_spec(tmp_path), [1, 2], n_workers=2, num_gpus=1, on_result=lambda t, r: None, start_timeout=2)
    assert time.monotonic() - started < 30
    message = str(info.value)
    assert "did not start within 2 s" in message and "2 worker(s) x (1 GPU, 1 CPU)" in message
    assert "GPU 0/0" in message and "--pool-start-timeout" in message
