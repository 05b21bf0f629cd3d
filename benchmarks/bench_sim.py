"""Simulator throughput: one process vs Ray Data on 2 workers, measured side by side.

Prints frames/s/core of simulate+render (all three scenarios) in this process, the same
work plus zstd Parquet shards, and `physar data generate`'s Ray Data pipeline on 2 CPUs;
scaling = Ray rate / (2 × single-process rate for the same work). Targets (issue 4):
≥ 20k frames/s/core, scaling ≥ 0.85.

    RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/bench_sim.py [--videos 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from physar_ray.config import SCENARIOS, load
from physar_ray.data.generate import generate, write_shard
from physar_ray.data.shards import Shard, plan_shards
from physar_ray.sim.video import make_video_table


def single_process(cfg, shards: list[Shard], write_to: str | None) -> float:
    start = time.perf_counter()
    frames = 0
    for shard in shards:
        if write_to is None:
            make_video_table(shard.scenario, shard.split, cfg.data.seed, range(shard.start, shard.stop), cfg.data)
        else:
            write_shard(shard, write_to, cfg.data, cfg.storage)
        frames += (shard.stop - shard.start) * cfg.data.num_frames
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3000, help="videos for the Ray run (split over 3 scenarios)")
    parser.add_argument("--single-videos", type=int, default=600, help="videos for the single-process runs")
    args = parser.parse_args()
    per_scenario = args.videos // len(SCENARIOS)
    overrides = ["data.splits=[sft]", f"data.num_videos.sft={per_scenario}", "data.num_cpus_per_task=1", "run.num_cpus=2",
                 "data.resolution=128", "data.videos_per_shard=64"]
    cfg = load("tiny", overrides)
    single_cfg = load("tiny", [*overrides, f"data.num_videos.sft={args.single_videos // len(SCENARIOS)}"])
    shards = plan_shards(single_cfg.data)

    single_process(single_cfg, shards[:1], None)  # warm-up: imports, allocator
    print(f"simulate+render, 1 process: per scenario ({args.single_videos // 3} videos each)")
    for scenario in SCENARIOS:
        rate = single_process(single_cfg, [s for s in shards if s.scenario == scenario], None)
        print(f"  {scenario:10s} {rate:9.0f} frames/s/core")
    sim_rate = single_process(single_cfg, shards, None)
    print(f"  {'all':10s} {sim_rate:9.0f} frames/s/core   (target >= 20000)")
    with tempfile.TemporaryDirectory() as tmp:
        shard_rate = single_process(single_cfg, shards, os.path.join(tmp, "single"))
        print(f"simulate+render+Parquet, 1 process: {shard_rate:9.0f} frames/s/core")

        from physar_ray.runtime.cluster import ensure_ray

        ensure_ray(cfg.run)
        start = time.perf_counter()
        generate(cfg, os.path.join(tmp, "ray"))
        elapsed = time.perf_counter() - start
        ray_rate = per_scenario * len(SCENARIOS) * cfg.data.num_frames / elapsed
    print(f"Ray Data generate, 2 workers, {per_scenario * 3} videos: {ray_rate:9.0f} frames/s in {elapsed:.1f} s")
    print(f"scaling = {ray_rate:.0f} / (2 x {shard_rate:.0f}) = {ray_rate / (2 * shard_rate):.2f}   (target >= 0.85)")


if __name__ == "__main__":
    main()
