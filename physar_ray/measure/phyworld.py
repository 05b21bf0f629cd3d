"""PhyWorld's released evaluator on our tracks: the ``phyworld`` compatibility columns (docs/method.md §3).

Our reading of github.com/phyworld/phyworld, ``id_ood_data/evaluate.py`` (``evaluate_xy``,
``evaluate_xy_collision`` and the per-scenario drivers ``eval_uniform``, ``eval_parabola``,
``eval_collision``), re-implemented on our tracks; docs/measurement.md lists what still differs.

- Window: frames from index 3 on (their ``CONDITION_FRAMES = 4``, frames ``i ≥ CONDITION_FRAMES − 1``),
  in which their in-view rule holds for the true balls. Velocities are x-only finite differences.
- One ball (uniform, parabola): |mean_t v_x − v0| once per video, v0 the launch speed.
- Collision: the contact pair is the first window pair whose true v_x (either ball) differs from
  the previous pair's by more than 0.1 units/s. ``pre`` = pairs before it, ``post`` = pairs after
  it (the contact pair itself in neither); each = mean over the two balls of
  |mean_t v_x − mean_t v̂_x| over that window (their ``pre_vel_error`` / ``post_vel_error``).
- Small balls are dropped from their test sets: r < 0.6 with one ball, r ≤ 0.5 (either) in collisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physar_ray.measure.errors import frame_velocities, per_ball_mean

MIN_RADIUS = {1: 0.6, 2: 0.5}
"""Balls PhyWorld drops from its test sets: r < 0.6 with one ball, r ≤ 0.5 in collisions."""

CONTACT_JUMP = 0.1
"""PhyWorld's collision pair: the first whose true x velocity jumps by more than this (units/s)."""

FIRST_FRAME = 3
"""First frame PhyWorld scores (its CONDITION_FRAMES − 1 with CONDITION_FRAMES = 4): with our 3
conditioning frames that is the first predicted frame, so both score the same frames of a video."""

NAN = float("nan")


@dataclass(frozen=True)
class PhyWorldScore:
    """value: the ``phyworld`` column (one ball: |mean v_x − v0|; collision: (pre + post) / 2);
    pre, post: PhyWorld's collision windows (NaN with one ball). NaN = excluded or not measurable."""

    value: float
    pre: float
    post: float


def excluded(radii: np.ndarray) -> bool:
    """True when PhyWorld's test sets drop the video for its small balls (radii [N])."""
    n = len(radii)
    if n not in MIN_RADIUS:
        raise ValueError(f"phyworld metric defined for 1 or 2 balls, got {n}")
    return bool(np.any(radii <= MIN_RADIUS[n]) if n == 2 else np.any(radii < MIN_RADIUS[n]))


def window_pairs(true: np.ndarray, radii: np.ndarray, world_size: float, cond_frames: int) -> np.ndarray:
    """[P] bool: pairs of adjacent frames both in PhyWorld's window (true centres [T, N, 2], radii [N]).

    Frames from max(FIRST_FRAME, cond_frames − 1) on (never earlier than our last conditioning
    frame) in which the in-view rule holds: one ball fully inside; collision: ball 1's left edge
    and ball 2's right edge inside (PhyWorld's generator keeps the balls inside vertically).
    """
    r = radii[None, :]
    if true.shape[1] == 1:
        inside = np.all((true - r[..., None] >= 0) & (true + r[..., None] <= world_size), axis=(1, 2))
    else:
        inside = (true[:, 0, 0] - r[0, 0] >= 0) & (true[:, 1, 0] + r[0, 1] <= world_size)
    kept = inside.copy()
    kept[: max(FIRST_FRAME, cond_frames - 1)] = False
    return kept[1:] & kept[:-1]


def contact_pair(true_vx: np.ndarray, pairs: np.ndarray) -> int | None:
    """Index of the first window pair whose true v_x [P, N] jumps by > CONTACT_JUMP against the
    window pair before it; PhyWorld's fallback, the last window pair, when none does; None if no pairs."""
    idx = np.flatnonzero(pairs)
    if idx.size == 0:
        return None
    jumps = np.flatnonzero(np.abs(np.diff(true_vx[idx], axis=0)).max(axis=1) > CONTACT_JUMP)
    return int(idx[jumps[0] + 1]) if jumps.size else int(idx[-1])


def window_error(vx: np.ndarray, true_vx: np.ndarray, mask: np.ndarray) -> float:
    """Mean over balls of |mean v_x − mean v̂_x| over each ball's masked pairs ([P, N] each); NaN
    unless every ball has a masked pair."""
    means, has = per_ball_mean(vx, mask)
    true_means, _ = per_ball_mean(true_vx, mask)
    return float(np.mean(np.abs(means - true_means))) if has.all() else NAN


def phyworld_score(tracked: np.ndarray, true: np.ndarray, valid: np.ndarray, radii: np.ndarray,
                   v0: float, dt: float, world_size: float, cond_frames: int) -> PhyWorldScore:
    """PhyWorld's metric on tracked centres (see the module docstring); all NaN when excluded.

    tracked, true: [T, N, 2] world centres; valid: [T, N] tracked cleanly (a pair with an
    untracked frame is skipped, where PhyWorld substitutes a default position); radii: [N] true;
    v0: ball 1's launch speed along x (units/s).
    """
    if excluded(radii):
        return PhyWorldScore(NAN, NAN, NAN)
    pairs = window_pairs(true, radii, world_size, cond_frames)
    ok = pairs[:, None] & valid[1:] & valid[:-1]  # [P, N]
    vx = frame_velocities(tracked, dt)[..., 0]
    if true.shape[1] == 1:
        value = float(abs(vx[ok[:, 0], 0].mean() - v0)) if ok.any() else NAN
        return PhyWorldScore(value, NAN, NAN)
    true_vx = frame_velocities(true, dt)[..., 0]
    contact = contact_pair(true_vx, pairs)
    if contact is None:
        return PhyWorldScore(NAN, NAN, NAN)
    order = np.arange(len(pairs))[:, None]
    pre = window_error(vx, true_vx, ok & (order < contact))
    post = window_error(vx, true_vx, ok & (order > contact))
    return PhyWorldScore((pre + post) / 2.0, pre, post)
