"""metrics.json and report.md from per-video rows (`physar eval score`).

Means of v_err, v_drift, r_err, centre_err_px and the phyworld columns are over the videos scored
"ok" (the rest got the floor reward and are counted in ``floored``); rewards and valid fractions
are over all. v_err and v_drift also carry a count and a 95 % bootstrap interval (``ci``), and
every table cell of them shows all three.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from physar_ray.config import SCENARIOS
from physar_ray.measure.baselines import PREDICTORS
from physar_ray.sim.scenarios import OOD_LEVELS
from physar_ray.report.statistics import mean_ci

GROUP_KEYS = ("source", "scenario", "split", "ood_level")
OK_MEANS = ("v_err", "v_drift", "r_err", "centre_err_px", "phyworld", "phyworld_pre", "phyworld_post")
CI_METRICS = ("v_err", "v_drift", "r_err")
"""Per-video metrics whose cells give count, mean and 95 % bootstrap interval over the tracked videos
(report/statistics.py)."""
TRACKED = "tracked"
"""The fraction of a group's videos that were tracked (reason "ok"), with its bootstrap interval over
all the group's videos: ``ci["tracked"]``."""
ALL_MEANS = ("r_vel", "r_mass", "reward", "valid_fraction")
TABLE1_SPLITS = {"iid": "eval_iid", "ood": "eval_ood", "rl": "rl"}
"""Paper Table 1 columns (in- and out-of-distribution evaluation splits) plus the RL-range set of Table 2."""


def set_name(scenario: str, split: str, level: int) -> str:
    """IID, RL, or an OOD level named by the degrees of freedom it draws out of range (r, v, r+v,
    r1+v1, ...: sim.scenarios.OOD_LEVELS)."""
    if split != "eval_ood":
        return {"eval_iid": "IID", "rl": "RL"}.get(split, split)
    return "OOD " + "+".join(OOD_LEVELS[scenario].get(level, (str(level),)))


def _finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _mean(values: Iterable[float | None]) -> float | None:
    finite = _finite(values)
    return sum(finite) / len(finite) if finite else None


def summarise(rows: list[dict]) -> dict:
    """Means and counts of one group of per-video rows (None where nothing was measurable).

    A column missing from the rows (per_video files written before it existed) counts as not
    measured. ``ci``: {v_err, v_drift, r_err: {count, mean, low, high}} over the "ok" videos, and
    {tracked: ...} the tracked fraction over all of them.
    """
    ok = [r for r in rows if r["reason"] == "ok"]
    out: dict = {"count": len(rows), "ok": len(ok), "floored": len(rows) - len(ok)}
    out.update({m: _mean(r.get(m) for r in ok) for m in OK_MEANS})
    out["ci"] = {m: mean_ci(_finite(r.get(m) for r in ok)).as_dict() for m in CI_METRICS}
    out["ci"][TRACKED] = mean_ci([float(r["reason"] == "ok") for r in rows]).as_dict()
    out["phyworld_count"] = len(_finite(r.get("phyworld") for r in ok))
    out.update({m: _mean(r[m] for r in rows) for m in ALL_MEANS})
    reasons: dict[str, int] = defaultdict(int)
    for r in rows:
        reasons[r["reason"]] += 1
    out["reasons"] = dict(sorted(reasons.items()))
    return out


def group_metrics(rows: list[dict]) -> dict:
    """{"groups": [per source/scenario/split/OOD level], "table1": {source: {scenario: {iid, ood}}}}."""
    if not rows:
        raise ValueError("no per-video rows to summarise: the dataset was empty")
    groups: dict[tuple, list[dict]] = defaultdict(list)
    table1: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in GROUP_KEYS)].append(r)
        for column, split in TABLE1_SPLITS.items():
            if r["split"] == split:
                table1[(r["source"], r["scenario"], column)].append(r)
    nested: dict = defaultdict(lambda: defaultdict(dict))
    for (source, scenario, column), members in sorted(table1.items()):
        nested[source][scenario][column] = summarise(members)
    return {
        "groups": [{**dict(zip(GROUP_KEYS, key)), **summarise(members)} for key, members in sorted(groups.items())],
        "table1": {s: dict(v) for s, v in nested.items()},
        "total": summarise(rows),
    }


def fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def ci_cell(est: dict | None, digits: int = 4) -> str:
    """`mean [low, high] (n)` of a mean_ci dict; `mean (1)` for a single value, — for none."""
    if not est or not est["count"]:
        return "—"
    if est["low"] is None:
        return f"{est['mean']:.{digits}f} ({est['count']})"
    return f"{est['mean']:.{digits}f} [{est['low']:.{digits}f}, {est['high']:.{digits}f}] ({est['count']})"


def cell(group: dict, metric: str) -> str:
    """One table cell of a summarise() group: count, mean and interval for CI_METRICS, else the mean."""
    if metric in group.get("ci", {}):  # CI_METRICS and TRACKED, in metrics written since they were added
        return ci_cell(group["ci"][metric])
    return fmt(group.get(metric))


def sources(metrics: dict) -> list[str]:
    """The sources of a metrics dict: the scored videos' own first, the reference predictors after."""
    names = sorted({g["source"] for g in metrics["groups"]})
    return sorted(names, key=lambda s: s in PREDICTORS)


def own_table1(metrics: dict) -> dict:
    """``table1`` of the scored videos themselves (the one source that is no reference predictor)."""
    own = [s for s in metrics["table1"] if s not in PREDICTORS]
    if len(own) > 1:
        raise ValueError(f"metrics hold videos of several sources {own}; expected one beside the predictors")
    return metrics["table1"][own[0]] if own else {}


def _scenarios(metrics: dict) -> list[str]:
    return [s for s in SCENARIOS if any(g["scenario"] == s for g in metrics["groups"])]


def table1_markdown(metrics: dict, metric: str) -> str:
    """Paper Table 1 layout: one row per source, `IID / OOD / RL` per scenario (means)."""
    scenarios = _scenarios(metrics)
    lines = ["| source | " + " | ".join(scenarios) + " |", "| --- |" + " --- |" * len(scenarios)]
    for source in sources(metrics):
        cells = []
        for scenario in scenarios:
            cols = metrics["table1"].get(source, {}).get(scenario, {})
            cells.append(" / ".join(fmt(cols.get(c, {}).get(metric)) for c in TABLE1_SPLITS))
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table1_ci_markdown(metrics: dict, metric: str) -> str:
    """Table 1 with one row per source and scenario and a column per set, each cell
    `mean [95 % CI] (videos)`."""
    lines = ["| source | scenario | IID | OOD | RL |", "| --- | --- | --- | --- | --- |"]
    for source in sources(metrics):
        for scenario in _scenarios(metrics):
            cols = metrics["table1"].get(source, {}).get(scenario, {})
            if cols:
                lines.append(f"| {source} | {scenario} | " + " | ".join(cell(cols.get(c, {}), metric) for c in TABLE1_SPLITS) + " |")
    return "\n".join(lines)


def ood_level_markdown(metrics: dict, metric: str) -> str:
    """eval_ood by OOD level: one row per source and scenario, one column per level."""
    ood = [g for g in metrics["groups"] if g["split"] == "eval_ood"]
    levels = sorted({g["ood_level"] for g in ood})
    if not levels:
        return "_no eval_ood videos_"
    lines = ["| source | scenario | " + " | ".join(f"level {lv}" for lv in levels) + " |",
             "| --- | --- |" + " --- |" * len(levels)]
    for source in sources(metrics):
        for scenario in SCENARIOS:
            by_level = {g["ood_level"]: g for g in ood if g["source"] == source and g["scenario"] == scenario}
            if by_level:
                cells = [cell(by_level[lv], metric) if lv in by_level else "" for lv in levels]
                lines.append(f"| {source} | {scenario} | " + " | ".join(cells) + " |")
    named = [f"{scenario} " + ", ".join(f"{lv} = {set_name(scenario, 'eval_ood', lv)[4:]}" for lv in levels
                                        if any(g["ood_level"] == lv and g["scenario"] == scenario for g in ood))
             for scenario in SCENARIOS if any(g["scenario"] == scenario for g in ood)]
    return "\n".join(lines) + "\n\nLevels (what each draws out of range): " + "; ".join(named) + "."


def groups_markdown(metrics: dict) -> str:
    cols = ("count", "ok", "v_err", "v_drift", "r_err", "r_vel", "r_mass", "reward", "valid_fraction", "phyworld")
    lines = ["| " + " | ".join(GROUP_KEYS + cols) + " |", "|" + " --- |" * (len(GROUP_KEYS) + len(cols))]
    for g in metrics["groups"]:
        cells = [str(g[k]) for k in GROUP_KEYS] + [str(g[c]) if isinstance(g[c], int) else cell(g, c) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


CI_NOTE = ("Cells: mean over the tracked videos [95 % bootstrap interval] (number of videos); "
           "v_drift is the mean-velocity error, which unlike eq. 4 does not count frame-to-frame jitter.")


def report_markdown(metrics: dict, data_uri: str, plots: list[str]) -> str:
    """report.md: v_err and v_drift with intervals, the phyworld metric, reward, OOD levels, every group, plots."""
    total = metrics["total"]
    reasons = ", ".join(f"{k}: {v}" for k, v in total["reasons"].items())
    parts = [
        f"# Evaluation of {data_uri}",
        f"{total['count']} scored videos (all sources); {total['floored']} got the floor reward ({reasons}).",
        "Sources: `data` is the dataset's own frames (for simulator data this is the tracker floor); "
        "`static` and `constant_velocity` are reference predictors that see only the conditioning frames.",
        "## Velocity error v_err (eq. 4, units/s)", CI_NOTE, table1_ci_markdown(metrics, "v_err"),
        "## Mean-velocity error v_drift (units/s)", table1_ci_markdown(metrics, "v_drift"),
        "## PhyWorld evaluator metric (units/s), IID / OOD / RL", table1_markdown(metrics, "phyworld"),
        "Collisions: `phyworld` is the mean of PhyWorld's two windows, before the contact (`phyworld_pre`) "
        "and after it (`phyworld_post`), shown apart here.",
        "### Before contact, IID / OOD / RL", table1_markdown(metrics, "phyworld_pre"),
        "### After contact, IID / OOD / RL", table1_markdown(metrics, "phyworld_post"),
        "## Reward R, IID / OOD / RL", table1_markdown(metrics, "reward"),
        "## v_err by OOD level (eval_ood)", ood_level_markdown(metrics, "v_err"),
        "## Every group", groups_markdown(metrics),
        "## Plots", "\n".join(f"![{p}]({p})" for p in plots),
    ]
    return "\n\n".join(parts) + "\n"
