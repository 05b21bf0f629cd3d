"""Eq. 4 and the other errors with hand-computed values, plus a loop check and the parabola trap."""

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


def _uniform(v0: float, r: float, t: int = 12):
    true = np.zeros((t, 1, 2))
    true[:, 0, 0] = 2.0 + v0 * 0.1 * np.arange(t)
    true[:, 0, 1] = 5.0
    return true, np.array([r])


def test_phyworld_one_ball_is_the_mean_x_velocity_error_once_per_video():
    true, radii = _uniform(2.0, 1.0)
    tracked = true.copy()
    tracked[:, 0, 0] += 0.01 * np.arange(12)  # +0.1 units/s in every pair
    valid = np.ones((12, 1), bool)
    got = errors.phyworld_error(tracked, true, valid, radii, 2.0, 0.1, 10.0, 3)
    assert got == pytest.approx(0.1)
    # PhyWorld drops balls with r < 0.6 from its one-ball test sets
    assert math.isnan(errors.phyworld_error(tracked, true, valid, np.array([0.55]), 2.0, 0.1, 10.0, 3))


def test_phyworld_collision_scores_after_the_contact():
    t = 12
    true = np.zeros((t, 2, 2))
    true[:, :, 1] = 5.0
    v1 = np.where(np.arange(t - 1) < 5, 2.0, -1.0)  # ball 1 bounces in pair 5
    v2 = np.where(np.arange(t - 1) < 5, -1.0, 2.0)
    true[1:, 0, 0] = 2.0 + np.cumsum(v1 * 0.1)
    true[0, 0, 0] = 2.0
    true[1:, 1, 0] = 8.0 + np.cumsum(v2 * 0.1)
    true[0, 1, 0] = 8.0
    tracked = true.copy()
    tracked[6:, 0, 0] += 0.02 * np.arange(1, t - 5)  # after contact ball 1 is off by +0.2 units/s
    valid = np.ones((t, 2), bool)
    # contact pair = 5; post pairs 6..10; ball 1 error 0.2, ball 2 error 0 → mean 0.1
    got = errors.phyworld_error(tracked, true, valid, np.array([1.0, 1.0]), 2.0, 0.1, 10.0, 3)
    assert got == pytest.approx(0.1)
    assert math.isnan(errors.phyworld_error(tracked, true, valid, np.array([1.0, 0.5]), 2.0, 0.1, 10.0, 3))
