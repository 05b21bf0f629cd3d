import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.sim.scenarios import DOFS, OOD_LEVELS, from_unit, grid_units, ood_level, sample_params
from physar_ray.sim.video import make_video

CFG = load().data


def inside(value, intervals, tol=1e-9):
    return any(a - tol <= value <= b + tol for a, b in intervals)


def ranges_of(dof, ranges):
    return ranges.radius if dof.startswith("r") else ranges.speed


@pytest.mark.parametrize("scenario", ["uniform", "parabola", "collision"])
@pytest.mark.parametrize("split", ["sft", "rl", "eval_iid"])
def test_sampled_dofs_lie_in_the_split_range(scenario, split):
    ranges = CFG.ranges.rl if split == "rl" else CFG.ranges.sft
    for index in range(50):
        p = sample_params(scenario, split, 0, index, 0, CFG)
        assert p["ood_level"] == 0 and p["ood_dofs"] == []
        for dof, value in p["dofs"].items():
            assert inside(value, ranges_of(dof, ranges)), (dof, value)


@pytest.mark.parametrize("scenario", ["uniform", "parabola", "collision"])
def test_ood_levels_mark_exactly_the_named_dofs(scenario):
    levels = OOD_LEVELS[scenario]
    seen = set()
    for index in range(len(levels) * 20):
        p = sample_params(scenario, "eval_ood", 0, index, 0, CFG)
        level = p["ood_level"]
        seen.add(level)
        assert level == ood_level(scenario, "eval_ood", index)
        assert p["ood_dofs"] == list(levels[level])
        for dof, value in p["dofs"].items():
            if dof in levels[level]:
                assert inside(value, ranges_of(dof, CFG.ranges.eval_ood)), (level, dof, value)
                assert not inside(value, ranges_of(dof, CFG.ranges.sft))
            else:
                assert inside(value, ranges_of(dof, CFG.ranges.sft)), (level, dof, value)
    assert seen == set(levels)  # 3 levels for one ball, 6 for collision
    assert len(OOD_LEVELS["collision"]) == 6 and len(OOD_LEVELS["uniform"]) == 3


def test_sft_sits_on_the_grid_and_eval_iid_stays_off_it():
    n = CFG.grid_points
    for dof in DOFS["collision"]:
        grid = np.array([from_unit(u, ranges_of(dof, CFG.ranges.sft)) for u in grid_units(n)])
        step = grid[1] - grid[0]
        for index in range(60):
            sft = sample_params("collision", "sft", 0, index, 0, CFG)["dofs"][dof]
            iid = sample_params("collision", "eval_iid", 0, index, 0, CFG)["dofs"][dof]
            assert np.min(np.abs(grid - sft)) < 1e-9
            assert np.min(np.abs(grid - iid)) >= 0.25 * step - 1e-9


def test_from_unit_spreads_over_a_union_by_length():
    intervals = ((0.0, 1.0), (3.0, 5.0))
    assert from_unit(0.0, intervals) == 0.0
    assert from_unit(1 / 3, intervals) == pytest.approx(1.0)
    assert from_unit(0.5, intervals) == pytest.approx(3.5)
    assert from_unit(1.0, intervals) == 5.0


def test_every_video_is_reproducible_from_its_key():
    a, _ = make_video("collision", "rl", 11, 4, CFG)
    b, _ = make_video("collision", "rl", 11, 4, CFG)
    c, _ = make_video("collision", "rl", 11, 5, CFG)
    d, _ = make_video("collision", "rl", 12, 4, CFG)
    assert a.frames.tobytes() == b.frames.tobytes() and a.params == b.params
    assert a.frames.tobytes() != c.frames.tobytes() and a.params != d.params


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown scenario 'spiral'"):
        sample_params("spiral", "sft", 0, 0, 0, CFG)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        sample_params("uniform", "test", 0, 0, 0, CFG)
