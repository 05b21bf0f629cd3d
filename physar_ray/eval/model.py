"""`physar eval model`: a policy continues held-out conditions; the videos are decoded and scored.

The evaluation sets are the tokens dataset's ``eval_iid`` and ``eval_ood`` videos and the
held-out part of ``rl`` (the videos GRPO never trains on, ``data.holdout.rl_holdout``), capped
at ``generate.eval_per_scenario`` per scenario and set. Each condition gets one sample from
``generate.sampling`` (the tiny preset: greedy) with ``generate.seed``, so two policies evaluated
with the same config see the same conditions and seeds and their videos pair up by key. Outputs
under ``out``: ``generated/generated.parquet`` (token videos), ``videos/`` (decoded,
VIDEO_SCHEMA) and the `physar eval score` outputs (metrics.json, per_video.parquet, report.md,
plots), whose ``table1`` holds the iid / ood / rl columns. With ``generate.eval_rollout_sampling``
the same again under ``out/rollout_sampling/`` from ``grpo.rollout.sampling``, the distribution GRPO
explores with (τ = 1 in the paper).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from physar_ray import storage
from physar_ray.config import Config, SamplingConfig
from physar_ray.data.holdout import rl_holdout, video_key
from physar_ray.data.tokenize import reconstruct
from physar_ray.eval.generate import generator
from physar_ray.eval.score import score_dataset
from physar_ray.layout import DECODING, EVAL_VIDEOS, ROLLOUT_SAMPLING

log = logging.getLogger("physar.eval")

EVAL_SPLITS = ("eval_iid", "eval_ood", "rl")


def _sorted_by_key(table: pa.Table) -> pa.Table:
    keys = [video_key(s, sp, i) for s, sp, i in zip(table.column("scenario").to_pylist(),
                                                     table.column("split").to_pylist(),
                                                     table.column("index").to_pylist())]
    return table.take(pa.array(np.argsort(np.array(keys), kind="stable")))


def evaluation_videos(cfg: Config, tokens: pa.Table) -> pa.Table:
    """The rows of a tokens table a policy is evaluated on (see the module docstring)."""
    parts = []
    for split in EVAL_SPLITS:
        rows = _sorted_by_key(tokens.filter(pc.equal(tokens.column("split"), split)))
        if split == "rl":
            held, _ = rl_holdout(rows.num_rows, cfg.grpo)
            rows = rows.take(pa.array(np.sort(held)))
        for scenario in sorted(set(rows.column("scenario").to_pylist())):
            group = rows.filter(pc.equal(rows.column("scenario"), scenario))
            cap = cfg.generate.eval_per_scenario
            parts.append(group.slice(0, cap) if cap else group)
    if not parts:
        raise ValueError(f"the tokens dataset has none of the splits {', '.join(EVAL_SPLITS)}: "
                         "generate data with them (data.splits) and tokenize it")
    return pa.concat_tables(parts)


def decodings(cfg: Config) -> dict[str, SamplingConfig]:
    """Where each evaluation goes ("" = the output folder itself) and how it samples: generate.sampling,
    plus GRPO's exploration distribution grpo.rollout.sampling when generate.eval_rollout_sampling."""
    chosen = {"": cfg.generate.sampling}
    if cfg.generate.eval_rollout_sampling:
        chosen[ROLLOUT_SAMPLING] = cfg.grpo.rollout.sampling
    return chosen


def evaluate_model(cfg: Config, model_uri: str, tokenizer_uri: str, tokens_uri: str, out_uri: str,
                   source: str = "policy") -> dict:
    """Generate, decode and score for each of :func:`decodings`; returns the metrics of the first
    (``table1``: {source: {scenario: {iid, ood, rl}}}; ``source`` names the policy, e.g. sft)."""
    storage.check_writable(out_uri)
    table = evaluation_videos(cfg, storage.read_table(tokens_uri))
    chosen = decodings(cfg)
    folders = {name: storage.join(out_uri, name) if name else out_uri for name in chosen}
    with generator(cfg, model_uri) as generate:  # its actor (a GPU reservation) goes before decoding and scoring
        for name, sampling in chosen.items():
            log.info("evaluating %s on %d conditions (%s)", model_uri, table.num_rows, describe(sampling))
            storage.write_table(storage.join(folders[name], "generated", "generated.parquet"),
                                generate(table, 1, sampling))
            storage.write_json(storage.join(folders[name], DECODING), {"sampling": dataclasses.asdict(sampling),
                                                                      "seed": cfg.generate.seed,
                                                                      "describe": describe(sampling)})
    results = {}
    for name, folder in folders.items():
        reconstruct(cfg, storage.join(folder, "generated"), tokenizer_uri, storage.join(folder, EVAL_VIDEOS))
        results[name] = score_dataset(storage.join(folder, EVAL_VIDEOS), folder, cfg, source, baselines=())
    return results[""]


def describe(sampling: SamplingConfig) -> str:
    """``greedy`` or ``τ=1, top-k 50, top-p 0.95``: how a table's videos were sampled."""
    if sampling.temperature == 0:
        return "greedy"
    return f"τ={sampling.temperature:g}, top-k {sampling.top_k or 'all'}, top-p {sampling.top_p:g}"
