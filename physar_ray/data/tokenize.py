"""A pool of actors holding the tokenizer: videos ↔ token videos.

``encode``: a video dataset (VIDEO_SCHEMA) → a tokens dataset (TOKENS_SCHEMA: the same
metadata and ground truth, ``tokens`` int16 T×K instead of ``frames``).
``reconstruct``: a tokens dataset → videos decoded by the tokenizer, in VIDEO_SCHEMA, so that
``physar eval score`` measures the reconstruction exactly like a model (the Table-4 analogue).

Each actor loads the checkpoint once (GPU when ``num_gpus`` > 0). Both write one output file per
input file, at the input's path relative to its dataset (a file of more than
``data.videos_per_shard`` rows, such as an evaluation's ``generated.parquet``, in parts of that
many rows), with the rows in their input order: the output does not depend on which actor
finished first, so a rerun writes the same files and SFT reads the same token stream for the same
seed. (Ray Data's streaming write interleaved the rows of different actor calls differently on
every run, even with ``preserve_order``; measured on 198 videos: three runs, three row orders.)
The parts run on a :class:`WorkPool` (a dead actor is replaced and its parts rerun; each part is
written atomically). ``encoded_dataset`` stays a lazy Ray Dataset for SFT to stream from videos.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from physar_ray import resources, storage
from physar_ray.config import Config
from physar_ray.data.shards import split_of
from physar_ray.records import TOKENS_SCHEMA, VIDEO_SCHEMA

log = logging.getLogger("physar.tokenize")


@dataclass(frozen=True)
class Part:
    """Rows [start, stop) of the input file ``src``, written to ``dst``."""

    src: str
    dst: str
    start: int
    stop: int


def part_names(relpath: str, num_rows: int, rows_per_part: int) -> list[tuple[str, int, int]]:
    """(output relpath, start, stop) of each part of an input file: the file's own relpath when it fits in
    one part, else ``<stem>-part<start>.parquet`` per ``rows_per_part`` rows (none for an empty file)."""
    if num_rows <= rows_per_part:
        return [(relpath, 0, num_rows)] if num_rows else []
    stem = relpath.removesuffix(".parquet")
    return [(f"{stem}-part{start:07d}.parquet", start, min(start + rows_per_part, num_rows))
            for start in range(0, num_rows, rows_per_part)]


def plan_parts(src_uri: str, out_uri: str, rows_per_part: int, splits: tuple[str, ...] = ()) -> list[Part]:
    """The parts of every Parquet file under ``src_uri`` (files that hold another split than ``splits``,
    by their ``<scenario>/<split>/`` path, left out), in the files' sorted order."""
    import pyarrow.parquet as pq

    parts = []
    for uri in storage.list_files(src_uri):
        rel = storage.relative(uri, src_uri) if uri != src_uri else uri.rsplit("/", 1)[-1]
        if splits and split_of(rel) not in (None, *splits):
            continue
        fs, path = storage.filesystem(uri)
        num_rows = pq.read_metadata(path, filesystem=fs).num_rows
        parts += [Part(uri, storage.join(out_uri, name), start, stop) for name, start, stop in
                  part_names(rel, num_rows, rows_per_part)]
    return parts


class _TokenizerActor:
    """Loads the tokenizer checkpoint once per actor; subclasses map one batch (``__call__``) and name what
    they do (``VERB``, the progress bar's label)."""

    VERB = ""

    def __init__(self, tokenizer_uri: str, resolution: int, batch_size: int = 16, decode_seed: int = 0):
        import torch

        from physar_ray.tokenizer.ddt import DDTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = DDTokenizer.load(tokenizer_uri, resolution=resolution, device=device)
        self.batch_size, self.decode_seed = batch_size, decode_seed

    def run(self, part: Part, splits: tuple[str, ...] = ()) -> int:
        """Map the rows of ``part`` (only those of ``splits`` when given) batch by batch and write them to
        ``part.dst`` atomically, in their input order; returns the rows written (no file for none)."""
        table = storage.read_table(part.src).slice(part.start, part.stop - part.start)
        if splits:
            table = table.filter(pc.is_in(table.column("split"), pa.array(list(splits))))
        if not table.num_rows:
            return 0
        mapped = [self(table.slice(i, self.batch_size)) for i in range(0, table.num_rows, self.batch_size)]
        storage.write_table(part.dst, pa.concat_tables(mapped))
        return table.num_rows


class EncodeWorker(_TokenizerActor):
    VERB = "encoding"

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
    VERB = "decoding"

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


def _run(cfg: Config, src: str, tokenizer_uri: str, out: str, worker: type, schema: pa.Schema, what: str,
         splits: tuple[str, ...] = ()) -> int:
    """Every part of ``src`` through a pool of ``worker`` actors into ``out``, written from scratch (a rerun
    replaces a crashed partial write); returns the file count."""
    from physar_ray.runtime.actor_group import ActorGroup
    from physar_ray.runtime.cluster import ensure_ray
    from physar_ray.runtime.work_pool import WorkPool

    _check_columns(src, schema, what)
    ensure_ray(cfg.run)
    storage.remove(out)
    parts = plan_parts(src, out, cfg.data.videos_per_shard, splits)
    if not parts:
        return 0
    tok = cfg.tokenizer
    pool = WorkPool(ActorGroup(worker, min(tok.encode_actors, len(parts)),
                               lambda slot: (tokenizer_uri, cfg.data.resolution, tok.encode_batch_size),
                               name=f"tokenizer actor ({worker.VERB})",
                               **resources.tokenizer_actor(cfg).options()))  # CPUs, GPUs and run.infer_resource
    try:
        rows = sum(pool.map("run", [(p, splits) for p in parts], progress=f"{worker.VERB} {what}"))
    finally:
        pool.shutdown()
    log.info("%s %s: %d rows in %d parts under %s", worker.VERB, what, rows, len(parts), out)
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


def encode(cfg: Config, data_uri: str, tokenizer_uri: str, out: str) -> int:
    """Tokenize every video under ``data_uri`` into Parquet under ``out``; returns the file count."""
    return _run(cfg, data_uri, tokenizer_uri, out, EncodeWorker, VIDEO_SCHEMA, "videos")


def reconstruct(cfg: Config, tokens_uri: str, tokenizer_uri: str, out: str, splits: tuple[str, ...] = ()) -> int:
    """Decode the token videos under ``tokens_uri`` (only ``splits`` when given) into videos under
    ``out``; returns the file count."""
    return _run(cfg, tokens_uri, tokenizer_uri, out, ReconstructWorker, TOKENS_SCHEMA, "tokens", splits)


def encoded_dataset(cfg: Config, data_uri: str, tokenizer_uri: str, splits: tuple[str, ...] = ()) -> Any:
    """A lazy Ray Dataset of token-video rows encoded from the videos under ``data_uri`` by a Ray Data
    pool of tokenizer actors (only ``splits`` when given); nothing is materialised or written. Its row
    order follows the actors' finishing order: for a reproducible SFT stream, ``encode`` first."""
    from physar_ray.data.dataset import read_dataset
    from physar_ray.runtime.cluster import ensure_ray

    _check_columns(data_uri, VIDEO_SCHEMA, "videos")
    ensure_ray(cfg.run)
    ds = read_dataset(data_uri, num_cpus=cfg.tokenizer.num_cpus_per_actor / 2)
    if splits:
        ds = ds.map_batches(lambda t: t.filter(pc.is_in(t.column("split"), pa.array(list(splits)))),
                            batch_format="pyarrow", num_cpus=cfg.tokenizer.num_cpus_per_actor / 2)
    return _map(ds, EncodeWorker, tokenizer_uri, cfg, cfg.tokenizer.encode_actors, cfg.tokenizer.encode_batch_size)
