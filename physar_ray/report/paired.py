"""Two models on the same conditions: the paired difference b − a per scenario and set.

Both policies are evaluated on exactly the same conditions (`physar eval model` picks them from
the tokens dataset by key), so each condition's two videos form a pair and the per-condition
spread cancels out of the difference. Rows are the policies' own rows (no reference predictor's) of two
per_video.parquet tables, keyed by PAIR_KEY.

A pair enters a metric's difference only when both videos were tracked (reason "ok") and the
metric is finite on both: an untracked video has no v_err, and inventing one (the floor reward's
or the static predictor's) would mix two questions. The excluded ones are counted, per side, next
to the difference, and so are conditions found in only one table, so nothing drops silently.
"""

from __future__ import annotations

import math
from collections import defaultdict

from physar_ray.config import SCENARIOS
from physar_ray.measure.baselines import PREDICTORS
from physar_ray.report.statistics import paired_difference
from physar_ray.report.tables import TABLE1_SPLITS

PAIR_KEY = ("scenario", "split", "seed", "index")
PAIRED_METRICS = ("v_err", "v_drift")


def _by_key(rows: list[dict], side: str) -> dict[tuple, dict]:
    keyed: dict[tuple, dict] = {}
    for r in rows:
        if r["source"] in PREDICTORS:
            continue
        key = tuple(r[k] for k in PAIR_KEY)
        if key in keyed:
            raise ValueError(f"{side} holds two videos for condition {dict(zip(PAIR_KEY, key))}: "
                             "a paired comparison needs one sample per condition (generate.samples_per_prompt=1)")
        keyed[key] = r
    return keyed


def _tracked(row: dict, metric: str) -> bool:
    value = row.get(metric)
    return row["reason"] == "ok" and value is not None and math.isfinite(value)


def compare_cell(a: dict[tuple, dict], b: dict[tuple, dict], metrics: tuple[str, ...] = PAIRED_METRICS) -> dict:
    """Counts and, per metric, paired_difference(b − a) of one scenario and set (rows keyed by PAIR_KEY)."""
    both = sorted(a.keys() & b.keys())
    out: dict = {"conditions": len(both), "only_a": len(a.keys() - b.keys()), "only_b": len(b.keys() - a.keys()),
                 "untracked_a": sum(a[k]["reason"] != "ok" for k in both),
                 "untracked_b": sum(b[k]["reason"] != "ok" for k in both)}
    for m in metrics:
        used = [k for k in both if _tracked(a[k], m) and _tracked(b[k], m)]
        out[m] = paired_difference([a[k][m] for k in used], [b[k][m] for k in used]).as_dict()
    return out


def paired_comparison(a_rows: list[dict], b_rows: list[dict], metrics: tuple[str, ...] = PAIRED_METRICS) -> dict:
    """{scenario: {iid|ood|rl: compare_cell}} over the sets and scenarios either side has."""
    keyed = {"a": _by_key(a_rows, "a"), "b": _by_key(b_rows, "b")}
    cells: dict[tuple, dict[str, dict]] = defaultdict(lambda: {"a": {}, "b": {}})
    splits = {split: column for column, split in TABLE1_SPLITS.items()}
    for side, rows in keyed.items():
        for key, r in rows.items():
            if r["split"] in splits:
                cells[(r["scenario"], splits[r["split"]])][side][key] = r
    out: dict[str, dict] = {}
    for scenario in SCENARIOS:
        for column in TABLE1_SPLITS:
            if (scenario, column) in cells:
                sides = cells[(scenario, column)]
                out.setdefault(scenario, {})[column] = compare_cell(sides["a"], sides["b"], metrics)
    return out


def _diff_cell(est: dict, b_name: str) -> str:
    if not est["count"]:
        return "—"
    if est["low"] is None:
        return f"{est['diff']:+.3f} (1 pair)"
    return (f"{est['diff']:+.3f} [{est['low']:+.3f}, {est['high']:+.3f}] "
            f"({est['count']} pairs; {b_name} lower in {100 * est['b_lower_fraction']:.0f} %)")


def _counts_cell(c: dict, a_name: str, b_name: str) -> str:
    text = f"{c['conditions']} matched; untracked: {a_name} {c['untracked_a']}, {b_name} {c['untracked_b']}"
    if c["only_a"] or c["only_b"]:
        text += f"; unmatched: only {a_name} {c['only_a']}, only {b_name} {c['only_b']}"
    return text


def paired_markdown(comparison: dict, metric: str, b_name: str) -> str:
    """One row per scenario, a column per set: `b − a [95 % CI] (pairs; b lower in x %)`."""
    lines = ["| scenario | IID | OOD | RL |", "| --- | --- | --- | --- |"]
    for scenario, cols in comparison.items():
        cells = [_diff_cell(cols[c][metric], b_name) if c in cols else "" for c in TABLE1_SPLITS]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def counts_markdown(comparison: dict, a_name: str, b_name: str) -> str:
    """Per scenario and set: matched conditions, untracked videos per side, unmatched ones."""
    lines = ["| scenario | IID | OOD | RL |", "| --- | --- | --- | --- |"]
    for scenario, cols in comparison.items():
        cells = [_counts_cell(cols[c], a_name, b_name) if c in cols else "" for c in TABLE1_SPLITS]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
