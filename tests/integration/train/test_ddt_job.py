"""Tokenizer training through Ray Train on local Ray: learning, Parquet input on s3://, resume after a kill."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physar_ray.config import load
from physar_ray.storage import StorageError
from physar_ray.data.generate import generate
from physar_ray.tokenizer.ddt import DDTokenizer
from physar_ray.tracking import local_mlflow_uri
from physar_ray.train.ddt_job import run_ddt_training
from physar_ray.train.frames import simulator_frames
from tests.conftest import PLACED, actors_asking_for

RES = 32
SMALL = [f"data.resolution={RES}", "tokenizer.batch_size=8", "tokenizer.warmup_steps=2", "tokenizer.vq_warmup_steps=3",
         "tokenizer.num_cpus_per_worker=1"]


def _steps(out) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_ray_train_lowers_the_loss_and_writes_a_loadable_tokenizer(ray_local, tmp_path):
    cfg = load(None, [*SMALL, "tokenizer.max_steps=30", "tokenizer.vq_warmup_steps=30", "tokenizer.checkpoint_every=10",
                      *PLACED])
    before = actors_asking_for("learner")
    summary = run_ddt_training(cfg, str(tmp_path / "tokenizer"))
    workers = [r for a, r in actors_asking_for("learner").items() if a not in before]
    assert workers == [{"CPU": 1.0, "learner": 1.0}]  # the Ray Train worker asked for the training node type
    assert summary["step"] == 30 and _steps(tmp_path / "tokenizer") == list(range(1, 31))
    trained = DDTokenizer.load(tmp_path / "tokenizer", expect=cfg.tokenizer, resolution=RES)
    torch.manual_seed(cfg.tokenizer.seed)
    untrained = DDTokenizer(cfg.tokenizer, RES).eval()
    held_out = torch.from_numpy(next(simulator_frames(load(None, [f"data.resolution={RES}", "data.seed=7"]).data, 32)))
    with torch.no_grad():
        before, after = untrained.loss(held_out)[1]["recon_mse"], trained.loss(held_out)[1]["recon_mse"]
    assert after < 0.7 * before, (float(before), float(after))
    assert json.loads((tmp_path / "tokenizer" / "train_summary.json").read_text())["data"] == "simulator"
    mlflow = pytest.importorskip("mlflow")  # rank 0 tracked every step into the local store beside the outputs
    client = mlflow.tracking.MlflowClient(tracking_uri=local_mlflow_uri(str(tmp_path / "tokenizer")))
    (run,) = client.search_runs([client.get_experiment_by_name("physar").experiment_id])
    assert run.info.run_name == "tokenizer" and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ddt/recon_mse")] == list(range(1, 31))


def test_frames_from_parquet_on_s3(ray_local, s3_bucket):
    from physar_ray import storage

    cfg = load(None, [*SMALL, "tokenizer.max_steps=4", "data.num_videos.sft=8", "data.num_videos.rl=0",
                      "data.num_videos.eval_iid=0", "data.num_videos.eval_ood=0", "data.scenarios=[uniform]"])
    generate(cfg, f"{s3_bucket}/data")
    summary = run_ddt_training(cfg, f"{s3_bucket}/tokenizer", f"{s3_bucket}/data")
    assert summary["step"] == 4 and summary["data"] == f"{s3_bucket}/data"
    tok = DDTokenizer.load(f"{s3_bucket}/tokenizer", resolution=RES)
    assert tok.encode(np.zeros((1, RES, RES, 3), np.uint8)).shape == (1, cfg.tokenizer.num_tokens)
    assert storage.exists(f"{s3_bucket}/tokenizer/metrics.jsonl")


def test_bad_data_is_refused_before_training(ray_local, tmp_path):
    cfg = load(None, [*SMALL, "data.num_videos.sft=1", "data.num_videos.rl=0", "data.num_videos.eval_iid=0",
                      "data.num_videos.eval_ood=0", "data.scenarios=[uniform]"])
    generate(cfg, str(tmp_path / "data"))
    other = load(None, [*SMALL, "data.resolution=64"])
    with pytest.raises(ValueError, match="holds 32 px videos but data.resolution=64"):
        run_ddt_training(other, str(tmp_path / "tok"), str(tmp_path / "data"))
    with pytest.raises(StorageError, match="nothing does not exist"):
        run_ddt_training(cfg, str(tmp_path / "tok"), str(tmp_path / "nothing"))
    greedy = load(None, [*SMALL, "tokenizer.num_cpus_per_worker=2"])
    with pytest.raises(ValueError, match="lower tokenizer.num_cpus_per_worker"):
        run_ddt_training(greedy, str(tmp_path / "tok"), str(tmp_path / "data"))


def test_a_killed_worker_resumes_from_the_checkpoint_step(ray_local, tmp_path):
    # run.faults kills rank 0's process at step 50, after the checkpoint of step 40 was reported
    cfg = load(None, [*SMALL, "tokenizer.max_steps=60", "tokenizer.checkpoint_every=20", "tokenizer.max_failures=1",
                      "run.faults=[tokenizer.worker@50]"])
    out = tmp_path / "tokenizer"
    summary = run_ddt_training(cfg, str(out))
    assert (out / "faults" / "tokenizer.worker[0]@50.fired").read_text() == "fired at step 50\n"
    resumed = summary["metrics"]["ddt/resumed_from"]
    assert resumed in (20, 40), summary["metrics"]  # 20 when the controller had not registered step 40 yet
    assert summary["step"] == 60 and _steps(out) == list(range(1, 61))  # the log continues from the checkpoint's copy
    elapsed = [json.loads(line)["time/elapsed_s"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(b > a for a, b in zip(elapsed, elapsed[1:]))  # the time budget's clock resumes, not restarts
    assert summary["train_s"] == elapsed[-1]
