"""SFT through Ray Data + Ray Train + DeepSpeed on local Ray: learning, 2 workers, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from physar_ray import storage
from physar_ray.config import load
from physar_ray.lm.model import load_pretrained
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.synthetic import moving_code_videos
from physar_ray.lm.vocab import VisualVocab, scratch_vocab
from physar_ray.train.sft_job import run_sft, sequence_dataset

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
                      "sft.num_cpus_per_worker=0.5"])
    write_tokens(str(tmp_path / "tokens"), cfg, 128)
    summary = run_sft(cfg, str(tmp_path / "tokens"), str(tmp_path / "run"))
    assert summary["metrics"]["sft/step"] == 12 and np.isfinite(summary["metrics"]["sft/loss"])
    trainer = json.loads((tmp_path / "run" / "model" / "trainer.json").read_text())
    assert trainer["tokens"] == 12 * 2 * 16 * (1 + 8 * 4)  # steps × workers × batch × sequence length


def _train_workers() -> list:
    """Live Ray Train worker processes of this test's Ray instance (descendants of its raylet)."""
    import psutil
    import ray

    raylet = ray._private.worker.global_worker.node.all_processes["raylet"][0].process.pid
    return [p for p in psutil.Process(raylet).children(recursive=True)
            if "RayTrainWorker" in " ".join(p.cmdline())]


def _kill_a_worker_after_checkpoint(run_dir, step: int, killed: list, errors: list) -> None:
    """Wait until a checkpoint of ``step`` is in storage, then SIGKILL one Ray Train worker process.

    A checkpoint's files land before the controller registers it, so the test waits for the one
    after the checkpoint it expects the restart to use.
    """
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            done = [p for p in run_dir.glob("sft/checkpoint_*/trainer.json")
                    if json.loads(p.read_text())["step"] >= step]
            workers = _train_workers() if done else []
            if workers:
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(workers[0].pid)
                return
            time.sleep(0.2)
    except Exception as exc:  # surfaced by the test's assertion
        errors.append(repr(exc))


def test_a_killed_run_resumes_from_its_checkpoint_and_reaches_the_same_step(ray_local, tmp_path):
    cfg = load(None, [*SMALL, "sft.max_steps=60", "sft.checkpoint_every=10", "sft.max_failures=1"])
    write_tokens(str(tmp_path / "tokens"), cfg, 128)
    killed: list[int] = []
    errors: list[str] = []
    killer = threading.Thread(target=_kill_a_worker_after_checkpoint, args=(tmp_path / "run", 20, killed, errors))
    killer.start()
    summary = run_sft(cfg, str(tmp_path / "tokens"), str(tmp_path / "run"))
    killer.join()
    trainer = json.loads((tmp_path / "run" / "model" / "trainer.json").read_text())
    assert killed and not errors, errors
    assert summary["metrics"]["sft/step"] == 60 and trainer["step"] == 60
    assert len(trainer["resumed_at"]) == 1 and 10 <= trainer["resumed_at"][0] < 60


def test_an_empty_shard_and_a_frames_table_give_clear_errors(ray_local, tmp_path):
    cfg = load(None, [*SMALL, "sft.max_steps=2"])
    write_tokens(str(tmp_path / "tokens"), cfg, 4, shards=1)  # 4 videos < batch_size 16
    with pytest.raises(Exception, match="empty"):
        run_sft(cfg, str(tmp_path / "tokens"), str(tmp_path / "run"))
    storage.write_table(str(tmp_path / "frames" / "a.parquet"), pa.table({"frames": [b"x"]}))
    with pytest.raises(ValueError, match="has no 'tokens' column"):
        sequence_dataset(str(tmp_path / "frames"), VideoLayout.from_config(cfg), scratch_vocab(32), 0.25)
