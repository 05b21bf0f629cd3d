"""metrics.json and report.md layout from hand-made per-video rows."""

from __future__ import annotations

import pytest

from physar_ray.report.tables import (ci_cell, group_metrics, report_markdown, summarise, table1_ci_markdown,
                                      table1_markdown)

NAN = float("nan")


def row(source="ground_truth", scenario="uniform", split="eval_iid", level=0, v=0.1, r=0.02, reward=4.0, reason="ok",
        phyworld=0.05, valid=1.0, drift=None):
    return {"source": source, "scenario": scenario, "split": split, "ood_level": level, "v_err": v,
            "v_drift": v / 2 if drift is None else drift, "r_err": r,
            "centre_err_px": 0.01, "phyworld": phyworld, "r_vel": reward - 1, "r_mass": 1.0, "reward": reward,
            "valid_fraction": valid, "reason": reason}


def test_summary_means_errors_over_ok_videos_and_rewards_over_all():
    rows = [row(v=0.1, reward=4.0), row(v=0.3, reward=3.0, phyworld=NAN),
            row(v=NAN, r=NAN, reward=0.0, reason="ball_not_found", phyworld=NAN, valid=0.0)]
    s = summarise(rows)
    assert (s["count"], s["ok"], s["floored"], s["phyworld_count"]) == (3, 2, 1, 1)
    assert s["v_err"] == pytest.approx(0.2)  # (0.1 + 0.3) / 2, the floored video not averaged in
    assert s["phyworld"] == pytest.approx(0.05)  # NaN = excluded by PhyWorld's rules
    assert s["reward"] == pytest.approx(7.0 / 3)  # the floor counts against the model
    assert s["valid_fraction"] == pytest.approx(2.0 / 3)
    assert s["reasons"] == {"ball_not_found": 1, "ok": 2}
    assert summarise([row(reason="no_scored_frames", v=NAN)])["v_err"] is None


def test_group_metrics_and_table1_layout():
    rows = [row(v=0.01), row(split="eval_ood", level=2, v=0.5), row(source="static", v=2.0),
            row(scenario="collision", split="eval_ood", level=6, v=0.07), row(split="rl", v=0.3)]
    m = group_metrics(rows)
    assert [(g["source"], g["scenario"], g["split"], g["ood_level"]) for g in m["groups"]] == [
        ("ground_truth", "collision", "eval_ood", 6), ("ground_truth", "uniform", "eval_iid", 0),
        ("ground_truth", "uniform", "eval_ood", 2), ("ground_truth", "uniform", "rl", 0), ("static", "uniform", "eval_iid", 0)]
    assert m["table1"]["ground_truth"]["uniform"]["ood"]["v_err"] == pytest.approx(0.5)
    assert m["table1"]["ground_truth"]["uniform"]["rl"]["v_err"] == pytest.approx(0.3)
    table = table1_markdown(m, "v_err").splitlines()
    assert table[0] == "| source | uniform | collision |"
    assert table[2] == "| ground_truth | 0.0100 / 0.5000 / 0.3000 | — / 0.0700 / — |"
    assert table[3] == "| static | 2.0000 / — / — | — / — / — |"
    report = report_markdown(m, "s3://b/data", ["a.png"])
    assert "| source | scenario | level 2 | level 6 |" in report  # the OOD-level table
    assert "| ground_truth | uniform | 0.5000 (1) |  |" in report and "| ground_truth | collision |  | 0.0700 (1) |" in report
    assert "![a.png](a.png)" in report
    with pytest.raises(ValueError, match="dataset was empty"):
        group_metrics([])


def test_error_cells_give_count_mean_and_bootstrap_interval():
    # v_err 0 and 1: bootstrap means 0, 0.5, 1 (probability 1/4, 1/2, 1/4) → 95 % interval [0, 1]
    rows = [row(v=0.0, drift=0.0), row(v=1.0, drift=0.2), row(v=NAN, reason="ball_not_found", phyworld=NAN)]
    s = summarise(rows)
    assert s["ci"]["v_err"] == {"count": 2, "mean": 0.5, "low": 0.0, "high": 1.0}
    assert s["ci"]["r_err"] == pytest.approx({"count": 2, "mean": 0.02, "low": 0.02, "high": 0.02})
    # tracked 1, 1, 0: P(no tracked video in a resample) = 1/27 > 2.5 %, P(all) = 8/27 → [0, 1] around 2/3
    assert s["ci"]["tracked"] == pytest.approx({"count": 3, "mean": 2 / 3, "low": 0.0, "high": 1.0})
    assert s["ci"]["v_drift"]["count"] == 2 and s["ci"]["v_drift"]["mean"] == pytest.approx(0.1)
    assert ci_cell(s["ci"]["v_err"]) == "0.5000 [0.0000, 1.0000] (2)"
    assert ci_cell({"count": 0, "mean": None, "low": None, "high": None}) == "—"
    table = table1_ci_markdown(group_metrics(rows + [row(split="eval_ood", v=0.3)]), "v_err").splitlines()
    assert table[0] == "| source | scenario | IID | OOD | RL |"
    assert table[2] == "| ground_truth | uniform | 0.5000 [0.0000, 1.0000] (2) | 0.3000 (1) | — |"
    report = report_markdown(group_metrics(rows), "runs/x", [])
    assert "## Mean-velocity error v_drift (units/s)" in report
    assert "| ground_truth | uniform | eval_iid | 0 | 3 | 2 | 0.5000 [0.0000, 1.0000] (2) |" in report  # every-group table


def test_rows_written_before_a_column_existed_count_it_as_not_measured():
    old = [{k: v for k, v in row().items() if k != "v_drift"}]
    s = summarise(old)
    assert s["v_drift"] is None and s["ci"]["v_drift"]["count"] == 0 and s["v_err"] == pytest.approx(0.1)
