"""The Ray cluster a job runs on: connect to it (or start an embedded one), read its resources, size the pool.

Like ``pool.py``, this module imports ``ray`` only inside functions.
"""

from __future__ import annotations

import logging
import os


logger = logging.getLogger(__name__)


def init_ray(address: str | None = None, *, num_cpus: int | None = None, namespace: str | None = None) -> None:
    """Connect to a Ray cluster, or start an embedded local one.

    Args:
        address: cluster address (``ray://host:10001``, ``host:6379`` or ``"auto"``). When None, ``RAY_ADDRESS``
            is used if set (``ray job submit`` sets it for the entry point); otherwise a local Ray is started.
        num_cpus: CPUs for an embedded local Ray (ignored when connecting).
        namespace: Ray namespace (named pool actors live in it).
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        logger.info("connecting to Ray cluster at %s", address)
        ray.init(address=address, namespace=namespace, logging_level=logging.WARNING)
    else:
        logger.info("starting embedded local Ray (num_cpus=%s)", num_cpus)
        # Ray turns token auth on for a new local cluster (good) and says so in a banner on every job (noise).
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        # address="local": always a private cluster, never a stray `ray start` cluster found on this machine.
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            namespace=namespace,
            logging_level=logging.WARNING,
        )


def cluster_gpus() -> float:
    """Number of GPUs the connected Ray cluster reports (0.0 when none or Ray not initialised)."""
    import ray

    if not ray.is_initialized():
        return 0.0
    return float(ray.cluster_resources().get("GPU", 0.0))


def resolve_workers(n_workers: int | None, num_gpus: float | None) -> tuple[int, float]:
    """Fill in automatic pool sizes from the cluster: one actor per GPU, or one CPU actor without GPUs.

    Args:
        n_workers: requested number of actors, or None for automatic.
        num_gpus: GPUs per actor, or None for automatic (1 when the cluster has GPUs, else 0 = CPU fallback).

    Returns:
        (n_workers, num_gpus) both concrete.
    """
    total = cluster_gpus()
    if num_gpus is None:
        num_gpus = 1.0 if total >= 1 else 0.0
    if n_workers is None:
        n_workers = max(1, int(total // num_gpus)) if num_gpus > 0 else 1
    if num_gpus > 0 and total < n_workers * num_gpus:
        logger.warning(
            "pool asks for %d workers x %.2g GPU but the cluster has %.2g GPUs now; actors wait for an autoscaler",
            n_workers,
            num_gpus,
            total,
        )
    return n_workers, float(num_gpus)


def describe_resources() -> str:
    """What the cluster has, for a pool that could not start: ``GPU 0/0, CPU 2/2 (free/total)``."""
    import ray

    total, free = ray.cluster_resources(), ray.available_resources()
    names = ("GPU", "CPU")
    return ", ".join(f"{name} {free.get(name, 0):g}/{total.get(name, 0):g}" for name in names) + " (free/total)"
