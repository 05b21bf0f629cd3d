"""Joining or starting Ray for a command (a cluster address, RAY_ADDRESS, or a local instance), the S3
settings every process of the job shares, and whether a set of bundles fits the cluster.

S3 settings are set once per process: each entry (a CLI command, a job) calls
``cfg.storage.apply()``, then :func:`ensure_ray` puts them into the job's ``runtime_env`` as
``PHYSAR_S3_ENDPOINT`` / ``PHYSAR_S3_REGION``, which ``storage`` reads in every Ray worker and actor
of the job (Ray Data tasks, Ray Train workers, GRPO actors), so no actor takes them as an argument.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from physar_ray import storage
from physar_ray.config import RunConfig

log = logging.getLogger("physar.ray")


def job_runtime_env() -> dict[str, dict[str, str]]:
    """The runtime_env that gives every worker of the job this process's S3 settings ({} when unset)."""
    env = storage.s3_env_vars()
    return {"env_vars": env} if env else {}


def ensure_ray(run: RunConfig) -> None:
    """Connect once per process. A laptop run starts a local instance by itself.

    A local instance serves only this process, so token auth (on by default since Ray 2.60)
    is turned off for it unless the user set RAY_AUTH_MODE; a cluster keeps its own setting.
    Call ``cfg.storage.apply()`` first: the job's runtime_env carries its S3 settings.
    """
    import ray

    runtime_env = job_runtime_env()
    if ray.is_initialized():
        _check_workers_see(runtime_env)
        return
    address = run.ray_address or os.environ.get("RAY_ADDRESS", "")
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address, **({"runtime_env": runtime_env} if runtime_env else {}))
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    context = start_local(runtime_env, num_cpus=run.num_cpus or None, include_dashboard=run.dashboard, log_to_driver=True)
    dashboard = f", dashboard at http://{context.dashboard_url}" if run.dashboard and context.dashboard_url else ""
    log.info("started a local Ray instance with %s CPUs%s", ray.cluster_resources().get("CPU"), dashboard)


def start_local(runtime_env: dict, **init: object) -> object:
    """``ray.init`` of a new local instance (``init``: its other arguments) whose processes know its address.

    Ray Train's placement-group cleaner asks the state API whether the run's controller lives, at the
    address "auto": the last cluster `ray start` recorded on this host, else any running one. Beside
    another Ray instance on the same host (a second run, a test session, a `ray start` head) it asked
    the other instance, was told the controller does not exist, and removed the live run's placement
    group (measured: an SFT stage killed mid-run, "Destroying worker since its placement group was
    removed"). So the instance starts on a GCS port chosen here (``RAY_GCS_SERVER_PORT``) and every
    worker of the job gets ``RAY_ADDRESS`` naming it, through the job's runtime_env.
    """
    import socket

    import ray

    with socket.socket() as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    env = {**runtime_env.get("env_vars", {}), "RAY_ADDRESS": f"{ray.util.get_node_ip_address()}:{port}"}
    before = os.environ.get("RAY_GCS_SERVER_PORT")
    os.environ["RAY_GCS_SERVER_PORT"] = str(port)
    try:
        return ray.init(address="local", runtime_env={**runtime_env, "env_vars": env}, **init)
    finally:
        if before is None:
            del os.environ["RAY_GCS_SERVER_PORT"]
        else:
            os.environ["RAY_GCS_SERVER_PORT"] = before


def _check_workers_see(runtime_env: dict[str, dict[str, str]]) -> None:
    """Ray was started by the caller: its workers get the S3 settings only if the job's runtime_env has them."""
    import ray

    wanted = runtime_env.get("env_vars", {})
    have = (ray.get_runtime_context().runtime_env or {}).get("env_vars") or {}
    missing = {k: v for k, v in wanted.items() if have.get(k) != v and os.environ.get(k) != v}
    if missing:
        log.warning("Ray was started before the S3 settings were known, so its workers use the AWS environment "
                    "instead of %s: start Ray with runtime_env=runtime.job_runtime_env() or export them first",
                    ", ".join(f"{k}={v}" for k, v in missing.items()))


def capacity(run: RunConfig) -> dict[str, float]:
    """The resources a run may count on: run.max_cluster_resources on an autoscaling cluster (logged when the
    cluster is smaller now, so a run that waits for nodes says so), else what the cluster has now."""
    import ray

    now = ray.cluster_resources()
    most = run.max_resources()
    if not most:
        return now
    short = {k: (v, now.get(k, 0.0)) for k, v in most.items() if now.get(k, 0.0) < v}
    if short:
        log.info("the cluster has %s now and may grow to %s (run.max_cluster_resources): actors wait for the "
                 "autoscaler to add nodes", ", ".join(f"{now_:g} {k}" for k, (_, now_) in short.items()),
                 ", ".join(f"{most_:g} {k}" for k, (most_, _) in short.items()))
    return {**now, **most}


def shortfall(bundles: Sequence[dict[str, float]], available: dict[str, float]) -> list[tuple[str, float, float]]:
    """(resource, needed, available) for every resource that ``bundles`` together ask for more of than
    the cluster has (custom resources included): they cannot all be placed at once."""
    need: dict[str, float] = {}
    for bundle in bundles:
        for key, amount in bundle.items():
            need[key] = need.get(key, 0.0) + amount
    return [(key, total, available.get(key, 0.0)) for key, total in need.items()
            if total > available.get(key, 0.0) + 1e-9]
