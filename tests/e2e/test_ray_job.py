"""`ray job submit` of physar commands to a real local Ray head with its job server on loopback."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from physar_ray import storage
from tests.e2e.short_run import SHORT_RUN

REPO = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(s3_endpoint):
    """`ray start --head --block` in its own process group; stopped by signalling that group only."""
    gcs, dashboard = _free_port(), _free_port()
    # Agents get their own ports: the session's ray_local instance already holds the defaults
    # (52365 and friends), and a head whose job agent cannot bind never accepts a job.
    agent_ports = [f"--{flag}={_free_port()}" for flag in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
        "runtime-env-agent-port", "ray-client-server-port")]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": ""}
    head = subprocess.Popen(
        [f"{BIN}/ray", "start", "--head", "--block", f"--port={gcs}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard}", "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats",
         *agent_ports],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{address}/api/version", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(head.pid, signal.SIGTERM)
        pytest.fail("the Ray head's job server did not come up within 120 s")
    yield address, env
    os.killpg(head.pid, signal.SIGTERM)
    head.wait(timeout=60)


def submit(ray_head, *command: str) -> tuple[str, str]:
    """`ray job submit --no-wait` (asked again while the head's job agent is still starting, 60 s at
    most), then poll the job's status until it ends: (final status, the job's logs). The status comes
    from the job server, not from the tail of a followed log, which can drop lines under load."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    address, env = ray_head
    job_id = f"physar-test-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            [f"{BIN}/ray", "job", "submit", "--address", address, "--working-dir", str(REPO), "--no-wait",
             "--submission-id", job_id, "--runtime-env", str(REPO / "jobs" / "runtime_env.yaml"), "--", *command],
            env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
        if result.returncode == 0 or "No available agent" not in result.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client = JobSubmissionClient(address)
    deadline = time.monotonic() + 900
    while (status := client.get_job_status(job_id)) not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        assert time.monotonic() < deadline, f"job {job_id} still {status} after 900 s"
        time.sleep(2)
    return str(status), client.get_job_logs(job_id)


TINY = ["--preset", "tiny", *SHORT_RUN]


# e2e_long (`make test-long`, CI runs it after `make test`): several minutes, and every path it takes has a
# faster cover in `make test`: the pipeline in test_cli.py's run test, each stage's s3:// reads and writes in
# tests/integration, and `ray job submit` (working dir, runtime_env.yaml, status polling) in the failing job below.
@pytest.mark.e2e_long
def test_pipeline_job_succeeds_and_writes_to_s3(ray_head, s3_bucket):
    out = f"{s3_bucket}/runs/job"
    status, logs = submit(ray_head, "python", "-m", "physar_ray.cli", "run", *TINY, "--out", out)
    assert status == "SUCCEEDED", logs[-6000:]
    assert storage.read_json(f"{out}/summary.json")["preset"] == "tiny"
    assert storage.read_json(f"{out}/data/manifest.json")["counts"]["collision"]["sft"] == 4
    assert storage.exists(f"{out}/samples/collision.png")
    assert "stage eval_grpo: done" in storage.read_text(f"{out}/run.log")  # uploaded from the driver's local file
    assert storage.exists(f"{out}/tokenizer/model.safetensors") and storage.exists(f"{out}/eval/recon/metrics.json")
    assert storage.exists(f"{out}/grpo/model/model.safetensors") and storage.exists(f"{out}/report.md")


def test_failing_job_reports_failure(ray_head, tmp_path):
    status, logs = submit(ray_head, "python", "-m", "physar_ray.cli", "data", "generate", "--out", str(tmp_path),
                          "data.resolution=8")
    assert status == "FAILED"
    assert "data.resolution=8 is too small" in logs
