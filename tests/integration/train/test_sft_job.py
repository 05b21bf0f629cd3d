"""SFT through Ray Data + Ray Train + DeepSpeed on local Ray: learning, 2 workers, resume after a kill."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch

from physar_ray import storage
from physar_ray.config import load
from physar_ray.lm.model import load_pretrained
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.synthetic import moving_code_videos
from physar_ray.lm.vocab import VisualVocab, scratch_vocab
from physar_ray.tracking import local_mlflow_uri
from physar_ray.train.sft_job import run_sft, sequence_dataset
from tests.conftest import PLACED, actors_asking_for

SMALL = ["data.num_frames=8", "data.cond_frames=3", "data.contact_frames=[2, 5]", "tokenizer.num_tokens=4",
         "tokenizer.codebook_size=32", "sft.hidden_size=64", "sft.num_layers=2", "sft.num_heads=4",
         "sft.batch_size=16", "sft.lr=0.003", "sft.warmup_steps=20", "sft.log_every=10", "sft.num_cpus_per_worker=0.5"]


def write_tokens(uri: str, cfg, num_videos: int, shards: int = 2) -> np.ndarray:
    codes = moving_code_videos(num_videos, VideoLayout.from_config(cfg), seed=0)
    for i, part in enumerate(np.array_split(codes, shards)):
        column = pa.array([c.ravel().astype(np.int16) for c in part], type=pa.list_(pa.int16()))
        storage.write_table(storage.join(uri, f"tokens-{i:03d}.parquet"), pa.table({"tokens": column}))
    return codes


def unigram_entropy(codes: np.ndarray, cond_frames: int) -> float:
    p = np.bincount(codes[:, cond_frames:].ravel()) / codes[:, cond_frames:].size
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


def test_tiny_model_learns_well_below_unigram_through_ray_train_deepspeed_on_s3(ray_local, s3_bucket):
    cfg = load(None, [*SMALL, "sft.max_steps=150", "sft.checkpoint_every=50"])
    codes = write_tokens(f"{s3_bucket}/tokens", cfg, 512)
    summary = run_sft(cfg, f"{s3_bucket}/tokens", f"{s3_bucket}/run")
    baseline = unigram_entropy(codes, cfg.data.cond_frames)
    assert summary["metrics"]["sft/step"] == 150
    assert summary["metrics"]["sft/loss"] < 0.5 * baseline, (summary["metrics"], baseline)
    model, _ = load_pretrained(summary["model"])
    assert VisualVocab.from_model_config(model.config) == scratch_vocab(32)
    assert not any(f.endswith(".pt") for f in storage.list_files(summary["model"], suffix=""))


def test_two_workers_with_zero2(ray_local, tmp_path):
    cfg = load(None, [*SMALL, "sft.max_steps=12", "sft.num_workers=2", "sft.checkpoint_every=6",
                      "sft.num_cpus_per_worker=0.5", *PLACED])
    write_tokens(str(tmp_path / "tokens"), cfg, 128)
    before = actors_asking_for("learner")
    summary = run_sft(cfg, str(tmp_path / "tokens"), str(tmp_path / "run"))
    workers = [r for a, r in actors_asking_for("learner").items() if a not in before]
    assert workers == [{"CPU": 0.5, "learner": 1.0}] * 2  # both Ray Train workers on the training node type
    assert summary["metrics"]["sft/step"] == 12 and np.isfinite(summary["metrics"]["sft/loss"])
    trainer = json.loads((tmp_path / "run" / "model" / "trainer.json").read_text())
    assert trainer["tokens"] == 12 * 2 * 16 * (1 + 8 * 4)  # steps × workers × batch × sequence length
    # rank 0's reports (log steps 10 and 12) are the loss curve, in metrics.jsonl and in one MLflow run
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["sft/step"] for r in lines] == [10, 12] and all(np.isfinite(r["sft/loss"]) for r in lines)
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.tracking.MlflowClient(tracking_uri=local_mlflow_uri(str(tmp_path / "run")))
    (run,) = client.search_runs([client.get_experiment_by_name("physar").experiment_id])
    assert run.info.run_name == "sft" and run.info.status == "FINISHED" and run.data.params["sft.num_workers"] == "2"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "sft/loss")] == \
        [(r["sft/step"], pytest.approx(r["sft/loss"])) for r in lines]
    assert {"sft/tokens_per_s", "time/step_s", "system/peak_rss_mb"} <= set(run.data.metrics)
    assert list((tmp_path / "run" / "tensorboard" / "sft").glob("events.out.tfevents.*"))


def test_a_killed_run_resumes_from_its_checkpoint_and_trains_the_same_model_as_an_uninterrupted_one(
        ray_local, tmp_path):
    # run.faults kills the worker at its report of step 30, after the checkpoint of step 20; 128 videos are
    # 8 batches an epoch, so the resumed run starts inside epoch 2 (or 1) and must skip what it trained on
    base = [*SMALL, "sft.max_steps=60", "sft.checkpoint_every=10", "sft.max_failures=1"]
    write_tokens(str(tmp_path / "tokens"), load(None, base), 128)
    summary = run_sft(load(None, [*base, "run.faults=[sft.worker@30]"]), str(tmp_path / "tokens"),
                      str(tmp_path / "run"))
    trainer = json.loads((tmp_path / "run" / "model" / "trainer.json").read_text())
    assert (tmp_path / "run" / "faults" / "sft.worker[0]@30.fired").exists()
    assert summary["metrics"]["sft/step"] == 60 and trainer["step"] == 60
    assert trainer["resumed_at"] in ([10], [20])  # 10 when the controller had not registered step 20 yet
    assert (trainer["epoch"], trainer["batches"]) == (7, 4)  # 60 batches: epochs 0-6 whole, 4 of epoch 7

    clean = run_sft(load(None, base), str(tmp_path / "tokens"), str(tmp_path / "clean"))
    assert clean["metrics"]["sft/loss"] == summary["metrics"]["sft/loss"]
    resumed, uninterrupted = load_pretrained(summary["model"])[0].state_dict(), load_pretrained(clean["model"])[0].state_dict()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted), "the resumed run saw other samples"
    # the loss curve survives the kill: the checkpoint carried the lines before it, none is repeated
    curves = [[json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
              for name in ("run", "clean")]
    assert [r["sft/step"] for r in curves[0]] == [r["sft/step"] for r in curves[1]] == [10, 20, 30, 40, 50, 60]
    assert [r["sft/loss"] for r in curves[0]] == pytest.approx([r["sft/loss"] for r in curves[1]])


def test_an_empty_shard_and_a_frames_table_give_clear_errors(ray_local, tmp_path):
    cfg = load(None, [*SMALL, "sft.max_steps=2"])
    write_tokens(str(tmp_path / "tokens"), cfg, 4, shards=1)  # 4 videos < batch_size 16
    with pytest.raises(Exception, match="empty"):
        run_sft(cfg, str(tmp_path / "tokens"), str(tmp_path / "run"))
    storage.write_table(str(tmp_path / "frames" / "a.parquet"), pa.table({"frames": [b"x"]}))
    with pytest.raises(ValueError, match="has no 'tokens' column.*--tokenizer"):
        sequence_dataset(cfg, str(tmp_path / "frames"), scratch_vocab(32))


def test_videos_are_tokenized_by_the_ddt_actor_pool_on_their_way_to_the_trainer(ray_local, tmp_path):
    from physar_ray.data.generate import generate
    from tests.unit.grpo.grpo_helpers import build_assets, tiny_config

    cfg = tiny_config("data.num_videos.sft=12", "data.num_videos.rl=4", "data.splits=[sft,rl]", "sft.batch_size=4",
                      "sft.max_steps=3", "sft.warmup_steps=1", "sft.log_every=1", "sft.num_cpus_per_worker=0.5")
    _, tokenizer = build_assets(cfg, tmp_path)
    generate(cfg, str(tmp_path / "videos"))
    summary = run_sft(cfg, str(tmp_path / "videos"), str(tmp_path / "run"), tokenizer_uri=tokenizer)
    trainer = json.loads((tmp_path / "run" / "model" / "trainer.json").read_text())
    layout = VideoLayout.from_config(cfg)
    assert summary["metrics"]["sft/step"] == 3 and np.isfinite(summary["metrics"]["sft/loss"])
    assert trainer["tokens"] == 3 * 4 * layout.sequence_length(scratch_vocab(layout.codebook_size))


def test_two_zero3_workers_export_the_full_trained_model_and_a_second_run_resumes_from_their_partitions(
        ray_local, tmp_path):
    from physar_ray.lm.model import video_lm

    common = [*SMALL, "sft.num_workers=2", "sft.zero_stage=3", "sft.log_every=2"]
    first = load(None, [*common, "sft.max_steps=4"])
    write_tokens(str(tmp_path / "tokens"), first, 128)
    summary = run_sft(first, str(tmp_path / "tokens"), str(tmp_path / "run"))
    parts = {p.name for p in (tmp_path / "run").glob("sft/checkpoint_*/deepspeed/*")}
    assert {"zero_pp_rank_0_mp_rank_00_model_states.pt", "zero_pp_rank_1_mp_rank_00_model_states.pt"} <= parts
    initial = video_lm(first.sft, VideoLayout.from_config(first))[0].state_dict()
    trained = load_pretrained(summary["model"])[0].state_dict()  # gathered from both ranks' shards
    assert trained.keys() == initial.keys()
    assert all(trained[k].shape == initial[k].shape and not torch.equal(trained[k], initial[k]) for k in initial)

    # the same run name in the same storage: Ray Train hands the workers its latest checkpoint
    summary = run_sft(load(None, [*common, "sft.max_steps=6"]), str(tmp_path / "tokens"), str(tmp_path / "run"))
    trainer = json.loads((tmp_path / "run" / "model" / "trainer.json").read_text())
    assert summary["metrics"]["sft/step"] == 6 and trainer["resumed_at"] == [4], trainer
    resumed = load_pretrained(summary["model"])[0].state_dict()
    assert all(not torch.equal(resumed[k], trained[k]) for k in trained)
