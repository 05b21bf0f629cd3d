"""Ray Data jobs with a pool of actors holding the tokenizer: videos ↔ token videos.

``encode``: a video dataset (VIDEO_SCHEMA) → a tokens dataset (TOKENS_SCHEMA: the same
metadata and ground truth, ``tokens`` int16 T×K instead of ``frames``).
``reconstruct``: a tokens dataset → videos decoded by the tokenizer, in VIDEO_SCHEMA, so that
``physar eval score`` measures the reconstruction exactly like a model (the Table-4 analogue).

Each actor loads the checkpoint once (GPU when ``num_gpus`` > 0); blocks stream through it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa

from physar_ray import resources, storage
from physar_ray.config import Config
from physar_ray.records import TOKENS_SCHEMA, VIDEO_SCHEMA

log = logging.getLogger("physar.tokenize")


class _TokenizerActor:
    """Loads the tokenizer checkpoint once per actor; subclasses map one block."""

    def __init__(self, tokenizer_uri: str, resolution: int, decode_seed: int = 0):
        import torch

        from physar_ray.tokenizer.ddt import DDTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = DDTokenizer.load(tokenizer_uri, resolution=resolution, device=device)
        self.decode_seed = decode_seed


class EncodeWorker(_TokenizerActor):
    def __call__(self, batch: pa.Table) -> pa.Table:
        t, h, w = (batch.column(c)[0].as_py() for c in ("num_frames", "height", "width")) if batch.num_rows else (0, 0, 0)
        raw = b"".join(v.as_py() for v in batch.column("frames"))
        frames = np.frombuffer(raw, dtype=np.uint8).reshape(batch.num_rows, t, h, w, 3)
        tokens = np.asarray(self.tokenizer.encode(frames)).astype(np.int16)
        columns = {name: batch.column(name) for name in TOKENS_SCHEMA.names if name in batch.schema.names}
        columns["num_tokens"] = pa.array([tokens.shape[-1]] * batch.num_rows, pa.int32())
        columns["tokens"] = pa.array(list(tokens.reshape(batch.num_rows, -1)), pa.list_(pa.int16()))
        return pa.table([columns[n] for n in TOKENS_SCHEMA.names], schema=TOKENS_SCHEMA)


class ReconstructWorker(_TokenizerActor):
    def __call__(self, batch: pa.Table) -> pa.Table:
        t = batch.column("num_frames")[0].as_py() if batch.num_rows else 0
        k = batch.column("num_tokens")[0].as_py() if batch.num_rows else 0
        tokens = np.stack([np.asarray(v, dtype=np.int64) for v in batch.column("tokens").to_pylist()])
        frames = np.asarray(self.tokenizer.decode(tokens.reshape(batch.num_rows, t, k), seed=self.decode_seed))
        n, _, h, w, _ = frames.shape
        columns = {name: batch.column(name) for name in VIDEO_SCHEMA.names if name in batch.schema.names}
        columns["height"] = pa.array([h] * n, pa.int32())
        columns["width"] = pa.array([w] * n, pa.int32())
        columns["frames"] = pa.array([f.tobytes() for f in frames], pa.binary())
        return pa.table([columns[c] for c in VIDEO_SCHEMA.names], schema=VIDEO_SCHEMA)


def _map(ds: Any, worker: type, tokenizer_uri: str, cfg: Config, num_actors: int, batch_size: int) -> Any:
    import ray

    return ds.map_batches(
        worker,
        fn_constructor_args=(tokenizer_uri, cfg.data.resolution),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        **resources.tokenizer_actor(cfg).options(),  # CPUs, GPUs and run.infer_resource
    )


def _write(ds: Any, out: str) -> int:
    """Write a dataset under ``out`` from scratch (a rerun replaces a crashed partial write)."""
    storage.remove(out)
    fs, path = storage.filesystem(out)
    ds.write_parquet(path, filesystem=fs, compression="zstd")
    return len(storage.list_files(out))


def _check_columns(uri: str, schema: pa.Schema, what: str) -> None:
    import pyarrow.parquet as pq

    first = storage.list_files(uri)
    if not first:
        raise storage.StorageError(f"{uri} holds no .parquet files")
    fs, path = storage.filesystem(first[0])
    with fs.open_input_file(path) as src:
        names = pq.read_schema(src).names
    missing = [n for n in schema.names if n not in names and n not in ("frames", "tokens", "num_tokens")]
    needed = "frames" if what == "videos" else "tokens"
    if missing or needed not in names:
        raise storage.StorageError(f"{first[0]} is not a {what} table: it lacks {', '.join(missing + [needed])}")


def _mapped(cfg: Config, src: str, tokenizer_uri: str, worker: type, schema: pa.Schema, what: str,
            splits: tuple[str, ...]) -> Any:
    """The lazy dataset of ``src`` (only ``splits`` when given) through the tokenizer actor pool."""
    import pyarrow.compute as pc

    from physar_ray.data.dataset import read_dataset
    from physar_ray.runtime.cluster import ensure_ray

    _check_columns(src, schema, what)
    ensure_ray(cfg.run)
    ds = read_dataset(src, num_cpus=cfg.tokenizer.num_cpus_per_actor / 2)
    if splits:
        ds = ds.map_batches(lambda t: t.filter(pc.is_in(t.column("split"), pa.array(list(splits)))),
                            batch_format="pyarrow", num_cpus=cfg.tokenizer.num_cpus_per_actor / 2)
    return _map(ds, worker, tokenizer_uri, cfg, cfg.tokenizer.encode_actors, cfg.tokenizer.encode_batch_size)


def encode(cfg: Config, data_uri: str, tokenizer_uri: str, out: str) -> int:
    """Tokenize every video under ``data_uri`` into Parquet under ``out``; returns the file count."""
    return _write(_mapped(cfg, data_uri, tokenizer_uri, EncodeWorker, VIDEO_SCHEMA, "videos", ()), out)


def reconstruct(cfg: Config, tokens_uri: str, tokenizer_uri: str, out: str, splits: tuple[str, ...] = ()) -> int:
    """Decode the token videos under ``tokens_uri`` (only ``splits`` when given) into videos under
    ``out``; returns the file count."""
    return _write(_mapped(cfg, tokens_uri, tokenizer_uri, ReconstructWorker, TOKENS_SCHEMA, "tokens", splits), out)


def encoded_dataset(cfg: Config, data_uri: str, tokenizer_uri: str, splits: tuple[str, ...] = ()) -> Any:
    """A lazy Ray Dataset of token-video rows encoded from the videos under ``data_uri`` by the
    tokenizer actor pool (only ``splits`` when given); nothing is materialised or written."""
    return _mapped(cfg, data_uri, tokenizer_uri, EncodeWorker, VIDEO_SCHEMA, "videos", splits)
