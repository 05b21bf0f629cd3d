"""The `physar` command as a user runs it: a fresh process that starts its own local Ray."""

import json
import os
import subprocess
import sys

import yaml

PHYSAR = [sys.executable, "-m", "physar_ray.cli"]
ENV = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}


def physar(*args, check=True):
    return subprocess.run([*PHYSAR, *args], env=ENV, capture_output=True, text=True, check=check, timeout=600)


def test_help_explains_every_command():
    top = physar("--help").stdout
    for stage in ("data", "run", "config"):
        assert stage in top
    gen = physar("data", "generate", "--help").stdout
    assert "--num-videos" in gen and "dotted config overrides" in gen and "s3://" in gen


def test_run_tiny_writes_a_self_describing_run_folder(tmp_path):
    out = tmp_path / "demo"
    physar("run", "--preset", "tiny", "--out", str(out), "data.num_videos.sft=6", "data.num_videos.rl=3",
           "data.num_videos.eval_iid=3", "data.num_videos.eval_ood=6", "data.videos_per_shard=3",
           "data.resolution=48", "tokenizer.time_budget_s=3")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == "tiny"
    assert set(summary["wall_s"]) == {"data", "samples", "floor", "tokenizer", "tokens", "recon", "total"}
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["data"]["resolution"] == 48 and resolved["run"]["preset"] == "tiny"
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["counts"]["collision"] == {"sft": 6, "rl": 3, "eval_iid": 3, "eval_ood": 6}
    assert {p.name for p in (out / "samples").glob("*.png")} == {"uniform.png", "parabola.png", "collision.png"}
    assert len(list((out / "samples" / "gifs").glob("*.gif"))) == 9
    floor = json.loads((out / "eval" / "floor" / "metrics.json").read_text())
    assert floor and (out / "eval" / "floor" / "report.md").exists()
    assert (out / "tokenizer" / "model.safetensors").exists()
    recon = json.loads((out / "eval" / "recon" / "metrics.json").read_text())
    assert recon and list((out / "tokens").rglob("*.parquet"))


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = physar("data", "generate", "--out", str(tmp_path), "data.resolution=8", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "physar: error: data.resolution=8 is too small: use at least 32 px"]
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_second_run_skips_and_from_redoes_only_what_follows(tmp_path):
    out = tmp_path / "r"
    small = ["data.num_videos.sft=3", "data.num_videos.rl=3", "data.num_videos.eval_iid=3",
             "data.num_videos.eval_ood=3", "data.resolution=32", "data.scenarios=[uniform]", "tokenizer.time_budget_s=2"]
    physar("run", "--preset", "tiny", "--out", str(out), *small)
    lineage = json.loads((out / "lineage.json").read_text())
    assert set(lineage) == {"data", "samples", "floor", "tokenizer", "tokens", "recon"}
    assert lineage["samples"]["inputs"] == ["data"] and lineage["tokens"]["inputs"] == ["data", "tokenizer"]
    physar("run", "--preset", "tiny", "--out", str(out), *small)
    assert json.loads((out / "lineage.json").read_text()) == lineage  # nothing redone
    assert all(v == 0.0 for k, v in json.loads((out / "summary.json").read_text())["wall_s"].items() if k != "total")
    physar("run", "--preset", "tiny", "--out", str(out), *small, "--from", "recon")
    again = json.loads((out / "lineage.json").read_text())
    wall = json.loads((out / "summary.json").read_text())["wall_s"]
    assert again["tokenizer"] == lineage["tokenizer"] and wall["tokenizer"] == 0.0 and wall["recon"] > 0.0
    bad = physar("run", "--preset", "tiny", "--out", str(out), "--from", "bogus", check=False)
    assert bad.returncode == 2 and "is not a stage: choose one of data, samples, floor, tokenizer" in bad.stderr
