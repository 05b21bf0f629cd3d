"""SFT on Ray: token videos (Parquet ``tokens`` column) → Ray Data map to LM sequences →
``TorchTrainer`` workers running :func:`sft_loop` on their ``get_dataset_shard`` stream.

Checkpoints go to Ray Train storage under ``<out>/sft/`` (local or s3://), a failed worker
group restarts from the latest one (``sft.max_failures``), and the final model is copied to
``<out>/model/`` in HF format, ready for ``from_pretrained``, vLLM and `physar generate`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from physar_ray import storage
from physar_ray.config import Config, from_dict
from physar_ray.lm.model import video_vocab
from physar_ray.lm.sequence import VideoLayout, tokens_to_codes, training_batch
from physar_ray.lm.vocab import VisualVocab
from physar_ray.ray_runtime import ensure_ray
from physar_ray.train.sft import loop_config, sft_loop

log = logging.getLogger("physar.sft")

TOKENS_COLUMN = "tokens"
MODEL_DIR = "model"
HF_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "trainer.json")


def to_sequences(batch: dict[str, np.ndarray], layout: VideoLayout, vocab: VisualVocab) -> dict[str, np.ndarray]:
    """Ray Data map: a ``tokens`` batch → ``input_ids`` / ``labels`` [B, L]."""
    return training_batch(tokens_to_codes(batch[TOKENS_COLUMN], layout), layout, vocab)


def sequence_dataset(data_uri: str, layout: VideoLayout, vocab: VisualVocab, num_cpus: float) -> Any:
    """A streaming Ray Dataset of LM sequences read from the token-video Parquet under ``data_uri``."""
    import ray.data

    files = storage.list_files(data_uri)
    if not files:
        raise FileNotFoundError(f"{data_uri} holds no .parquet files: point --data at a tokenized dataset")
    fs, first = storage.filesystem(files[0])
    columns = pq.read_schema(first, filesystem=fs).names
    if TOKENS_COLUMN not in columns:
        raise ValueError(f"{files[0]} has no '{TOKENS_COLUMN}' column (it has {', '.join(columns)}): "
                         "SFT reads token videos; tokenize the frames dataset first")
    paths = [storage.filesystem(f)[1] for f in files]
    ds = ray.data.read_parquet(paths, filesystem=fs, columns=[TOKENS_COLUMN])
    return ds.map_batches(to_sequences, fn_kwargs={"layout": layout, "vocab": vocab}, batch_format="numpy",
                          num_cpus=num_cpus)


class RayTrainReporter:
    """The loop's Reporter inside a TorchTrainer: ``ray.train.report`` and ``get_checkpoint``."""

    def __init__(self) -> None:
        self._restored = tempfile.TemporaryDirectory(prefix="physar-sft-restore-")

    def report(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        import ray.train

        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(checkpoint) if checkpoint else None)

    def latest_checkpoint(self) -> Path | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        return Path(checkpoint.to_directory(self._restored.name)) if checkpoint else None


class _ShardEpochs:
    """A worker's dataset shard as a re-iterable of numpy batches (one pass per epoch)."""

    def __init__(self, shard: Any, batch_size: int) -> None:
        self.shard, self.batch_size = shard, batch_size

    def __iter__(self):
        return iter(self.shard.iter_batches(batch_size=self.batch_size, batch_format="numpy", drop_last=True))


def _worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    cfg = from_dict(config["cfg"]).sft
    shard = ray.train.get_dataset_shard("train")
    device = ray.train.torch.get_device() if cfg.use_gpu else None
    sft_loop(config, _ShardEpochs(shard, cfg.batch_size), RayTrainReporter(), device)


def export_model(checkpoint_dir: str, out_uri: str) -> str:
    """Copy the HF files (safetensors, config, tokenizer, trainer.json) of a checkpoint to ``<out>/model``,
    leaving the optimizer state behind; returns that URI."""
    target = storage.join(out_uri, MODEL_DIR)
    for f in sorted(Path(checkpoint_dir).iterdir()):
        if f.is_file() and (f.name in HF_FILES or ".safetensors" in f.name):
            storage.write_bytes(storage.join(target, f.name), f.read_bytes())
    return target


def run_sft(cfg: Config, data_uri: str, out_uri: str) -> dict[str, Any]:
    """Train with Ray Train; returns the final metrics, the checkpoint path and the model URI."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ensure_ray(cfg.run)
    sft = cfg.sft
    layout = VideoLayout.from_config(cfg)
    vocab = video_vocab(sft, layout)
    dataset = sequence_dataset(data_uri, layout, vocab, num_cpus=sft.num_cpus_per_worker / 2)
    fs, root = storage.filesystem(out_uri)
    resources = {"CPU": sft.num_cpus_per_worker, **({"GPU": 1} if sft.use_gpu else {})}
    trainer = TorchTrainer(
        _worker,
        train_loop_config=loop_config(cfg, vocab),
        scaling_config=ScalingConfig(num_workers=sft.num_workers, use_gpu=sft.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name="sft", storage_path=root, storage_filesystem=fs,
                             failure_config=FailureConfig(max_failures=sft.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
        datasets={"train": dataset},
        torch_config=TorchConfig(backend="nccl" if sft.use_gpu else "gloo"),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"SFT ended without a checkpoint: {result.error}")
    with tempfile.TemporaryDirectory(prefix="physar-sft-final-") as tmp:
        model_uri = export_model(result.checkpoint.to_directory(tmp), out_uri)
    summary = {"metrics": result.metrics, "checkpoint": result.checkpoint.path, "model": model_uri}
    storage.write_text(storage.join(out_uri, "sft_summary.json"), json.dumps(summary, indent=2, default=str) + "\n")
    log.info("SFT done at step %s, model in %s", result.metrics.get("sft/step"), model_uri)
    return summary
