"""DDT tokenizer training on Ray: a ``TorchTrainer`` whose workers each run :func:`train_ddt`.

Frames come from the simulator (each rank its own batches, a pure function of the seed, so
resuming at any step is exact) or, with ``data_uri``, from a video Parquet dataset streamed to
the ranks with ``get_dataset_shard`` and decoded with ``records.table_to_records``. Gradients
are averaged over the ranks (gloo on CPU, NCCL + bf16 autocast with ``tokenizer.use_gpu``).

Checkpoints go to Ray Train storage under ``<out>/train-<hash>/`` (local or s3://); the hash
covers the tokenizer and data config, so rerunning the same command resumes from its latest
checkpoint (with the elapsed seconds, so the time budget is not restarted), a failed worker
group restarts from it (``tokenizer.max_failures``), and a changed config starts afresh.
The final tokenizer is saved at ``<out>`` itself (``DDTokenizer.load(out)``), beside
``metrics.jsonl`` (one line per step) and ``train_summary.json``. Rank 0 also sends every step's metrics to
the experiment tracking of ``run.tracking`` (physar_ray/tracking.py): an MLflow run and TensorBoard events
named ``tokenizer``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from physar_ray import resources, storage
from physar_ray.faults import FaultInjector
from physar_ray.config import Config, DataConfig, TrackingConfig, from_dict, to_dict
from physar_ray.records import check_schema, table_to_records
from physar_ray.tracking import Tracker, tracking_root
from physar_ray.train.frames import simulator_frames

log = logging.getLogger("physar.train.ddt")

VIDEOS_PER_BATCH = 8
"""Videos whose frames make one batch, as in ``simulator_frames``."""


def rank_frames(cfg: DataConfig, batch_size: int, rank: int, world: int) -> Callable[[int], Iterator[np.ndarray]]:
    """Rank ``rank``'s simulator batches: its step s is global batch s·world + rank (world 1: the
    same stream as ``simulator_frames``)."""
    def batches(start: int) -> Iterator[np.ndarray]:
        for step in itertools.count(start):
            yield next(simulator_frames(cfg, batch_size, step * world + rank, videos_per_batch=VIDEOS_PER_BATCH))
    return batches


def shard_frames(shard: Any, batch_size: int, seed: int, rank: int) -> Callable[[int], Iterator[np.ndarray]]:
    """Endless uint8 [B, H, W, 3] batches from a dataset shard of video rows: random frames of
    ``VIDEOS_PER_BATCH`` videos per batch, videos shuffled locally, epoch after epoch.

    A resumed run starts a fresh pass over the shard (Ray Data streams cannot seek).
    """
    def batches(start: int) -> Iterator[np.ndarray]:
        step = start
        for epoch in itertools.count():
            empty = True
            for table in shard.iter_batches(batch_size=VIDEOS_PER_BATCH, batch_format="pyarrow", drop_last=True,
                                            local_shuffle_buffer_size=8 * VIDEOS_PER_BATCH,
                                            local_shuffle_seed=seed + 1000 * epoch + rank):
                empty = False
                rng = np.random.default_rng([seed, rank, step])
                videos = [r.frames for r in table_to_records(table)]
                per_video = -(-batch_size // len(videos))
                picks = [v[rng.choice(v.shape[0], per_video, replace=per_video > v.shape[0])] for v in videos]
                yield np.concatenate(picks)[:batch_size]
                step += 1
            if empty:
                raise ValueError(f"worker rank {rank} got no batch of {VIDEOS_PER_BATCH} videos from its data shard: "
                                 f"give --videos at least tokenizer.num_workers × {VIDEOS_PER_BATCH} videos")
    return batches


def _worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch

    from physar_ray.train.ddt import train_ddt
    from physar_ray.runtime.train_reporter import RayTrainReporter

    root = from_dict(config["cfg"])
    cfg = root.tokenizer  # S3 settings: the job's runtime_env (runtime.ensure_ray)
    torch.set_num_threads(max(1, int(cfg.num_cpus_per_worker)))  # Ray sets 1 thread per reserved CPU, rounded
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device() if cfg.use_gpu else torch.device("cpu")
    if config["data"]:
        batches = shard_frames(ray.train.get_dataset_shard("train"), cfg.batch_size, cfg.seed, rank)
    else:
        batches = rank_frames(root.data, cfg.batch_size, rank, world)
    reporter = RayTrainReporter()
    faults = FaultInjector(root.run.faults, "tokenizer.worker", rank, config["out"])
    tracker = Tracker(root.run.tracking if rank == 0 else TrackingConfig(backends=()), config["tracking_root"],
                      "tokenizer", params={"tokenizer": to_dict(cfg), "data": to_dict(root.data)},
                      tags={"physar.out": config["out"]})

    def each_step(record: dict[str, float]) -> None:
        faults.reached(record["step"])
        tracker.log(record, int(record["step"]))

    with tracker, tempfile.TemporaryDirectory(prefix="physar-ddt-") as tmp:
        run_dir = Path(tmp)
        restored, resumed_from = reporter.latest_checkpoint(), 0
        if restored is not None:  # train_ddt resumes from run_dir/checkpoint, metrics.jsonl continues
            shutil.copytree(restored, run_dir / "checkpoint")
            if (restored / "metrics.jsonl").exists():
                shutil.copy(restored / "metrics.jsonl", run_dir / "metrics.jsonl")
            resumed_from = json.loads((restored / "trainer.json").read_text())["step"]

        def on_checkpoint(folder: Path | None, record: dict[str, float]) -> None:
            if folder is not None:
                shutil.copy(run_dir / "metrics.jsonl", folder / "metrics.jsonl")
                log.info("step %d: loss %.3e, %d codes used, %.0f s trained", record["step"],
                         record.get("ddt/loss", float("nan")), record.get("ddt/codes_used", 0),
                         record.get("time/elapsed_s", 0.0))
            reporter.report({**record, "ddt/resumed_from": resumed_from}, folder)

        train_ddt(cfg, root.data.resolution, batches, run_dir, device, progress_bar=False, on_checkpoint=on_checkpoint,
                  report=each_step)


def frames_dataset(data_uri: str, resolution: int, num_cpus: float) -> Any:
    """The video Parquet under ``data_uri`` as a streaming Ray Dataset; wrong tables fail here, on the driver."""
    import ray.data

    files = storage.list_files(data_uri)
    if not files:
        raise FileNotFoundError(f"{data_uri} holds no .parquet files: point --videos at `physar data generate` output")
    fs, first = storage.filesystem(files[0])
    meta = pq.ParquetFile(first, filesystem=fs)
    check_schema(meta.schema_arrow, files[0])
    height = meta.read_row_group(0, columns=["height"]).column("height")[0].as_py()
    if height != resolution:
        raise ValueError(f"{files[0]} holds {height} px videos but data.resolution={resolution}: "
                         f"set data.resolution={height} or point --videos at a {resolution} px dataset")
    return ray.data.read_parquet([storage.filesystem(f)[1] for f in files], filesystem=fs, num_cpus=num_cpus)


def run_name(cfg: Config, data_uri: str | None) -> str:
    """``train-<hash>``: the Ray Train run folder of this tokenizer + data config (same config → resume)."""
    key = json.dumps({"tokenizer": to_dict(cfg.tokenizer), "data": to_dict(cfg.data), "uri": data_uri}, sort_keys=True)
    return "train-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def _read_cpus(cfg: Config) -> float:
    """CPUs per Parquet read task: what the Train workers leave of the cluster, at most 1."""
    import ray

    tok = cfg.tokenizer
    free = ray.cluster_resources().get("CPU", 0.0) - tok.num_workers * tok.num_cpus_per_worker
    if free < 0.25:
        raise ValueError(f"tokenizer.num_workers={tok.num_workers} × tokenizer.num_cpus_per_worker="
                         f"{tok.num_cpus_per_worker} leave {max(free, 0):g} of the cluster's CPUs for reading --videos: "
                         "lower tokenizer.num_cpus_per_worker (or train from the simulator without --videos)")
    return min(1.0, free / 2)


def run_ddt_training(cfg: Config, out_uri: str, data_uri: str | None = None) -> dict[str, Any]:
    """Train the tokenizer with Ray Train and save it at ``out_uri``; returns the summary
    (also written as ``<out>/train_summary.json``)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from physar_ray.runtime.cluster import ensure_ray
    from physar_ray.runtime.ingest import ordered_ingest
    from physar_ray.tokenizer.ddt import DDTokenizer

    start = time.perf_counter()
    ensure_ray(cfg.run)
    tok = cfg.tokenizer
    datasets = {"train": frames_dataset(data_uri, cfg.data.resolution, _read_cpus(cfg))} if data_uri else {}
    fs, root = storage.filesystem(out_uri)
    name = run_name(cfg, data_uri)
    worker = resources.tokenizer_worker(cfg).bundle()  # GPU and run.train_resource when tokenizer.use_gpu
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"cfg": to_dict(cfg), "data": bool(data_uri), "out": out_uri,
                           "tracking_root": tracking_root(cfg.run.tracking, out_uri)},
        scaling_config=ScalingConfig(num_workers=tok.num_workers, use_gpu=tok.use_gpu, resources_per_worker=worker),
        run_config=RunConfig(name=name, storage_path=root, storage_filesystem=fs,
                             failure_config=FailureConfig(max_failures=tok.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
        datasets=datasets, dataset_config=ordered_ingest(),
        torch_config=TorchConfig(backend="nccl" if tok.use_gpu else "gloo"),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"tokenizer training ended without a checkpoint: {result.error}")
    with tempfile.TemporaryDirectory(prefix="physar-ddt-final-") as tmp:
        folder = Path(result.checkpoint.to_directory(tmp))
        DDTokenizer.load(folder, expect=tok, resolution=cfg.data.resolution).save(out_uri)
        storage.write_bytes(storage.join(out_uri, "metrics.jsonl"), (folder / "metrics.jsonl").read_bytes())
        state = json.loads((folder / "trainer.json").read_text())
    summary = {"tokenizer": out_uri, "step": state["step"], "train_s": state["elapsed_s"],
               "wall_s": time.perf_counter() - start, "metrics": result.metrics,
               "checkpoint": result.checkpoint.path, "data": data_uri or "simulator", "workers": tok.num_workers}
    storage.write_text(storage.join(out_uri, "train_summary.json"), json.dumps(summary, indent=2, default=str) + "\n")
    log.info("tokenizer trained for %d steps (%.0f s of %.0f s wall) into %s", summary["step"], summary["train_s"],
             summary["wall_s"], out_uri)
    return summary
