"""`physar eval score` and `physar eval baselines`: a video dataset against its own ground truth.

Outputs of ``score_dataset`` under ``out`` (local or s3://): per_video.parquet, metrics.json,
report.md and the PNG plots. Scoring runs on the CPU reward actor pool; each actor reads its
shards straight from storage.
"""

from __future__ import annotations

import logging
import math

import pyarrow as pa

from physar_ray import storage
from physar_ray.config import Config
from physar_ray.layout import METRICS, PER_VIDEO, VERR_PLOT
from physar_ray.measure.baselines import PREDICTORS, predict
from physar_ray.measure.tracker import track
from physar_ray.runtime.cluster import ensure_ray
from physar_ray.runtime.reward_pool import RewardPool
from physar_ray.records import check_schema, rows_to_table, table_to_records
from physar_ray.report import plots
from physar_ray.report.tables import group_metrics, report_markdown
from physar_ray.sim.render import BALL_COLOURS

log = logging.getLogger("physar.eval")


def video_files(data_uri: str) -> list[str]:
    """The dataset's Parquet shards; an empty dataset is an error that says what to run."""
    files = storage.list_files(data_uri)
    if not files:
        raise ValueError(f"{data_uri} holds no .parquet files: run `physar data generate --out {data_uri}` first")
    return files


def score_dataset(data_uri: str, out_uri: str, cfg: Config, source: str,
                  baselines: tuple[str, ...] = tuple(PREDICTORS)) -> dict:
    """Score every video (and each reference predictor on it); write the outputs; return metrics.

    ``source`` names what the videos are (ground_truth, reconstruction, sft, ...): the ``source``
    of their rows, beside the predictors' names."""
    files = video_files(data_uri)
    storage.check_writable(out_uri)
    ensure_ray(cfg.run)
    pool = RewardPool(cfg.measure, cfg.data.cond_frames)
    try:
        rows = pool.score_files(files, source, baselines)
    finally:
        pool.shutdown()
    if not rows:
        raise ValueError(f"{data_uri}: its {len(files)} Parquet file(s) hold no videos")
    log.info("scored %d rows from %d files with %d reward actors", len(rows), len(files), cfg.measure.num_actors)
    storage.write_table(storage.join(out_uri, PER_VIDEO), pa.Table.from_pylist(rows))
    metrics = group_metrics(rows)
    storage.write_json(storage.join(out_uri, METRICS), metrics)
    written = write_plots(rows, metrics, out_uri, cfg)
    storage.write_text(storage.join(out_uri, "report.md"), report_markdown(metrics, data_uri, written))
    return metrics


def extremes(rows: list[dict]) -> list[tuple[str, dict]]:
    """The best and worst scored videos of the dataset itself (lowest and highest v_err)."""
    ok = [r for r in rows if r["source"] not in PREDICTORS and r["reason"] == "ok" and math.isfinite(r["v_err"])]
    if not ok:
        return []
    ok.sort(key=lambda r: r["v_err"])
    return [(f"best v_err {ok[0]['v_err']:.4f}", ok[0]), (f"worst v_err {ok[-1]['v_err']:.4f}", ok[-1])]


def write_plots(rows: list[dict], metrics: dict, out_uri: str, cfg: Config) -> list[str]:
    """The PNGs of plots.py under out_uri; returns the names written (no trajectories when no
    video of the dataset itself was scored ok)."""
    panels = []
    for title, row in extremes(rows):
        rec = next(r for r in table_to_records(storage.read_table(row["file"]))
                   if (r.scenario, r.split, r.seed, r.index) == (row["scenario"], row["split"], row["seed"], row["index"]))
        tracks = track(rec.frames, rec.states.world_size, BALL_COLOURS[: rec.states.num_balls],
                       cfg.measure.min_area_px, cfg.measure.rim_px)
        panels.append((title, rec, tracks))
    images = {
        VERR_PLOT: plots.verr_by_level(metrics["groups"]),
        "trajectories.png": plots.trajectories(panels) if panels else None,
        "reward_vs_verr.png": plots.reward_vs_verr(rows, cfg.measure),
    }
    for name, png in images.items():
        if png is not None:
            storage.write_bytes(storage.join(out_uri, name), png)
    return [name for name, png in images.items() if png is not None]


def write_baselines(data_uri: str, out_uri: str, cfg: Config) -> dict[str, int]:
    """OUT/<predictor>/<shard>.parquet for every predictor and shard, in the video schema."""
    files = video_files(data_uri)
    counts = dict.fromkeys(PREDICTORS, 0)
    for uri in files:
        table = storage.read_table(uri)
        check_schema(table.schema, uri)
        records = table_to_records(table)
        rel = storage.relative(uri, data_uri)
        for predictor in PREDICTORS:
            rows = [predict(predictor, rec, cfg.data.cond_frames).to_row() for rec in records]
            storage.write_table(storage.join(out_uri, predictor, rel), rows_to_table(rows))
            counts[predictor] += len(rows)
    return counts
