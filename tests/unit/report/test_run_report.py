"""The run report's model comparison from hand-made eval folders: the reference predictors restricted to
the conditions the policies were evaluated on, the sources named, the by-level figure drawn."""

from __future__ import annotations

import pyarrow as pa
import pytest

from physar_ray import storage
from physar_ray.layout import METRICS, PER_VIDEO, RunLayout
from physar_ray.report.plots import verr_by_level
from physar_ray.report.run_report import compared_groups, models
from physar_ray.report.tables import group_metrics, ood_level_markdown, set_name
from tests.unit.report.test_tables import row


def keyed(source, index, v, split="eval_iid", level=0, reason="ok"):
    return {**row(source=source, split=split, level=level, v=v, reason=reason), "seed": 0, "index": index}


def write_eval(run: RunLayout, name: str, rows: list[dict]) -> None:
    storage.write_table(run.evaluation(name, PER_VIDEO), pa.Table.from_pylist(rows))
    storage.write_json(run.evaluation(name, METRICS), group_metrics(rows))


@pytest.fixture
def run(tmp_path):
    run = RunLayout(str(tmp_path))
    floor = [keyed(source, i, v) for i in range(4)
             for source, v in (("ground_truth", 0.01), ("static", 2.0 + i), ("constant_velocity", 0.5))]
    write_eval(run, "floor", floor)
    # the policies saw conditions 0 and 1 only; sft's condition 1 was not tracked
    write_eval(run, "sft", [keyed("sft", 0, 1.0), keyed("sft", 1, float("nan"), reason="ball_not_found")])
    write_eval(run, "grpo", [keyed("grpo", 0, 0.6), keyed("grpo", 1, 0.8)])
    return run


def test_the_predictors_are_scored_on_the_policies_conditions_only(run):
    table = models(run.root)
    assert list(table) == ["static", "constant_velocity", "sft", "grpo"]
    static = table["static"]["uniform"]["iid"]
    assert static["ci"]["v_err"]["count"] == 2 and static["v_err"] == pytest.approx(2.5)  # conditions 0, 1: 2 and 3
    sft = table["sft"]["uniform"]["iid"]
    assert sft["tracked"] == 0.5 and sft["ci"]["tracked"]["count"] == 2 and sft["v_err"] == 1.0


def test_compared_groups_name_every_source_and_the_figure_is_drawn(run):
    groups = compared_groups(run.root)
    counts = {g["source"]: g["count"] for g in groups}
    assert counts == {"static": 2, "constant_velocity": 2, "sft": 2, "grpo": 2}  # no ground_truth row
    png = verr_by_level(groups, ("static", "constant_velocity", "sft", "grpo"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_sets_are_named_by_what_they_draw_out_of_range():
    assert [set_name("uniform", "eval_ood", lv) for lv in (1, 2, 3)] == ["OOD r", "OOD v", "OOD r+v"]
    assert set_name("collision", "eval_ood", 6) == "OOD r1+v1+r2+v2"
    assert (set_name("parabola", "eval_iid", 0), set_name("parabola", "rl", 0)) == ("IID", "RL")
    metrics = group_metrics([row(split="eval_ood", level=3), row(scenario="collision", split="eval_ood", level=4)])
    assert "Levels (what each draws out of range): uniform 3 = r+v; collision 4 = v1+v2." in ood_level_markdown(
        metrics, "v_err")


def test_a_panel_with_no_tracked_video_is_drawn_empty():
    groups = group_metrics([row(source="sft", v=float("nan"), reason="ball_not_found"),
                            row(source="sft", scenario="collision", v=float("nan"), reason="ball_not_found")])["groups"]
    assert verr_by_level(groups)[:8] == b"\x89PNG\r\n\x1a\n"
