"""Physics errors of tracked balls against the simulator's ground truth (docs/method.md §3, paper eq. 4).

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


def per_ball_mean(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each ball's mean of values [T, N, ...] over its masked entries (mask [T, N]) → ([N, ...], has [N]).

    Values outside the mask may be NaN (untracked); a ball without masked entries gets NaN, has False.
    """
    extra = (1,) * (values.ndim - mask.ndim)  # trailing dims of values, e.g. (x, y)
    sums = np.where(mask.reshape(mask.shape + extra), values, 0.0).sum(axis=0)
    counts = mask.sum(axis=0)
    with np.errstate(invalid="ignore"):  # 0 / 0 → NaN for a ball without entries
        return sums / counts.reshape(counts.shape + extra), counts > 0


def ball_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """(1/N') Σ_i mean_{t: mask[t, i]} values[t, i] over the N' balls with any masked entry; NaN if none.

    values, mask: [T, N]; values outside the mask may be NaN (untracked). Each ball weighs 1/N'
    whatever its number of valid frames (eq. 4's 1/N).
    """
    means, has = per_ball_mean(values, mask)
    return float(np.mean(means[has])) if has.any() else float("nan")


def velocity_error(tracked: np.ndarray, true: np.ndarray, pairs: np.ndarray, dt: float) -> float:
    """Paper eq. 4: v_err = 1/(N|T|) Σ_i Σ_{t∈T} |v_t^i − v̂_t^i| (units/s).

    tracked, true: [T, N, 2] world centres; pairs: [P, N] bool, the valid scored pairs T per
    ball; |·| is the Euclidean norm of the 2-D difference. NaN when no pair is valid.
    """
    diff = frame_velocities(tracked, dt) - frame_velocities(true, dt)
    return ball_mean(np.linalg.norm(diff, axis=-1), pairs)


def velocity_drift(tracked: np.ndarray, true: np.ndarray, pairs: np.ndarray, dt: float) -> float:
    """Mean-velocity error v_drift = 1/N Σ_i |mean_{t∈T_i} v_t^i − mean_{t∈T_i} v̂_t^i| (units/s).

    The balls, pairs T_i and Euclidean norm of eq. 4 (velocity_error), but each ball's velocities
    are averaged over the video before they are compared, so frame-to-frame jitter cancels and
    only a sustained error in the motion counts: a ball drawn 1 px ahead and 1 px behind in turn
    scores 0, one that runs steadily fast scores its excess speed. v_drift ≤ v_err (triangle
    inequality). Over consecutive valid pairs the mean velocity is the net displacement over the
    elapsed time, so v_drift measures where the ball got to. NaN when no pair is valid.
    """
    diff = frame_velocities(tracked, dt) - frame_velocities(true, dt)
    means, has = per_ball_mean(diff, pairs)
    return float(np.mean(np.linalg.norm(means[has], axis=-1))) if has.any() else float("nan")


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


