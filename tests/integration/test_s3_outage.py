"""An S3 endpoint that goes down: requests retry with backoff (pyarrow's AWS standard retry strategy,
storage.s3_attempts), so a short outage stalls a write that then lands; one that stays down ends with one
clear error."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from physar_ray import storage
from physar_ray.config import load
from tests.conftest import _free_port


@pytest.fixture()
def own_endpoint(s3_endpoint):
    """A second moto server (the session's keeps serving the other tests) that this test stops and restarts;
    moto keeps its buckets in the process, so a restarted server still has them."""
    port = _free_port()
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)]
    servers[0].start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="outage")
    yield endpoint, servers
    servers[-1].stop()
    storage.configure()


def test_a_write_during_a_short_outage_waits_for_the_endpoint_and_lands(own_endpoint):
    endpoint, servers = own_endpoint
    load(None, [f"storage.s3_endpoint={endpoint}", "storage.s3_attempts=12"]).storage.apply()
    storage.write_bytes("s3://outage/before.bin", b"before")
    servers[0].stop()

    def restart() -> None:
        servers.append(ThreadedMotoServer(ip_address="127.0.0.1", port=int(endpoint.rsplit(":", 1)[1]),
                                          verbose=False))
        servers[-1].start()

    timer = threading.Timer(3.0, restart)
    start = time.monotonic()
    timer.start()
    storage.write_bytes("s3://outage/during.bin", b"during")
    stalled = time.monotonic() - start
    timer.join()
    assert stalled >= 2.5, f"the write returned after {stalled:.1f} s, before the endpoint was back"
    assert storage.read_bytes("s3://outage/during.bin") == b"during"
    assert storage.read_bytes("s3://outage/before.bin") == b"before"
    assert storage.list_files("s3://outage", suffix="") == ["s3://outage/before.bin", "s3://outage/during.bin"]


def test_an_endpoint_that_stays_down_ends_with_one_clear_error(s3_endpoint):
    down = f"http://127.0.0.1:{_free_port()}"
    load(None, [f"storage.s3_endpoint={down}", "storage.s3_attempts=2"]).storage.apply()
    try:
        with pytest.raises(storage.StorageError, match=r"cannot access s3://outage/x.bin: .*check the bucket exists"):
            storage.write_bytes("s3://outage/x.bin", b"x")
    finally:
        storage.configure()
    with pytest.raises(Exception, match="storage.s3_attempts=0 must be >= 1"):
        load(None, ["storage.s3_attempts=0"])
