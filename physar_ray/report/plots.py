"""Plots as PNG bytes: v_err by OOD level, tracked vs true paths, reward vs v_err (`physar eval`), GRPO's
reward curve and a sweep's trials (`physar tune sweep`). Every stage turns its figures into PNGs with
:func:`figure_png`."""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from physar_ray.config import SCENARIOS, MeasureConfig  # noqa: E402
from physar_ray.measure.tracker import Tracks  # noqa: E402
from physar_ray.records import VideoRecord  # noqa: E402
from physar_ray.report import tables  # noqa: E402

BALL_STYLES = ("tab:red", "tab:blue")


EVAL_DPI = 90
"""Resolution of the evaluation plots (dots per inch)."""


def figure_png(fig: plt.Figure, dpi: float | str = "figure") -> bytes:
    """The figure, laid out tight, as PNG bytes at ``dpi`` ("figure": the figure's own); the figure is closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


SET_ORDER = {"eval_iid": 0, "eval_ood": 1, "rl": 2}
MARKERS = "os^vDP<>"


def verr_by_level(groups: list[dict], order: tuple[str, ...] = ()) -> bytes:
    """v_err, mean with its 95 % interval, per scenario (one panel each) and set: IID, each OOD level
    named by what it draws out of range (r, v, r+v, ...), RL. One marker per source side by side and
    no lines between levels: they are categories, not a scale. Log axis. Sources named in ``order``
    come first, in that order."""
    scenarios = [s for s in SCENARIOS if any(g["scenario"] == s for g in groups)]
    found = tables.sources({"groups": groups})
    sources = [s for s in order if s in found] + [s for s in found if s not in order]
    width = 0.8 / len(sources)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(3.2 + 1.6 * len(scenarios) * len(sources) ** 0.5, 3.6),
                             squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        mine = {(g["source"], SET_ORDER[g["split"]], g["split"], g["ood_level"]): g for g in groups
                if g["scenario"] == scenario and g["split"] in SET_ORDER}
        cells = sorted({key[1:] for key in mine})
        drawn = False
        for i, (source, marker) in enumerate(zip(sources, itertools.cycle(MARKERS))):
            xs, ys, below, above = [], [], [], []
            for x, cell in enumerate(cells):
                group = mine.get((source, *cell))
                est = (group or {}).get("ci", {}).get("v_err") or {"mean": (group or {}).get("v_err")}
                if est["mean"] is None:
                    continue
                xs.append(x - 0.4 + width * (i + 0.5))
                ys.append(est["mean"])
                below.append(est["mean"] - est["low"] if est.get("low") is not None else 0.0)
                above.append(est["high"] - est["mean"] if est.get("high") is not None else 0.0)
            if xs:
                ax.errorbar(xs, ys, yerr=[below, above], fmt=marker, ms=4, capsize=2, lw=1, label=source)
                drawn = True
        ax.set_xticks(range(len(cells)), [tables.set_name(scenario, split, level) for _, split, level in cells],
                      rotation=45, fontsize=7)
        if drawn:  # a panel whose videos were all untracked stays empty (and linear)
            ax.set_yscale("log", nonpositive="clip")
        ax.set_title(scenario)
        ax.grid(axis="y", alpha=0.3, which="both")
    axes[0][0].set_ylabel("v_err (units/s): mean, 95 % CI")
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(fontsize=7)
    return figure_png(fig, EVAL_DPI)


def trajectories(videos: list[tuple[str, VideoRecord, Tracks]]) -> bytes:
    """Tracked (dots) vs true (lines) centres in world units, one panel per (title, video, tracks)."""
    fig, axes = plt.subplots(1, len(videos), figsize=(4 * len(videos), 4), squeeze=False)
    for ax, (title, rec, tracks) in zip(axes[0], videos):
        size = rec.states.world_size
        for i in range(rec.states.num_balls):
            true = rec.states.positions[:, i]
            ok = tracks.valid[:, i]
            ax.plot(true[:, 0], true[:, 1], "-", color=BALL_STYLES[i % 2], lw=1, label=f"ball {i + 1} true")
            ax.plot(tracks.centres[ok, i, 0], tracks.centres[ok, i, 1], ".", color=BALL_STYLES[i % 2], ms=4,
                    label=f"ball {i + 1} tracked")
        ax.set_xlim(0, size), ax.set_ylim(0, size), ax.set_aspect("equal")
        ax.set_title(f"{title}\n{rec.scenario}/{rec.split} #{rec.index}", fontsize=8)
        ax.legend(fontsize=6)
    return figure_png(fig, EVAL_DPI)


def reward_vs_verr(rows: list[dict], cfg: MeasureConfig) -> bytes:
    """Scored videos' R against v_err, over the curve α·exp(−k·v) + 1 (R at r_err = 0)."""
    ok = [r for r in rows if r["reason"] == "ok"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    top = max([r["v_err"] for r in ok] + [3.0 / max(cfg.k, 1e-6)])
    v = np.linspace(0, top, 200)
    ax.plot(v, cfg.alpha * np.exp(-cfg.k * v) + 1, "k-", lw=1, label=f"α·exp(−k·v)+1, α={cfg.alpha:g}, k={cfg.k:g}")
    for source, marker in zip(sorted({r["source"] for r in ok}), "o^sv"):
        pts = [(r["v_err"], r["reward"]) for r in ok if r["source"] == source and math.isfinite(r["v_err"])]
        if pts:
            ax.plot(*zip(*pts), marker, ms=3, alpha=0.6, label=source)
    ax.set_xlabel("v_err (units/s)")
    ax.set_ylabel("reward R")
    ax.legend(fontsize=7)
    return figure_png(fig, EVAL_DPI)


def reward_curve(history: list[dict[str, Any]]) -> bytes:
    """GRPO's mean step reward (± std) by step; eval v_err (RL range, OOD) on a second axis."""
    steps = [h for h in history if "grpo/reward_mean" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if steps:
        x = np.array([h["grpo/step"] for h in steps])
        y, s = np.array([h["grpo/reward_mean"] for h in steps]), np.array([h["grpo/reward_std"] for h in steps])
        ax.plot(x, y, color="tab:blue", label="reward (mean)")
        ax.fill_between(x, y - s, y + s, color="tab:blue", alpha=0.15)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("reward R = R_vel + R_mass")
    evals = [h for h in history if "eval/weights_version" in h]
    if evals:
        ax2 = ax.twinx()
        for name, colour in (("rl", "tab:green"), ("ood", "tab:red")):
            pts = [(h["grpo/step"], h.get(f"eval/{name}_v_err_mean")) for h in evals]
            pts = [(a, b) for a, b in pts if b is not None]
            if pts:
                ax2.plot(*zip(*pts), "o--", color=colour, label=f"eval {name} v_err")
        ax2.set_ylabel("v_err (units/s)")
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    return figure_png(fig)


def sweep_plot(histories: dict[str, list[tuple[int, float]]], rows: list[dict[str, Any]], metric: str,
               best: str | None) -> bytes:
    """A sweep's ``metric`` over GRPO steps per trial (left: the measured (step, value) points of each
    trial id) and each trial's last value (right: ``rows`` as trials.csv holds them); trial ``best`` in red."""
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(11, 4), dpi=90)
    for trial_id, pts in sorted(histories.items()):
        if pts:
            ax.plot(*zip(*pts), "o-", ms=3, lw=1, label=trial_id, color="tab:red" if trial_id == best else None)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(f"{metric} (units/s)")
    ax.set_title(f"{metric} at each evaluation (lower is better)")
    if len(histories) <= 12:
        ax.legend(fontsize=7)
    ordered = sorted(rows, key=lambda r: r["trial_id"])
    labels = [f"α={r['alpha']:g} k={r['k']:g}\nβ={r['beta']:g} g={r['group_size']} ({r['steps']})" for r in ordered]
    heights = [r[metric] if r[metric] is not None else 0.0 for r in ordered]
    colours = ["tab:red" if r["trial_id"] == best else "tab:gray" if r["status"] == "stopped" else "tab:blue"
               for r in ordered]
    bar.bar(range(len(ordered)), heights, color=colours)
    bar.set_xticks(range(len(ordered)), labels, fontsize=6, rotation=90 if len(ordered) > 8 else 0)
    bar.set_ylabel(f"last {metric} (units/s)")
    bar.set_title("per trial (red: best, grey: stopped early; steps in brackets)")
    return figure_png(fig)
