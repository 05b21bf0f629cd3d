"""`physar data generate` on a real local Ray, to local disk and to a loopback S3 endpoint."""

import os
import subprocess
import sys
import time

import pyarrow as pa

from physar_ray import storage
from physar_ray.cli import main
from physar_ray.config import load
from physar_ray.data.dataset import read_dataset, simulated_videos
from physar_ray.data.generate import generate, plan_shards
from physar_ray.records import table_to_records
from physar_ray.sim.video import make_video

SMALL = ["data.resolution=32", "data.videos_per_shard=4", "data.num_videos.sft=8", "data.num_videos.rl=2",
         "data.num_videos.eval_iid=2", "data.num_videos.eval_ood=6"]


def small_cfg(*extra):
    return load("tiny", [*SMALL, *extra])


def test_generate_writes_every_video_once_with_manifest(ray_local, tmp_path):
    cfg = small_cfg()
    manifest = generate(cfg, str(tmp_path))
    assert manifest["counts"]["collision"] == {"sft": 8, "rl": 2, "eval_iid": 2, "eval_ood": 6}
    assert set(manifest["rejected"]) == {"uniform", "parabola", "collision"}
    assert storage.read_json(str(tmp_path / "manifest.json")) == manifest
    assert load(str(tmp_path / "config.resolved.yaml")).data == cfg.data
    records = table_to_records(storage.read_table(str(tmp_path / "collision" / "eval_ood")))
    assert sorted(r.index for r in records) == list(range(6))
    assert sorted({r.ood_level for r in records}) == [1, 2, 3, 4, 5, 6]
    again, _ = make_video("collision", "eval_ood", cfg.data.seed, records[0].index, cfg.data)
    assert again.frames.tobytes() == records[0].frames.tobytes()


def test_rerun_writes_only_missing_shards_and_drops_stale_ranges(ray_local, tmp_path):
    cfg = small_cfg("data.scenarios=[uniform]")
    generate(cfg, str(tmp_path))
    shard_files = sorted((tmp_path / "uniform").rglob("*.parquet"))
    stamps = {p: p.stat().st_mtime_ns for p in shard_files}
    shard_files[0].unlink()
    manifest = generate(cfg, str(tmp_path))
    assert len(manifest["shards"]) == len(plan_shards(cfg.data))
    rewritten = [p for p in shard_files if p.stat().st_mtime_ns != stamps[p]]
    assert rewritten == [shard_files[0]]
    # more sft videos: the old partial range is replaced, nothing duplicated
    bigger = small_cfg("data.scenarios=[uniform]", "data.num_videos.sft=10")
    generate(bigger, str(tmp_path))
    indices = [r.index for r in table_to_records(storage.read_table(str(tmp_path / "uniform" / "sft")))]
    assert sorted(indices) == list(range(10))


def test_interrupted_run_resumes_without_duplicates_or_losses(ray_local, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "physar_ray.cli", "data", "generate", "--preset", "tiny", "--out", str(out),
            "data.scenarios=[parabola]", "data.splits=[sft]", "data.num_videos.sft=48", "data.videos_per_shard=2",
            "data.resolution=32", "run.num_cpus=1"]
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.rglob("videos-*.parquet"))) < 3 and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    before = len(list(out.rglob("videos-*.parquet")))
    assert 0 < before < 24, "the kill should land mid-run"
    assert main(args[3:]) == 0
    indices = [r.index for r in table_to_records(storage.read_table(str(out / "parabola" / "sft")))]
    assert sorted(indices) == list(range(48))
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_s3_round_trip_and_show(ray_local, s3_bucket, tmp_path):
    uri = f"{s3_bucket}/runs/data"
    cfg = small_cfg("data.scenarios=[uniform,collision]", "data.splits=[sft,eval_ood]")
    manifest = generate(cfg, uri)
    assert len(manifest["shards"]) == 2 * (2 + 2)
    local = tmp_path / "local"
    generate(cfg, str(local))
    remote = storage.read_table(f"{uri}/collision/eval_ood")
    assert remote.equals(storage.read_table(str(local / "collision" / "eval_ood")))
    assert read_dataset(uri).count() == 2 * (8 + 6)
    assert main(["data", "show", "--videos", uri, "--out", f"{s3_bucket}/runs/show", "--per-scenario", "2"]) == 0
    assert storage.exists(f"{s3_bucket}/runs/show/collision.png")
    saved = storage.read_text(f"{uri}/config.resolved.yaml")
    assert "testing" not in saved  # credentials never reach the saved config


def test_streaming_dataset_matches_generated_bytes(ray_local, tmp_path):
    cfg = small_cfg("data.scenarios=[parabola]", "data.splits=[rl]")
    generate(cfg, str(tmp_path))
    streamed = sorted(simulated_videos(cfg.data).take_all(), key=lambda r: r["index"])
    written = sorted(storage.read_table(str(tmp_path / "parabola" / "rl")).to_pylist(), key=lambda r: r["index"])
    assert [r["frames"] for r in streamed] == [r["frames"] for r in written]


def test_bad_inputs_fail_with_one_clear_line(ray_local, tmp_path, capsys):
    assert main(["data", "generate", "--out", str(tmp_path / "a"), "data.scenarios=[spiral]"]) == 2
    assert "data.scenarios has 'spiral'" in capsys.readouterr().err
    # a foreign Parquet file where shards live
    foreign = tmp_path / "b" / "uniform" / "sft"
    foreign.mkdir(parents=True)
    storage.write_table(str(foreign / "videos-0000000-0000004.parquet"), pa.table({"x": [1]}))
    assert main(["data", "generate", "--preset", "tiny", "--out", str(tmp_path / "b"), *SMALL]) == 2
    assert "not a physar video table: missing column(s)" in capsys.readouterr().err
    # a corrupt one
    (foreign / "videos-0000000-0000004.parquet").write_bytes(b"garbage")
    assert main(["data", "generate", "--preset", "tiny", "--out", str(tmp_path / "b"), *SMALL]) == 2
    assert "is not a readable Parquet file" in capsys.readouterr().err
    # shards of another config
    generate(small_cfg("data.scenarios=[uniform]", "data.splits=[rl]"), str(tmp_path / "c"))
    assert main(["data", "generate", "--preset", "tiny", "--out", str(tmp_path / "c"), *SMALL, "data.seed=5",
                 "data.scenarios=[uniform]", "data.splits=[rl]"]) == 2
    assert "already holds shards of another data config" in capsys.readouterr().err


def test_unreachable_and_unauthorised_s3(ray_local, s3_bucket, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    assert main(["data", "generate", "--out", "s3://no-such-bucket-physar/x", *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("physar: error: cannot access s3://no-such-bucket-physar/x") and "credentials" in err
    assert len(err.splitlines()) == 1 and "wrong" not in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert main(["data", "generate", "--out", f"{s3_bucket}/x", *SMALL, "storage.s3_endpoint=http://127.0.0.1:9"]) == 2
    assert "cannot access" in capsys.readouterr().err
