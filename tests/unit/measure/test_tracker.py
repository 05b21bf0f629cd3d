"""Tracker: sub-pixel centres and radii on synthetic renders, robustness, status codes, and the
tracking floor of eq. 4 on real simulator videos."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import ndimage

from physar_ray.config import load
from physar_ray.measure.score import score_video
from physar_ray.measure.tracker import (AMBIGUOUS, CLIPPED, CONTACT, MISSING, OK, dilate, main_components,
                                        track, unmixing_matrix)
from physar_ray.sim.render import BALL_COLOURS, world_to_pixel
from physar_ray.sim.video import make_video

from tests.unit.measure.measure_helpers import PX, RES, WORLD, draw, line

log = logging.getLogger(__name__)
RED = BALL_COLOURS[:1]


def true_px(states):
    return world_to_pixel(states.positions, WORLD, RES, RES)


def test_subpixel_centre_and_radius_on_antialiased_render():
    # 0.013 px per frame: a motion far below one pixel must still be measured.
    frames, s = draw(line((3.0, 5.0), (0.01, 0.007)), [1.0])
    tr = track(frames, WORLD, RED)
    assert (tr.status == OK).all()
    assert np.abs(tr.centres_px - true_px(s)).max() < 0.005
    assert np.abs(tr.radii_px - 1.0 * PX).max() < 0.01
    steps = np.diff(tr.centres[:, 0, 0])  # true step 0.001 units = 0.0128 px
    assert np.allclose(steps, 0.001, atol=2e-4)
    assert np.allclose(tr.radii, 1.0, atol=1e-3)


def test_hard_edges_are_measured_to_a_tenth_of_a_pixel():
    frames, s = draw(line((2.3, 4.1), (1.7, 0.4)), [0.9], antialias=False)
    tr = track(frames, WORLD, RED)
    assert (tr.status == OK).all()
    assert np.abs(tr.centres_px - true_px(s)).max() < 0.1
    assert np.abs(tr.radii_px / (0.9 * PX) - 1).max() < 0.01


def test_gaussian_noise_and_blur():
    frames, s = draw(line((2.0, 6.0), (2.0, -0.5)), [1.2])
    rng = np.random.default_rng(0)
    blurred = ndimage.gaussian_filter(frames.astype(np.float64), sigma=(0, 1.0, 1.0, 0))
    noisy = np.clip(blurred + rng.normal(0, 8, frames.shape), 0, 255).astype(np.uint8)
    tr = track(noisy, WORLD, RED)
    assert (tr.status == OK).all()
    assert np.abs(tr.centres_px - true_px(s)).max() < 0.1
    assert np.abs(tr.radii_px / (1.2 * PX) - 1).max() < 0.03


def test_specks_are_ignored_and_a_second_blob_is_ambiguous():
    frames, _ = draw(line((3.0, 5.0), (1.0, 0.0)), [1.0])
    frames[5, 100, 100] = (255, 0, 0)  # 1 px speck < min_area_px = 4
    frames[6, 100:104, 100:104] = (255, 0, 0)  # 16 px: a second red ball in that frame
    tr = track(frames, WORLD, RED, min_area_px=4.0)
    assert tr.status[5, 0] == OK and tr.status[6, 0] == AMBIGUOUS
    assert (np.delete(tr.status[:, 0], 6) == OK).all()


def test_missing_ball_and_blank_frames():
    frames, _ = draw(line((3.0, 5.0), (1.0, 0.0)), [1.0])
    frames[10:14] = 255
    tr = track(frames, WORLD, BALL_COLOURS)  # blue ball 2 never drawn
    assert (tr.status[10:14, 0] == MISSING).all() and np.isnan(tr.centres_px[10:14, 0]).all()
    assert (tr.status[:, 1] == MISSING).all()
    assert (np.delete(tr.status[:, 0], range(10, 14)) == OK).all()


def test_overlapping_balls_are_invalid_for_both_and_separated_otherwise():
    t = 32
    red = line((2.0, 5.0), (2.0, 0.0), t)
    blue = line((8.0, 5.0), (-2.0, 0.0), t)  # they meet and overlap around t = 13..17
    frames, s = draw(np.concatenate([red, blue], axis=1), [1.0, 1.0])
    tr = track(frames, WORLD, BALL_COLOURS)
    gap = np.abs(red[:, 0, 0] - blue[:, 0, 0]) - 2.0  # surface distance, world units
    touching = gap * PX < 2.5
    red_seen = tr.status[:, 0] != MISSING  # red is drawn first: blue may hide it completely
    assert (~red_seen).sum() == 1 and not red_seen[15]  # t = 15: same centre, same radius
    assert (tr.status[touching & red_seen] == CONTACT).all()
    assert (tr.status[~touching] == OK).all()
    assert np.abs(tr.centres_px[~touching] - true_px(s)[~touching]).max() < 0.005


def test_ball_leaving_the_view_is_clipped_but_a_tangent_ball_is_not():
    frames, s = draw(line((8.0, 5.0), (2.0, 0.0)), [1.0])  # gone after 1.0 s
    tr = track(frames, WORLD, RED)
    right_edge = s.positions[:, 0, 0] + 1.0
    outside_px = (right_edge - WORLD) * PX
    partly = (outside_px > 0.2) & (outside_px < 2 * PX)
    assert partly.sum() == 9 and (tr.status[partly, 0] == CLIPPED).all()
    assert (tr.status[outside_px >= 2 * PX, 0] == MISSING).all()
    assert (tr.status[outside_px < -0.05, 0] == OK).all()
    tangent, s2 = draw(line((8.98, 5.0), (0.0, 0.0)), [1.0])  # 0.26 px inside the border
    assert (track(tangent, WORLD, RED).status == OK).all()


def test_bad_frames_name_the_problem():
    with pytest.raises(ValueError, match="dtype float32"):
        track(np.zeros((2, 8, 8, 3), np.float32), WORLD)
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\)"):
        track(np.zeros((8, 8, 3), np.uint8), WORLD)
    with pytest.raises(ValueError, match="square"):
        track(np.zeros((2, 8, 9, 3), np.uint8), WORLD)


def test_unmixing_is_exact_for_red_blue_white_mixtures():
    p = unmixing_matrix(BALL_COLOURS, (255, 255, 255))
    a_red, a_blue = 0.3, 0.45
    pixel = 255 + a_red * (np.array([255, 0, 0]) - 255) + a_blue * (np.array([0, 0, 255]) - 255)
    assert np.allclose(p @ (pixel - 255), [a_red, a_blue], atol=1e-6)


def test_main_components_matches_a_loop():
    rng = np.random.default_rng(1)
    mask = rng.random((5, 12, 12)) > 0.7
    mask[3] = False  # a frame without components
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True
    labels, count = ndimage.label(mask, structure=structure)
    main, main_size, second = main_components(labels, count)
    for f in range(5):
        ids = [i for i in np.unique(labels[f]) if i]
        sizes = sorted((int((labels[f] == i).sum()) for i in ids), reverse=True) + [0, 0]
        assert (main_size[f], second[f]) == (sizes[0], sizes[1])
        assert (labels[f] == main[f]).sum() == sizes[0] if ids else main[f] == 0


def test_dilate_matches_a_maximum_filter():
    mask = np.random.default_rng(2).random((3, 15, 15)) > 0.9
    assert np.array_equal(dilate(mask, 2), ndimage.maximum_filter(mask, size=(1, 5, 5)))


@pytest.mark.parametrize("scenario", ["uniform", "parabola", "collision"])
def test_tracking_floor_on_simulator_videos_at_128px(scenario):
    """Tracking the simulator's own frames: eq. 4 v_err is the floor (paper GT row at 256 px:
    0.0099 uniform / 0.0210 parabola / 0.0117 collision); the issue asks for < 0.03 at 128 px."""
    cfg = load(None, ["data.resolution=128"])
    v_errs, r_errs = [], []
    for split in ("eval_iid", "eval_ood"):
        for index in range(6):
            rec, _ = make_video(scenario, split, 0, index, cfg.data)
            score = score_video(rec.frames, rec.states, cfg.measure, cfg.data.cond_frames)
            assert score.reason == "ok", (split, index, score)
            v_errs.append(score.v_err)
            r_errs.append(score.r_err)
    floor, worst = float(np.mean(v_errs)), float(np.max(v_errs))
    log.info("tracker floor %s at 128 px: mean v_err %.5f, max %.5f, mean r_err %.5f", scenario, floor, worst,
             np.mean(r_errs))
    print(f"floor {scenario}: v_err mean {floor:.5f} max {worst:.5f} r_err {np.mean(r_errs):.5f}")
    assert worst < 0.03
    assert floor < 0.005  # antialiased frames + coverage centroids: well under the paper's floor
