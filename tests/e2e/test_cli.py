"""The `physar` command as a user runs it: a fresh process that starts its own local Ray."""

import json
import os
import subprocess
import sys

import yaml
from transformers import AutoConfig

from tests.e2e.short_run import SHORT_RUN

PHYSAR = [sys.executable, "-m", "physar_ray.cli"]
ENV = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}


def physar(*args, check=True):
    return subprocess.run([*PHYSAR, *args], env=ENV, capture_output=True, text=True, check=check, timeout=600)


def test_help_explains_every_command():
    top = physar("--help").stdout
    for stage in ("data", "run", "config"):
        assert stage in top
    gen = physar("data", "generate", "--help").stdout
    assert "data.num_videos" in gen and "dotted config overrides" in gen and "s3://" in gen


STAGE_ORDER = ("data", "samples", "floor", "tokenizer", "tokens", "recon", "sft", "eval_sft", "grpo", "eval_grpo")


# Not e2e_long although it takes minutes: it is the only test of `physar run` (pipeline.py's stage graph,
# lineage, skip, --from, summary and report), so `make test` runs it.
def test_run_writes_a_self_describing_run_folder_then_skips_and_redoes_from_a_stage(tmp_path):
    out = tmp_path / "demo"
    first = physar("run", "--preset", "tiny", "--out", str(out), *SHORT_RUN)
    # the local Ray serves its dashboard, so Ray Train's state queries succeed instead of logging a failure a second
    assert "dashboard at http://127.0.0.1:" in first.stderr
    assert "Failed to query Ray Train Controller" not in first.stderr + first.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == "tiny"
    stages = set(STAGE_ORDER)
    assert set(summary["wall_s"]) == stages | {"total"}
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["data"]["resolution"] == 32 and resolved["run"]["preset"] == "tiny"
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["counts"]["collision"] == {"sft": 4, "rl": 4, "eval_iid": 2, "eval_ood": 3}
    assert {p.name for p in (out / "samples").glob("*.png")} == {"uniform.png", "parabola.png", "collision.png"}
    assert len(list((out / "samples" / "gifs").glob("*.gif"))) == 9
    assert (out / "eval" / "floor" / "report.md").exists() and (out / "tokenizer" / "model.safetensors").exists()
    assert set(summary["table4"]) == {"uniform", "parabola", "collision"}
    assert summary["table4"]["uniform"]["floor_v_err"] < 0.05
    # the tiny preset evaluates greedily and again under GRPO's exploration sampling (τ = 1)
    sampled = "(τ=1, top-k 50, top-p 0.95)"
    assert set(summary["models"]) == {"static", "constant_velocity", "sft", "grpo", f"sft {sampled}", f"grpo {sampled}"}
    assert summary["decoding"] == {"sft": "greedy", "grpo": "greedy"}
    for model in ("sft", "grpo"):
        assert AutoConfig.from_pretrained(out / model / "model").physar_visual["num_codes"] == 256
        for folder in (out / "eval" / model, out / "eval" / model / "rollout_sampling"):
            counts = json.loads((folder / "metrics.json").read_text())["total"]["count"]
            assert counts == 3 * (2 + 2) + 2  # per scenario 2 iid and 2 of 3 ood; the 2 held-out rl videos
    assert set(summary["paired"]["grpo_vs_sft"]["scenarios"]) == {"uniform", "parabola", "collision"}
    report = (out / "report.md").read_text()
    assert "## Velocity error v_err" in report and "](models_by_level.png)" in report
    assert (out / "models_by_level.png").read_bytes()[:4] == b"\x89PNG"
    # every table cell of r_err and of the tracked fraction carries its interval and count
    assert summary["models"]["sft"]["uniform"]["iid"]["ci"]["tracked"]["count"] == 2
    import pyarrow.parquet as pq

    for folder, source in (("floor", "ground_truth"), ("recon", "reconstruction"), ("sft", "sft"), ("grpo", "grpo")):
        sources = set(pq.read_table(out / "eval" / folder / "per_video.parquet").column("source").to_pylist())
        assert source in sources and "data" not in sources
    # the policies' own videos beside the ground truth: one sheet per scenario, a GIF per eval_iid / eval_ood condition
    assert {p.name for p in (out / "samples" / "generated").glob("*.png")} == {"uniform.png", "parabola.png", "collision.png"}
    assert len(list((out / "samples" / "generated" / "gifs").glob("*.gif"))) == 6
    assert "## Generated videos" in (out / "report.md").read_text()
    # every training stage tracked into the run folder: one MLflow store, TensorBoard events, the learning curves
    import mlflow

    from physar_ray.tracking import local_mlflow_uri

    client = mlflow.tracking.MlflowClient(tracking_uri=local_mlflow_uri(str(out)))
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("physar").experiment_id])}
    assert {"tokenizer", "sft", "grpo"} <= set(runs)
    assert client.get_metric_history(runs["sft"].info.run_id, "sft/loss")
    assert all(list((out / "tensorboard" / stage).glob("events.out.tfevents.*")) for stage in ("tokenizer", "sft", "grpo"))
    assert {p.name for p in (out / "curves").glob("*.png")} == {"tokenizer.png", "sft.png", "grpo.png"}

    lineage = json.loads((out / "lineage.json").read_text())
    assert set(lineage) == stages and {v["status"] for v in lineage.values()} == {"done"}
    assert lineage["tokens"]["inputs"] == ["data", "tokenizer"] and lineage["grpo"]["inputs"] == ["sft", "tokenizer", "data"]
    assert summary["this_run"]["stages"] == list(STAGE_ORDER)
    assert lineage["sft"]["code"]["versions"]["torch"] and "git" in lineage["sft"]["code"]
    log_lines = (out / "run.log").read_text().splitlines()
    assert sum("stage grpo: done" in line for line in log_lines) == 1
    physar("run", "--preset", "tiny", "--out", str(out), *SHORT_RUN)
    assert json.loads((out / "lineage.json").read_text()) == lineage  # nothing redone
    second = json.loads((out / "summary.json").read_text())
    assert second["this_run"]["stages"] == [] and second["wall_s"] == summary["wall_s"]
    physar("run", "--preset", "tiny", "--out", str(out), *SHORT_RUN, "--from", "grpo")
    assert sum("stage grpo: done" in line for line in (out / "run.log").read_text().splitlines()) == 2  # appended
    again = json.loads((out / "lineage.json").read_text())
    assert again["sft"] == lineage["sft"] and again["grpo"]["finished_at"] >= lineage["grpo"]["finished_at"]
    assert json.loads((out / "summary.json").read_text())["this_run"]["stages"] == ["grpo", "eval_grpo"]
    bad = physar("run", "--preset", "tiny", "--out", str(out), "--from", "bogus", check=False)
    assert bad.returncode == 2 and "argument --from: invalid choice: 'bogus' (choose from 'data', 'samples'" in bad.stderr


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = physar("data", "generate", "--preset", "tiny", "--out", str(tmp_path), "data.resolution=8", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "physar: error: data.resolution=8 is too small: use at least 32 px"]
    assert not list(tmp_path.iterdir())  # nothing half-written
