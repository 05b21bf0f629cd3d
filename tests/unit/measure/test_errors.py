"""Eq. 4, the mean-velocity error and the other errors with hand-computed values, loop checks and the parabola trap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.measure import errors
from physar_ray.sim.engine import fully_in_view
from physar_ray.sim.video import make_video


def test_frame_velocities_are_centre_differences_over_dt():
    c = np.array([[[0.0, 0.0]], [[0.2, 0.1]], [[0.5, 0.1]]])  # [T=3, N=1, 2]
    assert np.allclose(errors.frame_velocities(c, 0.1), [[[2.0, 1.0]], [[3.0, 0.0]]])


def test_scored_pairs_start_at_the_first_predicted_frame_and_need_the_ball_in_view():
    in_view = np.ones((6, 1), bool)
    in_view[4] = False
    # pairs (0,1) (1,2) (2,3) (3,4) (4,5); cond_frames = 3 → first scored pair is (2, 3)
    assert errors.scored_pairs(in_view, 3)[:, 0].tolist() == [False, False, True, False, False]


def test_velocity_error_hand_computed_two_balls():
    dt = 0.1
    true = np.zeros((3, 2, 2))
    true[:, 0, 0] = [0.0, 0.1, 0.2]  # ball 1 at 1 unit/s along x
    tracked = true.copy()
    tracked[2, 0] += [0.03, 0.04]  # pair (1,2) of ball 1 off by (0.3, 0.4)/s → |·| = 0.5
    tracked[1:, 1, 1] += 0.02  # ball 2: pair (0,1) off by 0.2 units/s, pair (1,2) exact
    pairs = np.ones((2, 2), bool)
    # ball 1: (0 + 0.5)/2 = 0.25; ball 2: (0.2 + 0)/2 = 0.1; eq. 4 → (0.25 + 0.1)/2 = 0.175
    assert errors.velocity_error(tracked, true, pairs, dt) == pytest.approx(0.175)
    pairs[1, 0] = False  # drop ball 1's bad pair: (0 + 0.1)/2
    assert errors.velocity_error(tracked, true, pairs, dt) == pytest.approx(0.05)
    assert math.isnan(errors.velocity_error(tracked, true, np.zeros((2, 2), bool), dt))


def test_velocity_error_matches_a_python_loop_of_eq4():
    rng = np.random.default_rng(0)
    true, tracked = rng.normal(size=(10, 2, 2)), rng.normal(size=(10, 2, 2))
    pairs = np.ones((9, 2), bool)
    total = sum(math.hypot(*((tracked[t + 1, i] - tracked[t, i]) - (true[t + 1, i] - true[t, i])) / 0.1)
                for i in range(2) for t in range(9))
    assert errors.velocity_error(tracked, true, pairs, 0.1) == pytest.approx(total / (2 * 9))


def test_parabola_truth_is_the_finite_difference_not_the_stored_velocity():
    cfg = load(None, [])
    rec, _ = make_video("parabola", "eval_iid", 0, 0, cfg.data)
    s = rec.states
    pairs = errors.scored_pairs(fully_in_view(s), 3)
    assert errors.velocity_error(s.positions, s.positions, pairs, s.dt) == 0.0
    # the stored instantaneous velocities sit g·Δt/2 = 2.5 · 0.1 / 2 = 0.125 units/s away
    fd = errors.frame_velocities(s.positions, s.dt)
    gap = np.linalg.norm(fd - s.velocities[1:], axis=-1)[pairs]
    assert np.allclose(gap, 0.125, atol=1e-6)


def test_radius_error_is_relative_and_averaged_per_ball():
    tracked = np.array([[1.1, 0.5], [0.9, np.nan]])  # [T=2, N=2]
    frames = np.array([[True, True], [True, False]])
    # ball 1: (0.1 + 0.1)/2 / 1.0 = 0.1; ball 2: |0.5 − 0.4|/0.4 = 0.25 → mean 0.175
    assert errors.radius_error(tracked, np.array([1.0, 0.4]), frames) == pytest.approx(0.175)


def test_valid_fraction_is_the_worst_ball():
    scored = np.array([[True, True], [True, True], [True, False]])
    valid = np.array([[True, True], [False, False], [True, False]])
    assert errors.valid_fraction(scored, valid) == pytest.approx(0.5)  # ball 1: 2/3, ball 2: 1/2
    assert errors.valid_fraction(np.zeros((3, 2), bool), valid) == 0.0


def test_velocity_drift_ignores_jitter_but_not_a_sustained_error():
    dt = 0.1
    true = np.zeros((5, 2, 2))
    true[:, :, 0] = 0.2 * np.arange(5)[:, None]  # both balls at 2 units/s along x
    tracked = true.copy()
    tracked[:, 0] += 0.1 * np.arange(5)[:, None] * [0.3, 0.4]  # ball 1: (0.3, 0.4) units/s too fast → 0.5
    tracked[1::2, 1, 0] += 0.01  # ball 2: 1 cm ahead on odd frames → ±0.1 units/s in turn
    pairs = np.ones((4, 2), bool)
    # v_err: ball 1 0.5 per pair, ball 2 0.1 per pair → (0.5 + 0.1) / 2 = 0.3
    assert errors.velocity_error(tracked, true, pairs, dt) == pytest.approx(0.3)
    # v_drift: ball 1 |mean (0.3, 0.4)| = 0.5; ball 2 |(+0.1 − 0.1 + 0.1 − 0.1) / 4| = 0 → 0.25
    assert errors.velocity_drift(tracked, true, pairs, dt) == pytest.approx(0.25)
    pairs[3, 1] = False  # three pairs left for ball 2: |(0.1 − 0.1 + 0.1) / 3| = 1/30
    assert errors.velocity_drift(tracked, true, pairs, dt) == pytest.approx((0.5 + 1 / 30) / 2)
    assert math.isnan(errors.velocity_drift(tracked, true, np.zeros((4, 2), bool), dt))


def test_velocity_drift_matches_a_loop_and_never_exceeds_eq4():
    rng = np.random.default_rng(1)
    true, tracked = rng.normal(size=(10, 2, 2)), rng.normal(size=(10, 2, 2))
    pairs = rng.random((9, 2)) < 0.7
    dv = np.diff(tracked, axis=0) / 0.1 - np.diff(true, axis=0) / 0.1
    per_ball = [np.linalg.norm(dv[pairs[:, i], i].mean(axis=0)) for i in range(2) if pairs[:, i].any()]
    got = errors.velocity_drift(tracked, true, pairs, 0.1)
    assert got == pytest.approx(np.mean(per_ball))
    assert got <= errors.velocity_error(tracked, true, pairs, 0.1)
