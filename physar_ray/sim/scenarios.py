"""Scenarios, splits, OOD levels and the sampling of each video's degrees of freedom (docs/method.md §2).

Every video is a pure function of (scenario, split, seed, index): the random generator is
seeded from those four numbers (and the resampling attempt), never from global state.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from physar_ray.config import SCENARIOS, SPLITS, DataConfig, ParamRanges

DOFS = {
    "uniform": ("r", "v"),
    "parabola": ("r", "v"),
    "collision": ("r1", "v1", "r2", "v2"),
}
"""Degrees of freedom per scenario: radii r and initial speeds v (ball 1, ball 2)."""

OOD_LEVELS = {
    "uniform": {1: ("r",), 2: ("v",), 3: ("r", "v")},
    "parabola": {1: ("r",), 2: ("v",), 3: ("r", "v")},
    "collision": {
        1: ("r1",),
        2: ("v1",),
        3: ("r1", "r2"),
        4: ("v1", "v2"),
        5: ("r1", "v1"),
        6: ("r1", "v1", "r2", "v2"),
    },
}
"""Which DoF each OOD level draws from the OOD range; the others stay in-distribution."""

NUM_BALLS = {"uniform": 1, "parabola": 1, "collision": 2}


def check_names(scenario: str, split: str) -> None:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: allowed are {', '.join(SCENARIOS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: allowed are {', '.join(SPLITS)}")


def video_rng(scenario: str, split: str, seed: int, index: int, attempt: int = 0) -> np.random.Generator:
    """The generator for one video attempt; stable across processes and Python versions."""
    key = [zlib.crc32(scenario.encode()), zlib.crc32(split.encode()), seed, index, attempt]
    return np.random.default_rng(key)


def ood_level(scenario: str, split: str, index: int) -> int:
    """0 for in-distribution splits; eval_ood cycles through the scenario's levels by index."""
    if split != "eval_ood":
        return 0
    return 1 + index % len(OOD_LEVELS[scenario])


def from_unit(u: float, intervals: tuple[tuple[float, float], ...]) -> float:
    """Map u ∈ [0, 1] onto a union of intervals, proportionally to their lengths (monotone)."""
    lengths = np.array([b - a for a, b in intervals], dtype=np.float64)
    total = lengths.sum()
    if total == 0:
        return float(intervals[0][0])
    target = u * total
    for (a, b), length in zip(intervals, lengths):
        if target <= length:
            return float(a + target)
        target -= length
    return float(intervals[-1][1])


def grid_units(n: int) -> np.ndarray:
    """Unit-interval positions of the sft grid: n evenly spaced points including both ends."""
    return np.linspace(0.0, 1.0, n)


def _dof_range(dof: str, ranges: ParamRanges) -> tuple[tuple[float, float], ...]:
    return ranges.radius if dof.startswith("r") else ranges.speed


def sample_dofs(scenario: str, split: str, level: int, rng: np.random.Generator, cfg: DataConfig) -> dict[str, float]:
    """Draw the radii and speeds of one video for its split and OOD level.

    sft: a random point of the in-distribution grid (``cfg.grid_points`` per DoF).
    eval_iid: inside a random grid cell, at least a quarter of a cell from every grid line,
    so no eval point coincides with a training point. rl: uniform over the rl union.
    eval_ood: the level's DoF uniform over the OOD union, the rest uniform in-distribution.
    """
    n = cfg.grid_points
    ood_dofs = OOD_LEVELS[scenario].get(level, ()) if split == "eval_ood" else ()
    out = {}
    for dof in DOFS[scenario]:
        if split == "sft":
            u = grid_units(n)[rng.integers(n)]
            out[dof] = from_unit(u, _dof_range(dof, cfg.ranges.sft))
        elif split == "eval_iid":
            u = (rng.integers(n - 1) + rng.uniform(0.25, 0.75)) / (n - 1)
            out[dof] = from_unit(u, _dof_range(dof, cfg.ranges.sft))
        elif split == "rl":
            out[dof] = from_unit(rng.uniform(), _dof_range(dof, cfg.ranges.rl))
        else:
            ranges = cfg.ranges.eval_ood if dof in ood_dofs else cfg.ranges.sft
            out[dof] = from_unit(rng.uniform(), _dof_range(dof, ranges))
    return out


def place(scenario: str, dofs: dict[str, float], rng: np.random.Generator, cfg: DataConfig) -> dict[str, Any]:
    """Initial positions and velocities (world units) for the sampled DoF.

    Motion starts horizontal, left to right for ball 1. uniform/parabola keep the ball fully
    in view for the whole video where the distance allows. collision is head-on on one
    horizontal line: ball 2 comes from the right, and the gap is chosen so first contact
    happens between frames k and k+1 for a k inside ``cfg.contact_frames``.
    """
    w = cfg.world_size
    duration = (cfg.num_frames - 1) * cfg.frame_dt
    if scenario in ("uniform", "parabola"):
        r, v = dofs["r"], dofs["v"]
        travel = v * duration
        x0 = rng.uniform(r, max(r, w - r - travel))
        y0 = rng.uniform(r, w - r) if scenario == "uniform" else rng.uniform(max(r, w / 2), w - r)
        return {"x": [x0], "y": [y0], "vx": [v], "vy": [0.0], "radii": [r]}
    r1, v1, r2, v2 = dofs["r1"], dofs["v1"], dofs["r2"], dofs["v2"]
    closing = v1 + v2
    # Contact strictly inside frame intervals [first, last + 1) so the frame grid never splits it.
    t_lo, t_hi = ((f + frac) * cfg.frame_dt for f, frac in zip(cfg.contact_frames, (0.05, 0.95)))
    # Start fully in view when the closing distance allows, else with the centres in view.
    margin1, margin2 = r1, r2
    if closing > 0 and (w - 2 * r1 - 2 * r2) / closing < t_lo:
        margin1 = margin2 = 0.0
    t_fit = (w - margin1 - margin2 - r1 - r2) / closing if closing > 0 else np.inf
    t_contact = rng.uniform(t_lo, min(t_hi, max(t_lo, t_fit)))
    gap = closing * t_contact
    x1_lo = margin1 + v1 * t_contact
    x1_hi = w - margin2 - r1 - r2 - v2 * t_contact
    x1_contact = rng.uniform(x1_lo, max(x1_lo, x1_hi))
    y = rng.uniform(max(r1, r2), w - max(r1, r2))
    x1 = x1_contact - v1 * t_contact
    x2 = x1 + r1 + r2 + gap
    return {
        "x": [x1, x2],
        "y": [y, y],
        "vx": [v1, -v2],
        "vy": [0.0, 0.0],
        "radii": [r1, r2],
        "t_contact": t_contact,
    }


def sample_params(scenario: str, split: str, seed: int, index: int, attempt: int, cfg: DataConfig) -> dict[str, Any]:
    """All sampled numbers of one video attempt: DoF, OOD level and initial state (JSON-able)."""
    check_names(scenario, split)
    rng = video_rng(scenario, split, seed, index, attempt)
    level = ood_level(scenario, split, index)
    dofs = sample_dofs(scenario, split, level, rng, cfg)
    return {
        "scenario": scenario,
        "ood_level": level,
        "ood_dofs": list(OOD_LEVELS[scenario].get(level, ())) if split == "eval_ood" else [],
        "dofs": dofs,
        "attempt": attempt,
        "init": place(scenario, dofs, rng, cfg),
    }
