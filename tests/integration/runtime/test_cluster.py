"""ensure_ray on a Ray instance someone else started (the test session's): it joins it, and says so when that
instance's workers cannot have this process's S3 settings."""

from __future__ import annotations

import logging
import os

from physar_ray import storage
from physar_ray.config import RunConfig
from physar_ray.runtime.cluster import ensure_ray


def test_a_running_ray_without_the_settings_in_its_runtime_env_gets_a_warning(ray_local, caplog):
    caplog.set_level(logging.WARNING, logger="physar.ray")
    ensure_ray(RunConfig())  # nothing configured: nothing to miss
    assert not caplog.records
    storage.configure("http://127.0.0.1:9")
    ensure_ray(RunConfig())
    assert ray_local.is_initialized() and "PHYSAR_S3_ENDPOINT=http://127.0.0.1:9" in caplog.text


def test_capacity_is_the_clusters_maximum_when_it_can_grow(ray_local, caplog):
    from physar_ray.config import load
    from physar_ray.runtime.cluster import capacity

    now = ray_local.cluster_resources()
    assert capacity(load(None).run) == now
    grows = load(None, [f"run.max_cluster_resources=[CPU={now['CPU'] + 62:g},GPU=8]"]).run
    with caplog.at_level("INFO", logger="physar.ray"):
        most = capacity(grows)
    assert most["CPU"] == now["CPU"] + 62 and most["GPU"] == 8.0 and most["memory"] == now["memory"]
    assert f"the cluster has {now['CPU']:g} CPU, 0 GPU now and may grow to {now['CPU'] + 62:g} CPU, 8 GPU" in caplog.text


def test_workers_resolve_their_own_instance_beside_another_on_the_host(ray_local):
    """Ray Train's placement-group cleaner asks the state API at "auto"; beside a second instance on the host it
    must still reach the one it runs in (else it removed a live run's placement group, or crashed)."""
    import subprocess
    import sys

    from ray._private.services import canonicalize_bootstrap_address_or_die

    other = subprocess.Popen([sys.executable, "-c", "import ray, time; ray.init(address='local', num_cpus=0, "
                              "include_dashboard=False); print('up', flush=True); time.sleep(300)"],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    try:
        assert other.stdout.readline().strip() == "up"  # its GCS runs: "auto" now sees two instances on the host

        @ray_local.remote(num_cpus=0)
        def resolved() -> str:
            return canonicalize_bootstrap_address_or_die("auto")

        assert ray_local.get(resolved.remote()) == ray_local.get_runtime_context().gcs_address
    finally:
        other.terminate()
        other.wait(timeout=60)
