"""Learning curves (report/curves.py) from synthetic metrics.jsonl files shaped as the stages write them."""

from __future__ import annotations

import json
import math

from physar_ray import layout
from physar_ray.report.curves import read_jsonl, series, write_curves
from physar_ray.report.run_report import report_markdown

PNG = b"\x89PNG\r\n\x1a\n"


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_each_stage_with_metrics_gets_its_curve_and_report_md_shows_it(tmp_path):
    _write(tmp_path / "tokenizer" / "metrics.jsonl",
           [{"step": s, "ddt/loss": 1 / s, "ddt/recon_mse": 0.1 / s, "ddt/codes_used": 10 + s} for s in range(1, 31)])
    _write(tmp_path / "sft" / "metrics.jsonl",
           [{"sft/step": s, "sft/loss": 3 - s / 100, "sft/lr": 1e-3} for s in (10, 20, 30)])
    grpo = [{"grpo/step": s, "grpo/reward_mean": 1 + s / 10, "grpo/reward_std": 0.1, "grpo/kl": 0.01 * s}
            for s in range(4)]
    grpo += [{"grpo/step": s, "eval/weights_version": s, "eval/rl_v_err_mean": 1.0 / (s + 1),
              "eval/ood_v_err_mean": None} for s in (0, 2, 4)]  # null: no OOD video tracked
    _write(tmp_path / "grpo" / "metrics.jsonl", grpo)

    drawn = write_curves(str(tmp_path))
    assert [png for _, png in drawn] == [layout.TOKENIZER_CURVES, layout.SFT_CURVES, layout.GRPO_CURVES]
    for png in (layout.TOKENIZER_CURVES, layout.SFT_CURVES, layout.GRPO_CURVES):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000

    summary = {"preset": "tiny", "config_hash": "abc", "wall_s": {"sft": 1.0}, "models": {}, "paired": {},
               "table4": {}, "decoding": {}}
    text = report_markdown(summary, str(tmp_path))
    assert f"![SFT loss]({layout.SFT_CURVES})" in text and f"]({layout.GRPO_CURVES})" in text


def test_a_stage_without_metrics_draws_nothing(tmp_path):
    _write(tmp_path / "sft" / "metrics.jsonl", [])
    assert write_curves(str(tmp_path)) == []
    assert not (tmp_path / "curves").exists()
    assert read_jsonl(str(tmp_path / "grpo" / "metrics.jsonl")) == []


def test_series_keeps_the_measured_points():
    records = [{"s": 1, "v": 2.0}, {"s": 2, "v": None}, {"s": 3, "v": math.nan}, {"s": 4}, {"s": 5, "v": 1}]
    assert series(records, "s", "v") == ([1.0, 5.0], [2.0, 1.0])
