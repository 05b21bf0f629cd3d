"""`physar eval score` and `physar eval baselines` end to end on a small simulated dataset (real Ray)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from physar_ray import storage
from physar_ray.cli import main
from physar_ray.config import load
from physar_ray.sim.video import make_video_table

SCENARIOS = ("uniform", "parabola", "collision")
SETTINGS = ["measure.num_cpus_per_actor=0.5", "measure.batch_size=4"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    cfg = load(None, [])
    for scenario in SCENARIOS:
        for split, indices in (("eval_iid", range(3)), ("eval_ood", range(3))):
            table, _ = make_video_table(scenario, split, 0, indices, cfg.data)
            storage.write_table(storage.join(str(root), scenario, split, "part-0.parquet"), table)
    return root


def test_eval_score_writes_every_output_with_the_expected_numbers(ray_local, dataset, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "score", "--videos", str(dataset), "--out", str(out), *SETTINGS]) == 0
    rows = pq.read_table(out / "per_video.parquet").to_pylist()
    assert len(rows) == 3 * 18  # ground_truth + static + constant_velocity for 18 videos
    assert {r["source"] for r in rows} == {"ground_truth", "static", "constant_velocity"}
    data = [r for r in rows if r["source"] == "ground_truth"]
    assert all(r["reason"] == "ok" for r in data)
    assert max(r["v_err"] for r in data) < 0.03  # the tracker floor

    metrics = json.loads((out / "metrics.json").read_text())
    assert {(g["source"], g["scenario"], g["split"]) for g in metrics["groups"]} >= {
        ("ground_truth", s, sp) for s in SCENARIOS for sp in ("eval_iid", "eval_ood")}
    iid = metrics["table1"]["ground_truth"]["uniform"]["iid"]
    assert iid["count"] == 3 and iid["ok"] == 3
    assert iid["v_err"] == pytest.approx(np.mean([r["v_err"] for r in data
                                                  if (r["scenario"], r["split"]) == ("uniform", "eval_iid")]))
    assert iid["reward"] > 4.99  # α + 1 minus the tiny floor
    # A static ball misses the whole true velocity: v_err ≈ the initial speed (1.5 to 3.5 in eval_iid)
    static = metrics["table1"]["static"]["uniform"]["iid"]["v_err"]
    assert 1.5 <= static <= 3.5
    assert metrics["total"]["count"] == 54

    report = (out / "report.md").read_text()
    assert "| source | uniform | parabola | collision |" in report
    assert report.count("| ground_truth | ") >= 3 and "| static |" in report and "level 3" in report
    for name in ("verr_by_ood_level.png", "trajectories.png", "reward_vs_verr.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "measure:" in (out / "config.resolved.yaml").read_text()


def test_eval_baselines_round_trip_matches_the_reference_rows(ray_local, dataset, tmp_path):
    base, first, second = tmp_path / "base", tmp_path / "ev1", tmp_path / "ev2"
    assert main(["eval", "baselines", "--videos", str(dataset), "--out", str(base), *SETTINGS]) == 0
    assert (base / "static" / "uniform" / "eval_iid" / "part-0.parquet").exists()
    assert main(["eval", "score", "--videos", str(base / "static"), "--out", str(first), "--no-baselines", "--source", "static_written", *SETTINGS]) == 0
    assert main(["eval", "score", "--videos", str(dataset), "--out", str(second), *SETTINGS]) == 0
    key = lambda r: (r["scenario"], r["split"], r["index"])  # noqa: E731
    scored = {key(r): r["v_err"] for r in pq.read_table(first / "per_video.parquet").to_pylist()}
    inline = {key(r): r["v_err"] for r in pq.read_table(second / "per_video.parquet").to_pylist()
              if r["source"] == "static"}
    assert scored.keys() == inline.keys() and len(scored) == 18
    assert [scored[k] for k in sorted(scored)] == pytest.approx([inline[k] for k in sorted(scored)])


def test_empty_dataset_is_a_clear_error(ray_local, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["eval", "score", "--videos", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), *SETTINGS]) == 2
    assert "holds no .parquet files: run `physar data generate" in capsys.readouterr().err


def test_eval_score_reads_and_writes_s3(ray_local, dataset, s3_bucket):
    data, out = f"{s3_bucket}/data", f"{s3_bucket}/eval"
    for path in storage.list_files(str(dataset)):
        storage.write_table(storage.join(data, storage.relative(path, str(dataset))), storage.read_table(path))
    assert main(["eval", "score", "--videos", data, "--out", out, "--no-baselines", *SETTINGS]) == 0
    metrics = storage.read_json(storage.join(out, "metrics.json"))
    assert metrics["total"]["count"] == 18 and metrics["total"]["ok"] == 18
    assert metrics["total"]["v_err"] < 0.005
    rows = storage.read_table(storage.join(out, "per_video.parquet")).to_pylist()
    assert all(r["file"].startswith(f"{data}/") for r in rows)
    assert "## Velocity error" in storage.read_text(storage.join(out, "report.md"))
