"""SFT throughput on local Ray: tokens/s for 1 vs 2 Ray Train workers (scaling ratio) and DeepSpeed
ZeRO-2 vs plain DDP on the same model and data (synthetic token videos, paper layout 32 × 16).

Run: .venv/bin/python benchmarks/bench_sft.py [--steps 30] [--hidden 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import pyarrow as pa

from physar_ray import storage
from physar_ray.config import load
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.synthetic import moving_code_videos
from physar_ray.train.sft_job import run_sft


def write_tokens(uri: str, layout: VideoLayout, num_videos: int) -> None:
    codes = moving_code_videos(num_videos, layout)
    column = pa.array([c.ravel().astype(np.int16) for c in codes], type=pa.list_(pa.int16()))
    storage.write_table(storage.join(uri, "tokens.parquet"), pa.table({"tokens": column}))


def tokens_per_s(base: list[str], data: str, extra: list[str]) -> float:
    cfg = load(None, [*base, *extra])
    with tempfile.TemporaryDirectory() as out:
        return run_sft(cfg, data, out)["metrics"]["sft/tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    # the last third of the steps is measured (log_every), after start-up and warm-up
    base = [f"sft.max_steps={args.steps}", f"sft.log_every={args.steps // 3}", f"sft.checkpoint_every={args.steps}",
            f"sft.hidden_size={args.hidden}", "sft.num_layers=2", "sft.batch_size=4", "sft.warmup_steps=5",
            f"sft.num_cpus_per_worker={args.cpus / 4}"]  # half the CPUs stay free for the Ray Data reads and maps
    with tempfile.TemporaryDirectory() as data:
        write_tokens(data, VideoLayout.from_config(load(None, [])), 256)
        runs = {
            "zero2 x1": ["sft.backend=deepspeed", "sft.zero_stage=2", "sft.num_workers=1"],
            "zero2 x2": ["sft.backend=deepspeed", "sft.zero_stage=2", "sft.num_workers=2"],
            "ddp   x2": ["sft.backend=ddp", "sft.num_workers=2"],
        }
        rates = {name: tokens_per_s(base, data, extra) for name, extra in runs.items()}
    for name, rate in rates.items():
        print(f"{name}: {rate:9.0f} tokens/s")
    print(f"scaling 2 vs 1 worker (ZeRO-2): {rates['zero2 x2'] / rates['zero2 x1']:.2f}x")
    print(f"ZeRO-2 vs DDP (2 workers):      {rates['zero2 x2'] / rates['ddp   x2']:.2f}x")


if __name__ == "__main__":
    main()
