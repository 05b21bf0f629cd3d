"""Physics laws on the simulator's stored ground truth (docs/method.md §2)."""

import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.sim.engine import contact_interval, fully_in_view, simulate
from physar_ray.sim.scenarios import sample_params
from physar_ray.sim.video import make_video

CFG = load().data
TIMES = np.arange(CFG.num_frames) * CFG.frame_dt


@pytest.mark.parametrize("split", ["sft", "rl", "eval_ood"])
def test_uniform_motion_is_linear_and_matches_the_analytic_solution(split):
    for index in range(10):
        rec, _ = make_video("uniform", split, 0, index, CFG)
        p, v = rec.states.positions[:, 0], rec.states.velocities[:, 0]
        x0, y0, speed = rec.params["init"]["x"][0], rec.params["init"]["y"][0], rec.params["dofs"]["v"]
        np.testing.assert_allclose(p[:, 0], x0 + speed * TIMES, atol=1e-4)
        np.testing.assert_allclose(p[:, 1], y0, atol=1e-4)
        np.testing.assert_allclose(v, np.broadcast_to([speed, 0.0], v.shape), atol=1e-4)


def test_parabola_matches_analytic_solution_and_accelerates_at_g():
    for index in range(10):
        rec, _ = make_video("parabola", "sft", 0, index, CFG)
        p, v = rec.states.positions[:, 0].astype(np.float64), rec.states.velocities[:, 0]
        init = rec.params["init"]
        # x = x0 + v t; y = y0 − g t²/2 (the integrator's half-step offset g·dt·t/2 must be gone)
        np.testing.assert_allclose(p[:, 0], init["x"][0] + init["vx"][0] * TIMES, atol=1e-4)
        np.testing.assert_allclose(p[:, 1], init["y"][0] - 0.5 * CFG.gravity * TIMES**2, atol=1e-4)
        accel = np.diff(p[:, 1], 2) / CFG.frame_dt**2
        np.testing.assert_allclose(accel, -CFG.gravity, atol=0.05)  # float32 storage limits the 2nd difference
        np.testing.assert_allclose(v[:, 1], -CFG.gravity * TIMES, atol=1e-4)


def test_collision_conserves_momentum_and_energy_and_starts_after_frame_4():
    first, last = CFG.contact_frames
    for split in ("sft", "eval_ood"):
        for index in range(12):
            rec, _ = make_video("collision", split, 0, index, CFG)
            s = rec.states
            mass = np.pi * s.radii.astype(np.float64) ** 2  # 2-D uniform density
            v0, v1 = s.velocities[0].astype(np.float64), s.velocities[-1].astype(np.float64)
            p0, p1 = (mass[:, None] * v0).sum(0), (mass[:, None] * v1).sum(0)
            e0, e1 = (0.5 * mass * (v0**2).sum(1)).sum(), (0.5 * mass * (v1**2).sum(1)).sum()
            assert np.linalg.norm(p1 - p0) <= 1e-4 * np.abs(mass[:, None] * v0).sum()
            assert abs(e1 - e0) <= 1e-3 * e0
            k = contact_interval(s)
            assert k is not None and first <= k <= last
            # frames 0..k move with the initial velocities, so the condition frames show them
            expected = s.positions[0] + v0[None] * TIMES[: k + 1, None, None]
            np.testing.assert_allclose(s.positions[: k + 1], expected, atol=1e-4)
            # 1-D elastic collision: u1' = ((m1 − m2) u1 + 2 m2 u2) / (m1 + m2)
            (m1, m2), (u1, u2) = mass, v0[:, 0]
            assert v1[0, 0] == pytest.approx(((m1 - m2) * u1 + 2 * m2 * u2) / (m1 + m2), abs=1e-3)


def test_rejected_videos_are_counted_and_accepted_ones_stay_in_view():
    rejected_total = 0
    for index in range(40):
        rec, rejected = make_video("collision", "eval_ood", 0, index, CFG)
        rejected_total += sum(rejected.values())
        assert fully_in_view(rec.states).sum(axis=0).min() >= CFG.min_in_view_frames
    assert rejected_total > 0  # fast, large OOD balls leave the view and get resampled


def test_simulate_is_pure():
    params = sample_params("collision", "rl", 3, 5, 0, CFG)
    a, b = simulate(params, CFG), simulate(params, CFG)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.velocities, b.velocities)
