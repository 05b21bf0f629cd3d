"""A pipeline run's ``summary.json`` and ``report.md`` from the stages' eval outputs.

``table4`` (per scenario, eval_iid videos): the tracker floor on the originals next to the
tokenizer's reconstruction. ``models``: v_err / v_drift / r_err (means over the tracked videos),
``ci`` (count, mean and 95 % bootstrap interval of v_err, v_drift, r_err and the tracked fraction) per
scenario on the iid, ood and rl evaluation sets for the reference predictors (static,
constant_velocity) and each trained policy. The predictors are scored on exactly the videos the
policies were evaluated on (from the floor stage's per-video rows), so every row of a table shares
its videos. ``paired``: ``grpo_vs_sft``, the per-condition difference GRPO − SFT (report/paired.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from physar_ray import layout, storage
from physar_ray.config import SCENARIOS
from physar_ray.layout import DECODING, METRICS, PER_VIDEO, ROLLOUT_SAMPLING, RunLayout
from physar_ray.report.paired import PAIRED_METRICS, counts_markdown, paired_comparison, paired_markdown
from physar_ray.report.tables import TABLE1_SPLITS, cell, fmt, group_metrics, own_table1

REFERENCES = ("static", "constant_velocity")
POLICIES = (layout.SFT, layout.GRPO)
MODEL_METRICS = ("v_err", "v_drift", "r_err")
KEY = ("scenario", "split", "index")


def _metrics(out: str, name: str) -> dict | None:
    uri = RunLayout(out).evaluation(name, METRICS)
    return storage.read_json(uri) if storage.exists(uri) else None


def _cell(group: dict) -> dict:
    """v_err / v_drift / r_err (means over the tracked videos), their ``ci`` and ``tracked``, the
    fraction of the set the tracked videos are."""
    tracked = group["ok"] / group["count"] if group.get("count") else None
    return {**{m: group.get(m) for m in MODEL_METRICS}, "ci": group.get("ci", {}), "tracked": tracked}


def _columns(per_scenario: dict) -> dict:
    return {scenario: {c: _cell(per_scenario.get(scenario, {}).get(c, {})) for c in TABLE1_SPLITS}
            for scenario in SCENARIOS if scenario in per_scenario}


def table4(out: str) -> dict:
    floor, recon = _metrics(out, layout.FLOOR), _metrics(out, layout.RECON)
    if floor is None or recon is None:
        return {}
    rows = {}
    for scenario, cols in own_table1(recon).items():
        rec = cols.get("iid", {})
        rows[scenario] = {"floor_v_err": own_table1(floor).get(scenario, {}).get("iid", {}).get("v_err"),
                          "recon_v_err": rec.get("v_err"), "recon_r_err": rec.get("r_err"),
                          "recon_centre_px": rec.get("centre_err_px"), "recon_phyworld": rec.get("phyworld"),
                          "recon_found": rec.get("valid_fraction")}
    return rows


def _reference_videos(out: str, keys: set[tuple]) -> list[dict]:
    """The predictors' floor-stage per-video rows of the conditions ``keys`` (KEY tuples)."""
    uri = RunLayout(out).evaluation(layout.FLOOR, PER_VIDEO)
    if not keys or not storage.exists(uri):
        return []
    table = storage.read_table(uri)
    rows = table.filter(pc.is_in(table.column("source"), pa.array(REFERENCES))).to_pylist()
    return [r for r in rows if tuple(r[k] for k in KEY) in keys]


def _evaluated_keys(out: str, policies: Iterable[str]) -> set[tuple]:
    keys: set[tuple] = set()
    for name in policies:
        per_video = storage.read_table(RunLayout(out).evaluation(name, PER_VIDEO), columns=list(KEY))
        keys |= set(zip(*(per_video.column(k).to_pylist() for k in KEY)))
    return keys


def compared_groups(out: str) -> list[dict]:
    """``group_metrics`` groups (per source, scenario, split, OOD level) of the evaluated policies' own
    videos and of the reference predictors on the same conditions: what plots.verr_by_level draws."""
    rows = [{**r, "source": name} for name in POLICIES if (own := _policy_rows(out, name))
            for r in own if r["source"] not in REFERENCES]
    rows += _reference_videos(out, {tuple(r[k] for k in KEY) for r in rows})
    return group_metrics(rows)["groups"] if rows else []


def decoding(out: str, folder: str) -> str | None:
    """How ``eval/<folder>``'s videos were sampled (its decoding.json), None before it was evaluated."""
    uri = RunLayout(out).evaluation(folder, DECODING)
    return storage.read_json(uri)["describe"] if storage.exists(uri) else None


def models(out: str) -> dict:
    policies = {name: m for name in POLICIES if (m := _metrics(out, name)) is not None}
    found: dict[str, dict] = {name: _columns(own_table1(m)) for name, m in policies.items()}
    for name in policies:  # the same policies under GRPO's exploration sampling (generate.eval_rollout_sampling)
        sampled = _metrics(out, f"{name}/{ROLLOUT_SAMPLING}")
        if sampled is not None:
            found[f"{name} ({decoding(out, f'{name}/{ROLLOUT_SAMPLING}')})"] = _columns(own_table1(sampled))
    reference_rows = _reference_videos(out, _evaluated_keys(out, policies))
    table1 = group_metrics(reference_rows)["table1"] if reference_rows else {}
    references = {name: _columns(table1[name]) for name in REFERENCES if name in table1}
    return {**references, **found}


def _policy_rows(out: str, name: str) -> list[dict] | None:
    uri = RunLayout(out).evaluation(name, PER_VIDEO)
    return storage.read_table(uri).to_pylist() if storage.exists(uri) else None


def paired(out: str) -> dict:
    """{"grpo_vs_sft": {"a": "sft", "b": "grpo", "scenarios": paired_comparison}} once both were evaluated."""
    sft, grpo = _policy_rows(out, "sft"), _policy_rows(out, "grpo")
    if sft is None or grpo is None:
        return {}
    return {"grpo_vs_sft": {"a": "sft", "b": "grpo", "scenarios": paired_comparison(sft, grpo)}}


def build_summary(preset: str, config_hash: str, wall: dict[str, float], out: str) -> dict[str, Any]:
    summary = {"preset": preset, "config_hash": config_hash, "wall_s": wall, "table4": table4(out), "models": models(out),
               "decoding": {name: d for name in POLICIES if (d := decoding(out, name)) is not None},
               "paired": paired(out)}
    sweep = RunLayout(out).path(layout.TUNE_RESULT)
    if storage.exists(sweep):
        summary["tune"] = {k: v for k, v in storage.read_json(sweep).items() if k in ("trials", "metric", "best")}
    return summary


def _models_ci_table(rows: dict, metric: str) -> str:
    """One row per model and scenario, a column per set: `mean [95 % CI] (videos)`."""
    lines = ["| model | scenario | IID | OOD | RL |", "| --- | --- | --- | --- | --- |"]
    for name, per in rows.items():
        for scenario in (s for s in SCENARIOS if s in per):
            lines.append(f"| {name} | {scenario} | " + " | ".join(cell(per[scenario][c], metric) for c in TABLE1_SPLITS) + " |")
    return "\n".join(lines)


def _table4_markdown(rows: dict) -> str:
    cols = ("floor_v_err", "recon_v_err", "recon_r_err", "recon_centre_px", "recon_phyworld", "recon_found")
    lines = ["| scenario | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    lines += [f"| {s} | " + " | ".join(fmt(r[c]) for c in cols) + " |" for s, r in rows.items()]
    return "\n".join(lines)


def _paired_parts(comparison: dict) -> list[str]:
    a, b, cells = comparison["a"], comparison["b"], comparison["scenarios"]
    parts = [f"## {b} − {a} on the same conditions (paired; negative = {b} better)",
             f"Each condition is generated by both policies; cells: mean of {b} − {a} over the conditions where both "
             f"videos were tracked [95 % bootstrap interval] (pairs; how often {b} is lower). An untracked video "
             "leaves its pair out; the counts are below."]
    for metric in PAIRED_METRICS:
        parts += [f"### {metric}", paired_markdown(cells, metric, b)]
    return parts + ["### Conditions per cell", counts_markdown(cells, a, b)]


def report_markdown(summary: dict[str, Any], out: str) -> str:
    """report.md: wall times, the Table-1/2 analogue per model, the Table-4 analogue, learning curves (those
    report/curves.py drew), plots and samples."""
    wall = summary["wall_s"]
    parts = [f"# physar-ray run `{out}` (preset {summary['preset']}, config {summary['config_hash']})",
             "Stage wall times (s; 0 = up to date, skipped): "
             + ", ".join(f"{k} {v:.0f}" for k, v in wall.items())]
    if summary["models"]:
        parts += ["## Velocity error v_err (eq. 4, units/s; lower is better)",
                  "IID = eval_iid, OOD = eval_ood, RL = held-out RL-range videos (GRPO never trains on them). "
                  "static and constant_velocity see only the condition frames; every row scores the same videos. "
                  "Cells: mean over the tracked videos [95 % bootstrap interval] (videos). Policies sampled "
                  + (", ".join(f"{k}: {v}" for k, v in summary["decoding"].items()) or "as configured")
                  + "; a row named with a sampling in brackets is the same policy under GRPO's exploration sampling.",
                  _models_ci_table(summary["models"], "v_err"),
                  "## Mean-velocity error v_drift (units/s; like v_err but blind to frame-to-frame jitter)",
                  _models_ci_table(summary["models"], "v_drift"),
                  "## Radius error r_err (relative; mean over the tracked videos [95 % interval] (videos))",
                  _models_ci_table(summary["models"], "r_err"),
                  "## Tracked fraction (videos whose balls the tracker follows; the means above are over these)",
                  "Cells: fraction [95 % bootstrap interval] (all videos of the cell).",
                  _models_ci_table(summary["models"], "tracked")]
    if storage.exists(RunLayout(out).path(layout.MODELS_PLOT)):
        parts += ["The models and the reference predictors on the same videos, per scenario and set (OOD levels "
                  "named by what they draw out of range), mean v_err with its 95 % interval:",
                  f"![v_err by model, scenario and set]({layout.MODELS_PLOT})"]
    if summary["paired"]:
        parts += _paired_parts(summary["paired"]["grpo_vs_sft"])
    if summary["table4"]:
        parts += ["## Tokenizer reconstruction (Table-4 analogue, eval_iid videos)",
                  "floor = the tracker on the original frames; recon = on frames decoded from the tokens.",
                  _table4_markdown(summary["table4"])]
    if "tune" in summary:
        best = summary["tune"]["best"]
        parts += ["## Sweep (`tune/`)",
                  f"{summary['tune']['trials']} trials; best by {summary['tune']['metric']}: "
                  + ", ".join(f"{k} {best.get(k)}" for k in ("alpha", "k", "beta", "group_size", "ood_v_err", "steps"))
                  + f" (preset: `{layout.TUNE_BEST}`, table: `{layout.TUNE}/trials.csv`)."]
    images = [("Tokenizer training", layout.TOKENIZER_CURVES), ("SFT loss", layout.SFT_CURVES),
              ("GRPO reward, KL and held-out v_err", layout.GRPO_CURVES), ("GRPO reward curve", layout.REWARD_CURVE),
              ("Sweep", layout.SWEEP_PLOT),
              *((f"{s} samples", layout.samples_sheet(s)) for s in SCENARIOS)]
    shown = [f"![{title}]({path})" for title, path in images if storage.exists(RunLayout(out).path(path))]
    if shown:
        parts += ["## Plots and samples", "\n\n".join(shown)]
    generated = [f"![{s}: generated videos]({layout.generated_sheet(s)})" for s in SCENARIOS
                 if storage.exists(RunLayout(out).path(layout.generated_sheet(s)))]
    if generated:
        parts += ["## Generated videos",
                  "Per scenario the first eval_iid and eval_ood condition, one row per source: the ground truth, then "
                  "each policy's video of the same condition (as the tables score it); the line is the true "
                  f"trajectory, + the true centre at that frame. GIFs of the sources side by side, in that order: "
                  f"`{layout.GENERATED_SAMPLES}/gifs/`.", "\n\n".join(generated)]
    return "\n\n".join(parts) + "\n"
