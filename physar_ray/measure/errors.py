"""Physics errors of tracked balls against the simulator's ground truth (SPEC §3, paper eq. 4).

Conventions: T frames, N balls, P = T − 1 adjacent frame pairs; pair p joins frames p and p + 1.
The ground-truth velocity v̂ is the finite difference of the TRUE centres over the same pair
(as PhyWorld's evaluator does), never the simulator's instantaneous velocity: in a parabola the
two differ by g·Δt/2 = 0.125 units/s, and only the finite difference lets a perfect video score 0.
"""

from __future__ import annotations

import numpy as np


def frame_velocities(centres: np.ndarray, dt: float) -> np.ndarray:
    """[T, N, 2] centres → [P, N, 2] velocities v_p = (c_{p+1} − c_p) / Δt (units/s)."""
    return np.diff(centres, axis=0) / dt


def scored_pairs(in_view: np.ndarray, cond_frames: int) -> np.ndarray:
    """[T, N] bool (ball fully in view in the ground truth) → [P, N] bool pairs that are scored.

    Pair (t − 1, t) is scored when t is a predicted frame (t ≥ cond_frames) and the true ball is
    fully in view in both frames, so every predicted frame contributes the velocity that led to it.
    """
    pairs = in_view[1:] & in_view[:-1]
    pairs[: max(cond_frames - 1, 0)] = False
    return pairs


def valid_pairs(scored: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[P, N] scored pairs whose two frames were both tracked cleanly (valid: [T, N] bool)."""
    return scored & valid[1:] & valid[:-1]


def ball_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """(1/N') Σ_i mean_{t: mask[t, i]} values[t, i] over the N' balls with any masked entry; NaN if none.

    values, mask: [T, N]; values outside the mask may be NaN (untracked). Each ball weighs 1/N'
    whatever its number of valid frames (eq. 4's 1/N).
    """
    counts = mask.sum(axis=0)
    has = counts > 0
    if not has.any():
        return float("nan")
    sums = np.where(mask, values, 0.0).sum(axis=0)
    return float(np.mean(sums[has] / counts[has]))


def velocity_error(tracked: np.ndarray, true: np.ndarray, pairs: np.ndarray, dt: float) -> float:
    """Paper eq. 4: v_err = 1/(N|T|) Σ_i Σ_{t∈T} |v_t^i − v̂_t^i| (units/s).

    tracked, true: [T, N, 2] world centres; pairs: [P, N] bool, the valid scored pairs T per
    ball; |·| is the Euclidean norm of the 2-D difference. NaN when no pair is valid.
    """
    diff = frame_velocities(tracked, dt) - frame_velocities(true, dt)
    return ball_mean(np.linalg.norm(diff, axis=-1), pairs)


def radius_error(tracked: np.ndarray, true: np.ndarray, frames: np.ndarray) -> float:
    """r_err = 1/N Σ_i mean_t |r_t^i − r̂^i| / r̂^i (relative), tracked: [T, N], true: [N], frames: [T, N]."""
    rel = np.abs(tracked - true[None, :]) / true[None, :]
    return ball_mean(rel, frames)


def centre_error_px(tracked_px: np.ndarray, true_px: np.ndarray, frames: np.ndarray) -> float:
    """Mean Euclidean distance (pixels) between tracked and true centres [T, N, 2] over frames [T, N]."""
    return ball_mean(np.linalg.norm(tracked_px - true_px, axis=-1), frames)


def valid_fraction(scored: np.ndarray, valid: np.ndarray) -> float:
    """min over balls with scored pairs of |valid pairs| / |scored pairs| (both [P, N]); 0 if none scored."""
    n_scored = scored.sum(axis=0)
    has = n_scored > 0
    if not has.any():
        return 0.0
    return float(np.min(valid.sum(axis=0)[has] / n_scored[has]))


PHYWORLD_MIN_RADIUS = {1: 0.6, 2: 0.5}
"""Balls PhyWorld drops from its test sets: r < 0.6 with one ball, r ≤ 0.5 in collisions."""

PHYWORLD_CONTACT_JUMP = 0.1
"""PhyWorld's collision frame: the first pair whose true x velocity jumps by more than this (units/s)."""


def phyworld_error(tracked: np.ndarray, true: np.ndarray, valid: np.ndarray, radii: np.ndarray,
                   v0: float, dt: float, world_size: float, cond_frames: int) -> float:
    """PhyWorld's released evaluator (id_ood_data/evaluate.py), on our tracks; NaN = excluded.

    tracked, true: [T, N, 2] world centres; valid: [T, N] tracked cleanly; radii: [N] true; v0: the
    first ball's initial x velocity. Frames: predicted ones in which PhyWorld's own in-view rule
    holds (one ball: fully in view; collision: ball 1's left edge and ball 2's right edge inside).
    Velocities are x-only finite differences over adjacent kept frames (we skip pairs with an
    untracked frame where PhyWorld substitutes a default position).
    One ball: |mean_t v_x − v0|, once per video. Collision: the first pair whose true v_x jumps
    by > 0.1 is the contact; score = mean over balls of |mean_t v_x − mean_t v̂_x| over the pairs
    after it (PhyWorld's post-collision error; its pre-collision twin is what the conditioning
    frames already show).
    """
    n = true.shape[1]
    if n not in PHYWORLD_MIN_RADIUS:
        raise ValueError(f"phyworld metric defined for 1 or 2 balls, got {n}")
    small = radii <= PHYWORLD_MIN_RADIUS[n] if n == 2 else radii < PHYWORLD_MIN_RADIUS[n]
    if small.any():
        return float("nan")
    x, r = true[..., 0], radii[None, :]
    if n == 1:
        inside = np.all((true - r[..., None] >= 0) & (true + r[..., None] <= world_size), axis=(1, 2))
    else:
        inside = (x[:, 0] - r[0, 0] >= 0) & (x[:, 1] + r[0, 1] <= world_size)
    kept = inside.copy()
    kept[:cond_frames] = False
    pairs = kept[1:] & kept[:-1]
    ok = pairs[:, None] & valid[1:] & valid[:-1]  # [P, N]
    vx = np.diff(tracked[..., 0], axis=0) / dt
    gt_vx = np.diff(x, axis=0) / dt
    if n == 1:
        return float(abs(vx[ok[:, 0], 0].mean() - v0)) if ok[:, 0].any() else float("nan")
    idx = np.flatnonzero(pairs)
    jumps = np.flatnonzero(np.abs(np.diff(gt_vx[idx], axis=0)).max(axis=1) > PHYWORLD_CONTACT_JUMP)
    contact = idx[jumps[0] + 1] if jumps.size else (idx[-1] if idx.size else 0)
    post = ok & (np.arange(len(ok)) > contact)[:, None]
    if not post.any(axis=0).all():
        return float("nan")
    errs = [abs(vx[post[:, i], i].mean() - gt_vx[post[:, i], i].mean()) for i in range(n)]
    return float(np.mean(errs))
