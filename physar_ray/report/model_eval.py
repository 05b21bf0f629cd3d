"""`physar eval model`: a policy continues held-out conditions; the videos are decoded and scored.

The evaluation sets are the tokens dataset's ``eval_iid`` and ``eval_ood`` videos and the
held-out part of ``rl`` (the videos GRPO never trains on, ``grpo.prompts.rl_holdout``), capped
at ``generate.eval_per_scenario`` per scenario and set. Each condition gets one sample from
``generate.sampling``. Outputs under ``out``: ``generated/generated.parquet`` (token videos),
``videos/`` (decoded, VIDEO_SCHEMA) and the `physar eval score` outputs (metrics.json,
per_video.parquet, report.md, plots), whose ``table1`` holds the iid / ood / rl columns.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from physar_ray import storage
from physar_ray.config import Config
from physar_ray.data.tokenize import reconstruct
from physar_ray.grpo.prompts import rl_holdout, video_key
from physar_ray.lm.sequence import VideoLayout
from physar_ray.report.evaluation import score_dataset
from physar_ray.train.generate import generate_table, make_engine

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


def evaluate_model(cfg: Config, model_uri: str, tokenizer_uri: str, tokens_uri: str, out_uri: str) -> dict:
    """Generate, decode and score; returns the metrics (``table1``: {"data": {scenario: {iid, ood, rl}}})."""
    storage.check_writable(out_uri)
    table = evaluation_videos(cfg, storage.read_table(tokens_uri))
    engine = make_engine(cfg, model_uri, VideoLayout.from_config(cfg))
    log.info("evaluating %s on %d conditions", model_uri, table.num_rows)
    generated = storage.join(out_uri, "generated")
    storage.write_table(storage.join(generated, "generated.parquet"), generate_table(cfg, engine, table, 1))
    del engine
    videos = storage.join(out_uri, "videos")
    reconstruct(cfg, generated, tokenizer_uri, videos)
    return score_dataset(videos, out_uri, cfg, baselines=())
