"""Evaluation plots (PNG bytes): v_err by OOD level, tracked vs true paths, reward vs v_err."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from physar_ray.config import SCENARIOS, MeasureConfig  # noqa: E402
from physar_ray.measure.tracker import Tracks  # noqa: E402
from physar_ray.records import VideoRecord  # noqa: E402

BALL_STYLES = ("tab:red", "tab:blue")


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def verr_by_ood_level(metrics: dict) -> bytes:
    """Mean v_err per OOD level (0 = eval_iid) and scenario, one panel per source, log scale."""
    sources = sorted({g["source"] for g in metrics["groups"]}, key=lambda s: s != "data")
    fig, axes = plt.subplots(1, len(sources), figsize=(4.5 * len(sources), 3.5), squeeze=False)
    for ax, source in zip(axes[0], sources):
        for scenario in SCENARIOS:
            pts = sorted((g["ood_level"], g["v_err"]) for g in metrics["groups"]
                         if g["source"] == source and g["scenario"] == scenario
                         and g["split"] in ("eval_iid", "eval_ood") and g["v_err"] is not None)
            if pts:
                ax.plot(*zip(*pts), "o-", label=scenario)
        ax.set_yscale("log")
        ax.set_xlabel("OOD level (0 = IID)")
        ax.set_ylabel("mean v_err (units/s)")
        ax.set_title(source)
        ax.legend(fontsize=7)
    return _png(fig)


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
    return _png(fig)


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
    return _png(fig)
