"""Paired GRPO − SFT comparison from two per_video tables, and its place in summary.json / report.md."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from physar_ray import storage
from physar_ray.report.paired import counts_markdown, paired_comparison
from physar_ray.report.run_report import build_summary, report_markdown
from physar_ray.report.tables import group_metrics

NAN = float("nan")


def video(index, v, split="eval_ood", scenario="uniform", reason="ok", source="sft", seed=0, drift=None):
    return {"source": source, "scenario": scenario, "split": split, "ood_level": 1 if split == "eval_ood" else 0,
            "seed": seed, "index": index, "v_err": v, "v_drift": v / 2 if drift is None else drift, "r_err": 0.02,
            "centre_err_px": 0.1, "phyworld": 0.1, "phyworld_pre": NAN, "phyworld_post": NAN, "r_vel": 1.0,
            "r_mass": 1.0, "reward": 2.0, "valid_fraction": 1.0, "reason": reason}


def test_pairs_by_condition_and_counts_what_it_leaves_out():
    sft = [video(0, 1.0), video(1, 2.0), video(2, 3.0), video(3, 1.0), video(4, 1.0),
           video(0, 9.0, source="static")]  # reference rows never pair
    grpo = [video(2, 3.5), video(0, 0.5), video(1, 1.5),  # stored order must not matter
            video(3, NAN, reason="too_few_valid_frames"), video(5, 1.0)]
    cell = paired_comparison(sft, grpo)["uniform"]["ood"]
    assert {k: cell[k] for k in ("conditions", "only_a", "only_b", "untracked_a", "untracked_b")} == {
        "conditions": 4, "only_a": 1, "only_b": 1, "untracked_a": 0, "untracked_b": 1}
    # pairs 0, 1, 2: grpo − sft = −0.5, −0.5, +0.5 → mean −1/6; grpo lower in 2 of 3
    est = cell["v_err"]
    assert est["count"] == 3 and est["diff"] == pytest.approx(-1 / 6)
    assert (est["mean_a"], est["mean_b"]) == pytest.approx((2.0, 11 / 6))
    assert est["b_lower_fraction"] == pytest.approx(2 / 3)
    assert cell["v_drift"]["diff"] == pytest.approx(-1 / 12)  # v_drift = v_err / 2 in these rows
    assert counts_markdown(paired_comparison(sft, grpo), "sft", "grpo").splitlines()[2] == (
        "| uniform |  | 4 matched; untracked: sft 0, grpo 1; unmatched: only sft 1, only grpo 1 |  |")


def test_sets_and_scenarios_are_kept_apart_and_seed_is_part_of_the_key():
    sft = [video(0, 1.0, split="eval_iid"), video(0, 1.0, split="rl", scenario="collision"), video(0, 1.0, seed=1)]
    grpo = [video(0, 0.8, split="eval_iid"), video(0, 1.4, split="rl", scenario="collision"), video(0, 1.0, seed=2)]
    out = paired_comparison(sft, grpo)
    assert out["uniform"]["iid"]["v_err"]["diff"] == pytest.approx(-0.2)
    assert out["collision"]["rl"]["v_err"]["diff"] == pytest.approx(0.4)
    ood = out["uniform"]["ood"]
    assert (ood["conditions"], ood["only_a"], ood["only_b"], ood["v_err"]["count"]) == (0, 1, 1, 0)


def test_a_known_improvement_shows_as_an_interval_below_zero():
    rng = np.random.default_rng(0)
    v_sft = rng.gamma(4.0, 0.5, 48)  # wide spread over conditions, mean 2
    v_grpo = np.abs(v_sft - 0.3 + rng.normal(0.0, 0.15, 48))
    out = paired_comparison([video(i, v) for i, v in enumerate(v_sft)], [video(i, v) for i, v in enumerate(v_grpo)])
    est = out["uniform"]["ood"]["v_err"]
    assert est["high"] < 0.0 and est["low"] <= -0.3 <= est["high"]


def test_two_samples_of_one_condition_are_refused():
    with pytest.raises(ValueError, match="one sample per condition"):
        paired_comparison([video(0, 1.0), video(0, 2.0)], [video(0, 1.0)])


def _write_eval(out: str, name: str, rows: list[dict]) -> None:
    storage.write_table(storage.join(out, "eval", name, "per_video.parquet"), pa.Table.from_pylist(rows))
    storage.write_json(storage.join(out, "eval", name, "metrics.json"), group_metrics(rows))


def test_run_summary_and_report_carry_the_paired_table(tmp_path):
    out = str(tmp_path / "run")
    sft = [video(i, v) for i, v in enumerate([1.0, 2.0, 3.0])] + [video(0, 0.4, split="eval_iid")]
    grpo = [video(i, v) for i, v in enumerate([0.5, 1.5, 3.5])] + [video(0, 0.6, split="eval_iid", reason="ball_not_found")]
    _write_eval(out, "sft", sft)
    _write_eval(out, "grpo", grpo)
    summary = build_summary("tiny", "abc", {"total": 1.0}, out)
    json.dumps(summary)  # summary.json must serialise
    assert set(summary["models"]) == {"sft", "grpo"}
    assert summary["models"]["sft"]["uniform"]["ood"]["ci"]["v_err"]["count"] == 3
    assert summary["models"]["sft"]["uniform"]["ood"]["v_drift"] == pytest.approx(1.0)
    comparison = summary["paired"]["grpo_vs_sft"]
    assert (comparison["a"], comparison["b"]) == ("sft", "grpo")
    assert comparison["scenarios"]["uniform"]["ood"]["v_err"]["diff"] == pytest.approx(-1 / 6)
    assert comparison["scenarios"]["uniform"]["iid"]["untracked_b"] == 1
    report = report_markdown(summary, out)
    assert "## grpo − sft on the same conditions" in report
    lo, hi = (comparison["scenarios"]["uniform"]["ood"]["v_err"][k] for k in ("low", "high"))
    assert f"| uniform | — | -0.167 [{lo:+.3f}, {hi:+.3f}] (3 pairs; grpo lower in 67 %) |  |" in report
    assert "| uniform | 1 matched; untracked: sft 0, grpo 1 | 3 matched; untracked: sft 0, grpo 0 |  |" in report
    assert "| sft | uniform | 0.4000 (1) | 2.0000 [" in report  # the v_err table with intervals


def test_no_paired_section_without_both_policies(tmp_path):
    out = str(tmp_path / "run")
    _write_eval(out, "sft", [video(0, 1.0)])
    summary = build_summary("tiny", "abc", {"total": 1.0}, out)
    assert summary["paired"] == {} and "on the same conditions" not in report_markdown(summary, out)
