"""Shared fixtures for integration and e2e tests: a real local Ray instance and a real S3 endpoint on loopback.

The S3 server starts first and its endpoint and (dummy) credentials go into the environment,
so the Ray workers started afterwards inherit them, exactly as on a cluster node.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

FAKE_NODE_RESOURCES = {"learner": 8.0, "rollout": 8.0}
"""Custom resources of cluster/aws.yaml's GPU node types, declared on the test session's local Ray."""
PLACED = ["run.train_resource=learner", "run.infer_resource=rollout"]
"""Overrides that make every model worker ask for those resources."""


def actors_asking_for(resource: str) -> dict[str, dict[str, float]]:
    """actor id → required resources (placement-group suffixes stripped) of every actor, alive or dead, whose
    request includes ``resource``: a test compares the sets before and after a stage ran. Read from the GCS
    actor table (Ray's state API needs the dashboard, which the test session does not start)."""
    import ray._private.state as ray_state
    from ray.core.generated import gcs_pb2

    ray_state.state.actor_table(None)  # connects the accessor
    found = {}
    for raw in ray_state.state._global_state_accessor.get_actor_table(None, None):
        actor = gcs_pb2.ActorTableData.FromString(raw)
        asked: dict[str, float] = {}
        for key, amount in actor.required_resources.items():
            base = key.split("_group_")[0]  # CPU_group_0_<pg id> inside a placement group
            if base != "bundle":  # the group's own marker resource
                asked[base] = max(asked.get(base, 0.0), amount)
        if resource in asked:
            found[actor.actor_id.hex()] = asked
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """s3:// models are copied once per node into PHYSAR_MODEL_CACHE: a folder of the session's, set before any
    Ray worker starts (they inherit it), so tests neither share copies with a user's cache nor leave them there."""
    os.environ["PHYSAR_MODEL_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    yield endpoint
    server.stop()


@pytest.fixture()
def s3_bucket(s3_endpoint):
    """A fresh bucket on the loopback endpoint; yields ``s3://<bucket>``."""
    import boto3

    name = f"physar-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def ray_local(s3_endpoint):
    """One real local Ray instance (2 CPUs) for the whole session. It declares the custom resources of the
    repository's cluster files (FAKE_NODE_RESOURCES) as a GPU node would, so stages run with
    run.train_resource / run.infer_resource set can be placed here and their requests checked."""
    import ray

    from physar_ray.runtime.cluster import start_local

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # a fresh instance even when `ray start` left a cluster running on this host, whose workers know its address
    start_local({}, num_cpus=2, resources=FAKE_NODE_RESOURCES, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _reset_storage_settings():
    """Commands set the process-wide S3 endpoint from config; no test may leak it into the next."""
    yield
    from physar_ray import storage

    storage.configure()
