"""Shared fixtures for integration and e2e tests: a real local Ray instance and a real S3 endpoint on loopback.

The S3 server starts first and its endpoint and (dummy) credentials go into the environment,
so the Ray workers started afterwards inherit them, exactly as on a cluster node.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    """One real local Ray instance (2 CPUs) for the whole session."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # address="local": a fresh instance even when `ray start` left a cluster running on this host
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _reset_storage_settings():
    """Commands set the process-wide S3 endpoint from config; no test may leak it into the next."""
    yield
    from physar_ray import storage

    storage.configure()
