"""SFT on Ray: token videos (Parquet ``tokens`` column) → Ray Data map to LM sequences →
``TorchTrainer`` workers running :func:`sft_loop` on their ``get_dataset_shard`` stream.

Checkpoints go to Ray Train storage under ``<out>/sft/`` (local or s3://), a failed worker
group restarts from the latest one (``sft.max_failures``), and the final model is copied to
``<out>/model/`` in HF format, ready for ``from_pretrained``, vLLM and `physar eval generate`, beside
``<out>/metrics.jsonl`` (rank 0's reports, every ``sft.log_every`` steps: the loss curve), which rank 0 also
sends to the experiment tracking of ``run.tracking`` (an MLflow run and TensorBoard events named ``sft``).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from physar_ray import resources, storage
from physar_ray.config import Config, SFTConfig, TrackingConfig, from_dict, to_dict
from physar_ray.faults import FaultInjector
from physar_ray.lm.model import export_model, video_vocab
from physar_ray.lm.sequence import VideoLayout, tokens_to_codes, training_batch
from physar_ray.lm.vocab import VisualVocab
from physar_ray.runtime.cluster import ensure_ray
from physar_ray.runtime.ingest import ordered_ingest
from physar_ray.runtime.train_reporter import HISTORY, RayTrainReporter
from physar_ray.tracking import Tracker, tracking_root
from physar_ray.train.sft import loop_config, sft_loop

log = logging.getLogger("physar.sft")

TOKENS_COLUMN = "tokens"
MODEL_DIR = "model"

TRAIN_SPLIT = "sft"
"""A tokens dataset with a ``split`` column contributes only these videos (the rest are for eval and RL)."""


def to_sequences(batch: dict[str, np.ndarray], layout: VideoLayout, vocab: VisualVocab) -> dict[str, np.ndarray]:
    """Ray Data map: a ``tokens`` batch (sft-split rows when it has a ``split`` column; its ``scenario``
    column for a conditioned vocabulary) → ``input_ids`` / ``labels`` [B, L]."""
    keep = np.asarray(batch["split"]) == TRAIN_SPLIT if "split" in batch else slice(None)
    scenarios = list(np.asarray(batch["scenario"])[keep]) if "scenario" in batch else None
    return training_batch(tokens_to_codes(batch[TOKENS_COLUMN][keep], layout), layout, vocab, scenarios)


def sequence_dataset(cfg: Config, data_uri: str, vocab: VisualVocab, tokenizer_uri: str | None = None) -> Any:
    """A streaming Ray Dataset of LM sequences from ``data_uri``: token videos (``tokens`` column),
    or videos (``frames``) that the DDT actor pool of ``tokenizer_uri`` encodes on the way. Only
    sft-split videos are used when the dataset has a ``split`` column (e.g. a pipeline's tokens/)."""
    import ray.data

    from physar_ray.data.tokenize import encoded_dataset

    layout, num_cpus = VideoLayout.from_config(cfg), cfg.sft.num_cpus_per_worker / 2
    files = storage.list_files(data_uri)
    if not files:
        raise FileNotFoundError(f"{data_uri} holds no .parquet files: point --tokens (or --videos with --tokenizer) at a dataset")
    fs, first = storage.filesystem(files[0])
    columns = pq.read_schema(first, filesystem=fs).names
    if TOKENS_COLUMN in columns:
        paths = [storage.filesystem(f)[1] for f in files]
        ds = ray.data.read_parquet(paths, filesystem=fs, num_cpus=num_cpus,
                                   columns=[TOKENS_COLUMN] + [c for c in ("split", "scenario") if c in columns])
    elif "frames" in columns and tokenizer_uri:
        ds = encoded_dataset(cfg, data_uri, tokenizer_uri, splits=(TRAIN_SPLIT,))
    else:
        raise ValueError(f"{files[0]} has no '{TOKENS_COLUMN}' column (it has {', '.join(columns)}): SFT reads token "
                         "videos, or videos with --tokenizer URI (a DDT checkpoint that encodes them on the way)")
    return ds.map_batches(to_sequences, fn_kwargs={"layout": layout, "vocab": vocab}, batch_format="numpy",
                          num_cpus=num_cpus)


class _ShardEpochs:
    """A worker's dataset shard as a re-iterable of numpy batches, one pass per epoch, shuffled
    through a local buffer of sft.shuffle_buffer sequences (seeded by sft.seed, epoch and rank):
    shards hold one scenario each, and an unshuffled stream trains on them in turn."""

    def __init__(self, shard: Any, cfg: SFTConfig, rank: int) -> None:
        self.shard, self.cfg, self.rank, self.epoch = shard, cfg, rank, 0

    def __iter__(self):
        seed = self.cfg.seed + 1000 * self.epoch + self.rank
        self.epoch += 1
        return iter(self.shard.iter_batches(batch_size=self.cfg.batch_size, batch_format="numpy", drop_last=True,
                                            local_shuffle_buffer_size=self.cfg.shuffle_buffer or None,
                                            local_shuffle_seed=seed if self.cfg.shuffle_buffer else None))


def _worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    root = from_dict(config["cfg"])
    cfg, rank = root.sft, ray.train.get_context().get_world_rank()  # S3 settings: the job's runtime_env
    shard = ray.train.get_dataset_shard("train")
    device = ray.train.torch.get_device() if cfg.use_gpu else None
    faults = FaultInjector(root.run.faults, "sft.worker", rank, config["out"])
    tracker = Tracker(root.run.tracking if rank == 0 else TrackingConfig(backends=()), config["tracking_root"], "sft",
                      params={"sft": to_dict(cfg)}, tags={"physar.out": config["out"]})
    reporter = RayTrainReporter(faults, tracker=tracker, keep_history=rank == 0)
    with tracker:
        sft_loop(config, _ShardEpochs(shard, cfg, rank), reporter, device)


def code_values(tokenizer_uri: str | None, cfg: Config) -> list[float] | None:
    """The scalar of each code of the tokenizer at ``tokenizer_uri`` (None without one, or for the paper family)."""
    if not tokenizer_uri:
        log.info("sft.code_embeddings=value without a tokenizer: the visual embeddings keep the model's init")
        return None
    from physar_ray.tokenizer.ddt import DDTokenizer

    values = DDTokenizer.load(tokenizer_uri, resolution=cfg.data.resolution).code_values()
    return None if values is None else values.tolist()


def run_sft(cfg: Config, data_uri: str, out_uri: str, tokenizer_uri: str | None = None) -> dict[str, Any]:
    """Train with Ray Train on token videos (or videos plus the tokenizer that encodes them, see
    :func:`sequence_dataset`); returns the final metrics, the checkpoint path and the model URI."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ensure_ray(cfg.run)
    sft = cfg.sft
    layout = VideoLayout.from_config(cfg)
    vocab = video_vocab(sft, layout)
    dataset = sequence_dataset(cfg, data_uri, vocab, tokenizer_uri)
    values = code_values(tokenizer_uri, cfg) if sft.code_embeddings == "value" or sft.input_noise else None
    fs, root = storage.filesystem(out_uri)
    worker = resources.sft_worker(cfg).bundle()  # GPU and run.train_resource when sft.use_gpu
    trainer = TorchTrainer(
        _worker,
        train_loop_config={**loop_config(cfg, vocab, values), "out": out_uri,
                           "tracking_root": tracking_root(cfg.run.tracking, out_uri)},
        scaling_config=ScalingConfig(num_workers=sft.num_workers, use_gpu=sft.use_gpu,
                                     resources_per_worker=worker),
        run_config=RunConfig(name="sft", storage_path=root, storage_filesystem=fs,
                             failure_config=FailureConfig(max_failures=sft.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
        datasets={"train": dataset}, dataset_config=ordered_ingest(),
        torch_config=TorchConfig(backend="nccl" if sft.use_gpu else "gloo"),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"SFT ended without a checkpoint: {result.error}")
    with tempfile.TemporaryDirectory(prefix="physar-sft-final-") as tmp:
        folder = result.checkpoint.to_directory(tmp)
        history = Path(folder) / HISTORY
        if history.exists():  # rank 0's reports, the whole run's (resumes included): the SFT loss curve
            storage.write_bytes(storage.join(out_uri, HISTORY), history.read_bytes())
        model_uri = export_model(folder, storage.join(out_uri, MODEL_DIR))
    summary = {"metrics": result.metrics, "checkpoint": result.checkpoint.path, "model": model_uri}
    storage.write_text(storage.join(out_uri, "sft_summary.json"), json.dumps(summary, indent=2, default=str) + "\n")
    log.info("SFT done at step %s, model in %s", result.metrics.get("sft/step"), model_uri)
    return summary
