import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.records import States
from physar_ray.sim.render import BALL_COLOURS, half_plane_coverage, pixel_to_world, render, world_to_pixel
from physar_ray.sim.video import make_video

CFG = load().data


def ink_centroid(frame: np.ndarray, channel: int) -> tuple[np.ndarray, float]:
    """Coverage-weighted centroid (col, row) and area of a pure-colour ball on white."""
    coverage = 1.0 - frame[..., channel].astype(np.float64) / 255.0
    rows, cols = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]] + 0.5
    area = coverage.sum()
    return np.array([(coverage * cols).sum() / area, (coverage * rows).sum() / area]), area


def one_ball(x, y, r, world=10.0):
    pos = np.array([[[x, y]]], dtype=np.float64)
    return States(pos, np.zeros_like(pos), np.array([r]), 0.1, world)


def test_mapping_is_the_documented_one_and_invertible():
    # column = x/10·W, row = (10 − y)/10·H; pixel j covers [j, j+1)
    assert world_to_pixel(np.array([0.0, 10.0]), 10, 128, 128).tolist() == [0.0, 0.0]
    assert world_to_pixel(np.array([10.0, 0.0]), 10, 128, 128).tolist() == [128.0, 128.0]
    assert world_to_pixel(np.array([2.5, 7.5]), 10, 64, 128).tolist() == [32.0, 16.0]
    pts = np.random.default_rng(0).uniform(0, 10, (50, 2))
    np.testing.assert_allclose(pixel_to_world(world_to_pixel(pts, 10, 96, 96), 10, 96, 96), pts)


@pytest.mark.parametrize("scenario", ["uniform", "parabola", "collision"])
def test_rendered_centroid_is_within_half_a_pixel_of_the_mapped_truth(scenario):
    worst = 0.0
    for index in range(6):
        rec, _ = make_video(scenario, "sft", 0, index, CFG)
        truth = world_to_pixel(rec.states.positions, 10, CFG.resolution, CFG.resolution)
        inside = np.all((rec.states.positions - rec.states.radii[None, :, None] > 0.1)
                        & (rec.states.positions + rec.states.radii[None, :, None] < 9.9), axis=-1)
        for t in range(rec.frames.shape[0]):
            # ball 1 is red: its ink shows in green; ball 2 blue: in red (colours are pure)
            for ball, channel in ((0, 1), (1, 0))[: rec.states.num_balls]:
                if inside[t, ball] and _separate(rec.states, t):
                    centre, _ = ink_centroid(rec.frames[t], channel) if rec.states.num_balls == 1 else \
                        ink_centroid(_only(rec.frames[t], ball), channel)
                    worst = max(worst, np.abs(centre - truth[t, ball]).max())
    assert worst < 0.5
    assert worst < 0.01  # area coverage makes the centroid essentially exact


def _separate(states, t):
    if states.num_balls < 2:
        return True
    gap = np.linalg.norm(states.positions[t, 0] - states.positions[t, 1]) - states.radii.sum()
    return gap > 0.2


def _only(frame, ball):
    """Keep one colour of a two-ball frame (the other ball's pixels back to white)."""
    out = frame.copy()
    red, blue = frame[..., 0] > frame[..., 2], frame[..., 2] > frame[..., 0]
    out[blue if ball == 0 else red] = 255
    return out


def test_area_matches_the_disc_and_hard_edges_are_binary():
    states = one_ball(4.33, 6.71, 1.07)
    frame = render(states, 128)[0]
    _, area = ink_centroid(frame, 1)
    assert area == pytest.approx(np.pi * (1.07 * 12.8) ** 2, rel=2e-3)
    hard = render(states, 128, antialias=False)[0]
    assert set(np.unique(hard[..., 1])) == {0, 255}
    assert set(np.unique(frame[..., 1])) > {0, 255}  # antialiased edge values in between
    assert (frame[..., 0] == 255).all()  # pure red on white: the red channel never drops


def test_colours_background_and_resolution():
    rec, _ = make_video("collision", "sft", 0, 0, load(None, ["data.resolution=64"]).data)
    assert rec.frames.shape == (32, 64, 64, 3) and rec.frames.dtype == np.uint8
    assert tuple(rec.frames[0, 0, 0]) == (255, 255, 255)
    flat = rec.frames.reshape(-1, 3)
    assert (flat == BALL_COLOURS[0]).all(1).any() and (flat == BALL_COLOURS[1]).all(1).any()


def test_a_ball_partly_out_of_view_is_clipped_not_wrapped():
    frame = render(one_ball(0.3, 5.0, 1.0), 128)[0]
    right_half = frame[:, 64:]
    assert (right_half == 255).all()
    assert (frame[:, 0, 1] < 255).any()


def test_half_plane_coverage_closed_form():
    # axis-aligned edge: coverage = 0.5 + d, clipped
    assert half_plane_coverage(np.array([0.0, 0.25, -0.25, 0.6]), np.ones(4), np.zeros(4)).tolist() == \
        pytest.approx([0.5, 0.75, 0.25, 1.0])
    # 45° edge through a corner-to-corner diagonal: half; at the corner: zero
    n = np.array([np.sqrt(0.5)])
    assert half_plane_coverage(np.array([0.0]), n, n)[0] == pytest.approx(0.5)
    assert half_plane_coverage(np.array([-np.sqrt(0.5)]), n, n)[0] == pytest.approx(0.0)
    # against Monte-Carlo area for a random direction
    rng = np.random.default_rng(1)
    pts = rng.uniform(-0.5, 0.5, (200_000, 2))
    ang, d = 0.3, 0.2
    nx, ny = np.cos(ang), np.sin(ang)
    mc = np.mean(pts @ np.array([nx, ny]) <= d)
    assert half_plane_coverage(np.array([d]), np.array([nx]), np.array([ny]))[0] == pytest.approx(mc, abs=3e-3)
