"""S3 settings once per process: configured in the entry process, read from the job's runtime_env in workers."""

from physar_ray import storage
from physar_ray.config import load
from physar_ray.runtime.cluster import job_runtime_env, shortfall


def test_configured_settings_travel_in_the_runtime_env_and_a_worker_reads_them_back(monkeypatch):
    monkeypatch.delenv("PHYSAR_S3_ENDPOINT", raising=False)
    monkeypatch.delenv("PHYSAR_S3_REGION", raising=False)
    assert job_runtime_env() == {}  # nothing set: workers use the AWS environment, as the driver does
    load(None, ["storage.s3_endpoint=http://127.0.0.1:9000"]).storage.apply()
    env = job_runtime_env()
    assert env == {"env_vars": {"PHYSAR_S3_ENDPOINT": "http://127.0.0.1:9000"}}

    storage.configure()  # a worker process: never configured, its environment holds the job's env_vars
    for key, value in env["env_vars"].items():
        monkeypatch.setenv(key, value)
    assert storage.s3_settings() == {"endpoint": "http://127.0.0.1:9000", "region": ""}
    storage.configure("http://other:1", "eu-west-1")  # an explicit configure wins over the environment
    assert storage.s3_settings() == {"endpoint": "http://other:1", "region": "eu-west-1"}


def test_shortfall_sums_the_bundles_per_resource():
    bundles = [{"CPU": 1.0, "GPU": 1.0, "learner": 1.0}] * 2 + [{"CPU": 0.25}] * 2
    assert shortfall(bundles, {"CPU": 3.0, "GPU": 2.0, "learner": 2.0}) == []
    assert shortfall(bundles, {"CPU": 2.0, "GPU": 2.0}) == [("CPU", 2.5, 2.0), ("learner", 2.0, 0.0)]
