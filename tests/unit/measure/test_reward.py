"""Rewards equal the paper's formula; floors, reasons and identical groups never give NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physar_ray.config import ConfigError, load
from physar_ray.measure.reward import mass_reward, physics_reward, velocity_reward
from physar_ray.measure.score import REASONS, score_video, score_videos
from physar_ray.sim.video import make_video


def test_rewards_equal_the_formula():
    # R_vel = 4·exp(−1.4·0.1) = 4·0.869358235 = 3.477432940; R_mass = 1 − 0.05 = 0.95
    assert velocity_reward(0.1, 4.0, 1.4) == pytest.approx(3.477432940)
    assert mass_reward(0.05) == pytest.approx(0.95)
    assert physics_reward(0.1, 0.05, 4.0, 1.4) == pytest.approx(4.427432940)
    assert physics_reward(0.0, 0.0, 4.0, 1.4) == 5.0  # a perfect video: α + 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_errors_are_refused(bad):
    with pytest.raises(ValueError, match="v_err=.* not finite"):
        velocity_reward(bad, 4.0, 1.4)
    with pytest.raises(ValueError, match="r_err=.* not finite"):
        mass_reward(bad)


@pytest.fixture(scope="module")
def cfg():
    return load(None, ["measure.floor_reward=-1.0"])


@pytest.fixture(scope="module")
def uniform():
    return make_video("uniform", "eval_iid", 0, 1, load(None, []).data)[0]


def test_score_video_reward_is_the_formula_of_its_errors(cfg, uniform):
    s = score_video(uniform.frames, uniform.states, cfg.measure)
    assert s.reason == "ok" and s.valid_fraction == 1.0
    assert s.r_vel == pytest.approx(4.0 * math.exp(-1.4 * s.v_err))
    assert s.r_mass == pytest.approx(1.0 - s.r_err)
    assert s.reward == pytest.approx(s.r_vel + s.r_mass)
    assert 4.99 < s.reward <= 5.0  # the tracker floor costs less than 0.01


def test_identical_videos_give_bit_identical_finite_rewards(cfg, uniform):
    group = score_videos([(uniform.frames, uniform.states)] * 4, cfg.measure)
    rewards = np.array([s.reward for s in group])
    assert np.isfinite(rewards).all()
    assert rewards.std() == 0.0  # exactly 0, so a group advantage (r − mean)/std takes its std-0 branch
    assert np.all((rewards - rewards.mean()) == 0.0)


def test_untrackable_videos_get_the_floor_and_a_reason(cfg, uniform):
    blank = np.full_like(uniform.frames, 255)
    s = score_video(blank, uniform.states, cfg.measure)
    assert (s.reason, s.reward, s.r_vel, s.r_mass) == ("ball_not_found", -1.0, 0.0, 0.0)
    assert math.isnan(s.v_err) and s.valid_fraction == 0.0

    half = uniform.frames.copy()
    half[3::2] = 255  # every other predicted frame blank: no adjacent pair survives
    s = score_video(half, uniform.states, cfg.measure)
    assert s.reason == "too_few_valid_frames" and s.reward == -1.0

    away = uniform.states.__class__(uniform.states.positions + [30.0, 0.0], uniform.states.velocities,
                                    uniform.states.radii, uniform.states.dt, uniform.states.world_size)
    s = score_video(uniform.frames, away, cfg.measure)
    assert s.reason == "no_scored_frames" and s.reward == -1.0
    assert set(REASONS) == {"ok", "no_scored_frames", "ball_not_found", "too_few_valid_frames"}


def test_bad_inputs_name_the_field(cfg, uniform):
    with pytest.raises(ValueError, match="T=31 frames but states.positions has 32"):
        score_video(uniform.frames[:31], uniform.states, cfg.measure)
    with pytest.raises(ValueError, match="cond_frames=0"):
        score_video(uniform.frames, uniform.states, cfg.measure, cond_frames=0)
    with pytest.raises(ValueError, match="uint8"):
        score_video(uniform.frames.astype(np.float32), uniform.states, cfg.measure)


def test_measure_config_validation_names_the_key():
    with pytest.raises(ConfigError, match="measure.min_valid_fraction=0"):
        load(None, ["measure.min_valid_fraction=0"])
    with pytest.raises(ConfigError, match="measure.rim_px=9"):
        load(None, ["measure.rim_px=9"])
    with pytest.raises(ConfigError, match="measure.floor_reward=inf"):
        load(None, ["measure.floor_reward=.inf"])
