"""Reference predictors: static and constant velocity, in the video schema."""

from __future__ import annotations

import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.measure.baselines import linear_extrapolation, predict
from physar_ray.measure.score import score_video
from physar_ray.records import VideoRecord
from physar_ray.sim.video import make_video


@pytest.fixture(scope="module")
def cfg():
    return load(None, [])


def test_linear_extrapolation_hand_values():
    centres = np.array([[[1.0, 2.0]], [[2.0, 2.5]], [[3.0, 3.0]]])  # +1 col, +0.5 row per frame
    valid = np.ones((3, 1), bool)
    out = linear_extrapolation(centres, valid, 5)
    assert np.allclose(out[:, 0], [[1, 2], [2, 2.5], [3, 3], [4, 3.5], [5, 4]])
    valid[1:] = False
    assert np.allclose(linear_extrapolation(centres, valid, 5)[:, 0], [1.0, 2.0])  # one frame: stays
    assert np.isnan(linear_extrapolation(centres, np.zeros((3, 1), bool), 5)).all()


def test_static_repeats_the_last_conditioning_frame_and_scores_the_speed(cfg):
    rec, _ = make_video("uniform", "eval_iid", 0, 2, cfg.data)
    out = predict("static", rec, 3)
    assert isinstance(out, VideoRecord) and out.params["predictor"] == "static"
    assert np.array_equal(out.frames[:3], rec.frames[:3]) and (out.frames[3:] == rec.frames[2]).all()
    s = score_video(out.frames, out.states, cfg.measure)
    speed = abs(rec.states.velocities[0, 0, 0])  # a ball that stands still misses v̂ entirely
    assert s.v_err == pytest.approx(speed, rel=0.01)


def test_constant_velocity_is_right_for_uniform_and_misses_gravity(cfg):
    uniform, _ = make_video("uniform", "eval_iid", 0, 2, cfg.data)
    out = predict("constant_velocity", uniform, 3)
    assert np.array_equal(out.frames[:3], uniform.frames[:3])
    assert score_video(out.frames, out.states, cfg.measure).v_err < 0.01
    parabola, _ = make_video("parabola", "eval_iid", 0, 2, cfg.data)
    s = score_video(predict("constant_velocity", parabola, 3).frames, parabola.states, cfg.measure)
    assert s.v_err > 1.0  # g = 2.5 units/s² accumulates over 2.9 s of missed falling


def test_unknown_predictor_lists_the_names(cfg):
    rec, _ = make_video("uniform", "eval_iid", 0, 0, cfg.data)
    with pytest.raises(ValueError, match="static, constant_velocity"):
        predict("oracle", rec, 3)
