"""Learning curves as PNGs from the metrics.jsonl files the training stages leave in a run folder: the
tokenizer's loss and reconstruction error, SFT's loss, GRPO's reward, KL and held-out v_err, each by step.
``write_curves(run)`` draws those whose metrics exist into ``<run>/curves/`` (report.md shows them); the
stages' own tracking (MLflow, TensorBoard) shows the same numbers live."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from physar_ray import layout, storage  # noqa: E402
from physar_ray.layout import RunLayout  # noqa: E402
from physar_ray.report.plots import figure_png  # noqa: E402

CURVE_DPI = 90


def read_jsonl(uri: str) -> list[dict[str, Any]]:
    """One dict per non-empty line of a metrics.jsonl (local or s3://); [] when the file does not exist."""
    if not storage.exists(uri):
        return []
    return [json.loads(line) for line in storage.read_text(uri).splitlines() if line.strip()]


def series(records: list[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    """The (x, y) points of the records holding both as finite numbers (null, NaN: not measured)."""
    xs, ys = [], []
    for record in records:
        a, b = record.get(x), record.get(y)
        if isinstance(a, int | float) and isinstance(b, int | float) and math.isfinite(a) and math.isfinite(b):
            xs.append(float(a))
            ys.append(float(b))
    return xs, ys


def _panel(ax: Any, records: list[dict[str, Any]], x: str, lines: list[tuple[str, str]], ylabel: str,
           log: bool = False) -> None:
    for key, label in lines:
        xs, ys = series(records, x, key)
        if xs:
            ax.plot(xs, ys, "-" if len(xs) > 20 else "o-", ms=3, lw=1, label=label)
            if log and min(ys) > 0:
                ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def tokenizer_curves(records: list[dict[str, Any]]) -> bytes:
    """The tokenizer's training loss and reconstruction MSE (log scale), and the codes in use, by step."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    _panel(axes[0], records, "step", [("ddt/loss", "loss")], "training loss", log=True)
    _panel(axes[1], records, "step", [("ddt/recon_mse", "reconstruction MSE")], "reconstruction error", log=True)
    _panel(axes[2], records, "step", [("ddt/codes_used", "codes used")], "codes used")
    for ax in axes:
        ax.set_xlabel("tokenizer step")
    return figure_png(fig, CURVE_DPI)


def sft_curves(records: list[dict[str, Any]]) -> bytes:
    """SFT's loss (cross-entropy per token, nats) and learning rate by optimizer step."""
    fig, (ax, lr) = plt.subplots(1, 2, figsize=(9, 3.2))
    _panel(ax, records, "sft/step", [("sft/loss", "loss")], "cross-entropy (nats/token)")
    _panel(lr, records, "sft/step", [("sft/lr", "learning rate")], "learning rate")
    for a in (ax, lr):
        a.set_xlabel("SFT step")
    return figure_png(fig, CURVE_DPI)


def grpo_curves(records: list[dict[str, Any]]) -> bytes:
    """GRPO's mean step reward, its KL to the reference and the held-out v_err (RL range, OOD), by step."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    _panel(axes[0], records, "grpo/step", [("grpo/reward_mean", "reward (mean)")], "reward R")
    _panel(axes[1], records, "grpo/step", [("grpo/kl", "KL to the reference")], "KL")
    _panel(axes[2], records, "grpo/step", [("eval/rl_v_err_mean", "held-out RL range"),
                                           ("eval/ood_v_err_mean", "OOD")], "v_err (units/s)")
    for ax in axes:
        ax.set_xlabel("GRPO step")
    return figure_png(fig, CURVE_DPI)


CURVES: tuple[tuple[str, str, str, Callable[[list[dict[str, Any]]], bytes]], ...] = (
    ("Tokenizer training", layout.TOKENIZER_METRICS, layout.TOKENIZER_CURVES, tokenizer_curves),
    ("SFT loss", layout.SFT_METRICS, layout.SFT_CURVES, sft_curves),
    ("GRPO reward, KL and held-out v_err", layout.GRPO_METRICS, layout.GRPO_CURVES, grpo_curves),
)
"""(title, metrics file, PNG, drawing) per training stage, paths relative to the run folder."""


def write_curves(out: str) -> list[tuple[str, str]]:
    """Draw the curve of every stage whose metrics.jsonl holds records; returns (title, PNG path) of those."""
    run, drawn = RunLayout(out), []
    for title, metrics, png, draw in CURVES:
        records = read_jsonl(run.path(metrics))
        if records:
            storage.write_bytes(run.path(png), draw(records))
            drawn.append((title, png))
    return drawn
