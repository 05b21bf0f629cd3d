"""The `phyworld` columns against PhyWorld's evaluator protocol (id_ood_data/evaluate.py).

The two checks of issue 13 item 6 (a 1 px/frame drift in the first 8 frames at 128 px, on a
uniform and on a collision video) with the expected numbers worked out by hand, plus a
cross-check against a plain loop written from the protocol (our own code, not theirs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.measure.phyworld import contact_pair, excluded, phyworld_score, window_pairs
from physar_ray.measure.score import score_video
from physar_ray.records import States
from tests.unit.measure.measure_helpers import draw

T, DT, WORLD, PX = 32, 0.1, 10.0, 10.0 / 128  # PX: one pixel at 128 px, in world units
DRIFT = np.minimum(np.arange(T), 7) * PX  # 1 px/frame over frames 0..7, then the offset stays


def protocol_loop(pred: np.ndarray, true: np.ndarray, radii: np.ndarray, v0: float) -> tuple[float, ...]:
    """The evaluator's steps one by one, on positions [T, N, 2] (all tracked), for cross-checking:
    frames i ≥ 3 that pass the in-view rule, x velocities over consecutive kept frames; one ball:
    (|mean v_x − v0|,); collision: (pre, post), each the mean over balls of |mean v_x − mean v̂_x|."""
    n = true.shape[1]
    keep = []
    for i in range(3, len(true)):
        if n == 1:
            x, y = true[i, 0]
            r = radii[0]
            inside = x - r >= 0 and x + r <= WORLD and y - r >= 0 and y + r <= WORLD
        else:
            inside = true[i, 0, 0] - radii[0] >= 0 and true[i, 1, 0] + radii[1] <= WORLD
        if inside:
            keep.append(i)
    vx = [[(pred[b, k, 0] - pred[a, k, 0]) / DT for k in range(n)] for a, b in zip(keep, keep[1:])]
    gv = [[(true[b, k, 0] - true[a, k, 0]) / DT for k in range(n)] for a, b in zip(keep, keep[1:])]
    if n == 1:
        return (abs(sum(v[0] for v in vx) / len(vx) - v0),)
    contact = len(gv) - 1
    for i in range(1, len(gv)):
        if any(abs(gv[i][k] - gv[i - 1][k]) > 0.1 for k in range(n)):
            contact = i
            break

    def window(lo: int, hi: int) -> float:
        per_ball = [abs(sum(v[k] for v in vx[lo:hi]) / (hi - lo) - sum(g[k] for g in gv[lo:hi]) / (hi - lo))
                    for k in range(n)]
        return sum(per_ball) / n

    return window(0, contact), window(contact + 1, len(gv))


def uniform_track(x0: float = 2.0, v0: float = 2.0) -> np.ndarray:
    true = np.zeros((T, 1, 2))
    true[:, 0, 0] = x0 + v0 * DT * np.arange(T)
    true[:, 0, 1] = 5.0
    return true


def head_on_collision() -> np.ndarray:
    """Equal balls (r = 1) from x = 2 and 8 at ±2 units/s: surfaces touch at t = 1.0 s (frame 10),
    then they swap velocities. Ball 1's left edge leaves the view after frame 25 (x1 = 4 − 0.2·(t − 10)),
    ball 2's right edge too (x2 = 6 + 0.2·(t − 10))."""
    t = np.arange(T)
    true = np.zeros((T, 2, 2))
    true[:, 0, 0] = np.where(t <= 10, 2.0 + 0.2 * t, 4.0 - 0.2 * (t - 10))
    true[:, 1, 0] = np.where(t <= 10, 8.0 - 0.2 * t, 6.0 + 0.2 * (t - 10))
    true[:, :, 1] = 5.0
    return true


def test_uniform_drift_in_the_first_frames_hand_computed():
    true = uniform_track()
    tracked = true.copy()
    tracked[:, 0, 0] += DRIFT
    got = phyworld_score(tracked, true, np.ones((T, 1), bool), np.array([1.0]), 2.0, DT, WORLD, 3)
    # window frames 3..31 (28 pairs); the drift inside it is frames 3 → 7: 4 px = 0.3125 units
    # → |mean v_x − v0| = 0.3125 / (28 · 0.1 s) = 0.11161 units/s
    assert got.value == pytest.approx(4 * PX / (28 * DT))
    assert got.value == pytest.approx(protocol_loop(tracked, true, np.array([1.0]), 2.0)[0])
    assert math.isnan(got.pre) and math.isnan(got.post)


def test_collision_drift_before_contact_hand_computed():
    true = head_on_collision()
    tracked = true.copy()
    tracked[:, 0, 0] += DRIFT  # both balls run ahead along their motion in frames 0..7
    tracked[:, 1, 0] -= DRIFT
    radii = np.array([1.0, 1.0])
    got = phyworld_score(tracked, true, np.ones((T, 2), bool), radii, 2.0, DT, WORLD, 3)
    # window frames 3..25 → pairs 3..24; contact pair 10 (v̂_x flips from +2 to −2);
    # pre = pairs 3..9 (7 pairs): each ball gains 7 − 3 = 4 px → 0.3125 / 0.7 s = 0.44643 units/s;
    # post = pairs 11..24: the offset no longer changes → 0
    assert got.pre == pytest.approx(4 * PX / (7 * DT))
    assert got.post == pytest.approx(0.0, abs=1e-12)
    assert got.value == pytest.approx(got.pre / 2)
    assert (got.pre, got.post) == pytest.approx(protocol_loop(tracked, true, radii, 2.0))


def test_collision_error_after_contact_lands_in_post():
    true = head_on_collision()
    tracked = true.copy()
    tracked[11:, 0, 0] += 0.01 * np.arange(1, T - 10)  # after contact ball 1 is 0.1 units/s too fast
    got = phyworld_score(tracked, true, np.ones((T, 2), bool), np.array([1.0, 1.0]), 2.0, DT, WORLD, 3)
    # post pairs 11..24: ball 1 off by 0.1, ball 2 exact → 0.05; pre untouched
    assert (got.pre, got.post, got.value) == pytest.approx((0.0, 0.05, 0.025))


def test_matches_the_protocol_loop_on_noisy_tracks():
    rng = np.random.default_rng(0)
    for true, radii in ((uniform_track(1.5, 2.5), np.array([1.2])), (head_on_collision(), np.array([1.0, 1.0]))):
        for _ in range(5):
            tracked = true + rng.normal(0.0, 0.02, true.shape)
            got = phyworld_score(tracked, true, np.ones(true.shape[:2], bool), radii, 2.5, DT, WORLD, 3)
            ours = (got.value,) if true.shape[1] == 1 else (got.pre, got.post)
            assert ours == pytest.approx(protocol_loop(tracked, true, radii, 2.5))


def test_untracked_frames_are_skipped_and_empty_windows_are_nan():
    true = head_on_collision()
    tracked = true.copy()
    tracked[:, 0, 0] += DRIFT
    valid = np.ones((T, 2), bool)
    valid[4, 0] = False  # drops pairs 3 and 4 of ball 1: its pre window is pairs 5..9, offset 5 → 7
    got = phyworld_score(tracked, true, valid, np.array([1.0, 1.0]), 2.0, DT, WORLD, 3)
    assert got.pre == pytest.approx((2 * PX / (5 * DT) + 0.0) / 2)
    valid[12:, 1] = False  # ball 2 never tracked after contact → no post error, no value
    got = phyworld_score(tracked, true, valid, np.array([1.0, 1.0]), 2.0, DT, WORLD, 3)
    assert math.isnan(got.post) and math.isnan(got.value) and math.isfinite(got.pre)


def test_contact_fallback_window_start_and_small_balls():
    pairs = np.zeros(31, bool)
    pairs[3:20] = True
    steady = np.ones((31, 2))
    assert contact_pair(steady, pairs) == 19  # no jump: PhyWorld's fallback, the last window pair
    assert contact_pair(steady, np.zeros(31, bool)) is None
    true = uniform_track()
    assert np.flatnonzero(window_pairs(true, np.array([1.0]), WORLD, 3))[0] == 3
    assert np.flatnonzero(window_pairs(true, np.array([1.0]), WORLD, 7))[0] == 6  # never a conditioning pair
    assert excluded(np.array([0.55])) and not excluded(np.array([0.6]))
    assert excluded(np.array([1.0, 0.5])) and not excluded(np.array([1.0, 0.51]))
    got = phyworld_score(true, true, np.ones((T, 1), bool), np.array([0.55]), 2.0, DT, WORLD, 3)
    assert math.isnan(got.value)


def test_rendered_drift_video_end_to_end():
    """The uniform check through renderer, tracker and score_video at 128 px."""
    true = uniform_track()
    frames, _ = draw(true + np.stack([DRIFT, np.zeros(T)], axis=-1)[:, None, :], [1.0])
    velocities = np.zeros_like(true)
    velocities[..., 0] = 2.0
    score = score_video(frames, States(true, velocities, np.array([1.0]), DT, WORLD), load(None, []).measure, 3)
    assert score.phyworld == pytest.approx(4 * PX / (28 * DT), abs=2e-3)
    # eq. 4 scores pairs (2,3)..(30,31): 29 pairs, 5 of them (2→7) off by 1 px / 0.1 s = 0.78125 units/s;
    # the drift is all one way, so the mean-velocity error is the same number
    assert score.v_err == pytest.approx(5 * PX / DT / 29, abs=2e-3)
    assert score.v_drift == pytest.approx(5 * PX / DT / 29, abs=2e-3)
