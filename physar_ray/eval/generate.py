"""LM generation for `physar eval generate` and `physar eval model`: condition frames' tokens → sampled
continuations, written as token videos.

Reads a token-video Parquet (``tokens`` column, T·K codes per row), prompts the LM with the
first ``data.cond_frames`` frames, samples ``generate.samples_per_prompt`` continuations per
row with the configured engine and writes ``tokens`` (condition + generated, T·K codes),
``logprob`` (sum over generated tokens) and ``sample`` beside the input's metadata columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from physar_ray import resources, storage
from physar_ray.config import Config, SamplingConfig
from physar_ray.lm.engine import GenerationEngine
from physar_ray.lm.factory import open_engine
from physar_ray.lm.sequence import VideoLayout, full_video, generated_codes, prompt_ids, tokens_to_codes

log = logging.getLogger("physar.generate")


def make_engine(cfg: Config, model_uri: str, layout: VideoLayout) -> GenerationEngine:
    """The configured engine (generate.engine) over the model at ``model_uri`` (local or s3://), on the GPU when
    this process has one."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return open_engine(cfg.generate.engine, model_uri, layout, cfg.generate.gpu_memory_utilization, device)


class Generator:
    """The engine in a Ray actor (see :func:`generator`); plain class."""

    def __init__(self, cfg: Config, model_uri: str) -> None:
        torch.set_num_threads(max(1, int(cfg.generate.num_cpus)))  # more threads than reserved CPUs thrash
        self.cfg, self.engine = cfg, make_engine(cfg, model_uri, VideoLayout.from_config(cfg))

    def generate(self, table: pa.Table, samples_per_prompt: int, sampling: SamplingConfig | None = None) -> pa.Table:
        return generate_table(self.cfg, self.engine, table, samples_per_prompt, sampling)


Generate = Callable[[pa.Table, int, SamplingConfig | None], pa.Table]
"""(table, samples per prompt, sampling or None for generate.sampling) → generated table (:func:`generate_table`)."""


@contextmanager
def generator(cfg: Config, model_uri: str) -> Iterator[Generate]:
    """``generate`` through a :class:`Generator` actor with generate.num_cpus / num_gpus and run.infer_resource:
    generation runs on a node with a GPU when one is asked for, never in the driver (on a cluster the head
    node, which has none). The actor, and the device memory it holds, go when the block ends."""
    import ray

    from physar_ray.runtime.cluster import ensure_ray

    ensure_ray(cfg.run)
    actor = ray.remote(Generator).options(**resources.generation_actor(cfg).options()).remote(cfg, model_uri)
    try:
        yield lambda table, samples, sampling=None: ray.get(actor.generate.remote(table, samples, sampling))
    finally:
        ray.kill(actor)


def generate_table(cfg: Config, engine: GenerationEngine, table: pa.Table, samples_per_prompt: int,
                   sampling: SamplingConfig | None = None) -> pa.Table:
    """``samples_per_prompt`` continuations of every row's condition frames (``sampling``, default
    ``generate.sampling``): the row's metadata, ``tokens`` (condition + generated, T·K codes),
    ``logprob`` (sum over generated tokens), ``sample``."""
    layout = VideoLayout.from_config(cfg)
    if "tokens" not in table.column_names:
        raise ValueError(f"the table has no 'tokens' column (it has {', '.join(table.column_names)}): "
                         "generate reads token videos")
    codes = tokens_to_codes(table.column("tokens").to_numpy(zero_copy_only=False), layout)
    scenarios = table.column("scenario").to_pylist() if "scenario" in table.column_names else None
    g = cfg.generate
    videos, logprobs = [], []
    for start in tqdm(range(0, len(codes), g.batch_size), desc="generate", unit="batch", mininterval=5):
        chunk = codes[start: start + g.batch_size]
        chunk_scenarios = scenarios[start: start + g.batch_size] if scenarios is not None else None
        ids, lp = engine.generate(prompt_ids(chunk, layout, engine.vocab, chunk_scenarios), samples_per_prompt,
                                  sampling or g.sampling, seed=g.seed + start)
        gen = generated_codes(ids, layout, engine.vocab)
        videos.append(full_video(np.repeat(chunk, samples_per_prompt, axis=0), gen, layout))
        logprobs.append(lp.sum(axis=1))
    rows = np.repeat(np.arange(len(codes)), samples_per_prompt)
    meta = table.drop_columns(["tokens"]).take(pa.array(rows)) if table.num_columns > 1 else pa.table({})
    out = meta.append_column("tokens", pa.array([v.ravel().astype(np.int16) for v in np.concatenate(videos)],
                                                type=pa.list_(pa.int16())))
    out = out.append_column("logprob", pa.array(np.concatenate(logprobs), type=pa.float32()))
    return out.append_column("sample", pa.array(np.tile(np.arange(samples_per_prompt), len(codes)), type=pa.int32()))


def generate_videos(cfg: Config, model_uri: str, data_uri: str, out_uri: str) -> dict[str, Any]:
    """Generate for every row of ``data_uri``; writes ``<out>/generated.parquet``."""
    table = storage.read_table(data_uri)
    with generator(cfg, model_uri) as generate:
        out = generate(table, cfg.generate.samples_per_prompt)
    storage.write_table(storage.join(out_uri, "generated.parquet"), out)
    log.info("wrote %d generated videos to %s", out.num_rows, out_uri)
    return {"videos": out.num_rows, "out": storage.join(out_uri, "generated.parquet")}
