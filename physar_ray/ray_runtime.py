"""Joining or starting Ray for a command: a cluster address, RAY_ADDRESS, or a local instance."""

from __future__ import annotations

import logging
import os

from physar_ray.config import RunConfig

log = logging.getLogger("physar.ray")


def ensure_ray(run: RunConfig) -> None:
    """Connect once per process. A laptop run starts a local instance by itself.

    A local instance serves only this process, so token auth (on by default since Ray 2.60)
    is turned off for it unless the user set RAY_AUTH_MODE; a cluster keeps its own setting.
    """
    import ray

    if ray.is_initialized():
        return
    address = run.ray_address or os.environ.get("RAY_ADDRESS", "")
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address)
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=run.num_cpus or None, include_dashboard=False, log_to_driver=True)
    log.info("started a local Ray instance with %s CPUs", ray.cluster_resources().get("CPU"))
