"""GRPO step on Ray vs the same work in one process; per-phase breakdown and the weight-sync share.

The Ray side is ``GRPOController.run_step`` (rollout 1, reward 1, learner 1 actors); the
in-process side runs the same plain classes back to back in this process: RolloutWorker.rollout,
RewardWorker.score, group_advantages, LearnerWorker.step, then the rollout engine loads the
learner's state dict. Both use one thread per worker, the same prompts, seeds and sizes. The
modes take turns round by round (a shared machine's load hits both alike); medians are printed.
Targets (issue 8): Ray / in-process ≤ 1.15, sync ≤ 5% of the step.

    RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/bench_grpo.py [--rounds 6] [--sync object_store|gloo] [--batch 16] [--hidden 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tiny GRPO world of the tests
from tests.unit.grpo.grpo_helpers import build_assets, tiny_config  # noqa: E402

from physar_ray.data.generate import generate  # noqa: E402
from physar_ray.grpo.controller import GRPOController, step_seed  # noqa: E402
from physar_ray.grpo.learner import LearnerWorker, free_port  # noqa: E402
from physar_ray.runtime.reward_pool import RewardWorker  # noqa: E402
from physar_ray.grpo.rollout import RolloutWorker  # noqa: E402
from physar_ray.lm.sequence import VideoLayout  # noqa: E402
from physar_ray.rl.advantages import group_advantages  # noqa: E402

PHASES = ("time/generate_s", "time/decode_s", "time/rollout_s", "time/reward_s", "time/learn_s", "time/sync_s",
          "time/step_s")


def bench_config(sync: str, batch: int, hidden: int):
    return tiny_config(
        "data.splits=[rl,eval_ood]", "data.num_videos.rl=40", f"sft.hidden_size={hidden}", "sft.num_layers=2",
        f"grpo.batch_size={batch}",
        "grpo.learner.num_workers=1", "grpo.learner.micro_batch_size=4", "measure.num_actors=1",
        "grpo.rollout.num_cpus_per_worker=1", "grpo.learner.num_cpus_per_worker=1", "measure.num_cpus_per_actor=0.5",
        f"grpo.sync.backend={sync}", "grpo.max_steps=1000", "grpo.learner.lr=0.0001")


class InProcess:
    """The controller's step, phase by phase, with the plain classes in this process."""

    def __init__(self, ctl: GRPOController, model_dir: str, tok_dir: str) -> None:
        cfg = ctl.cfg
        self.ctl, self.cfg = ctl, cfg
        self.rollout = RolloutWorker(model_dir, tok_dir, VideoLayout.from_config(cfg), cfg.grpo.rollout)
        self.reward = RewardWorker(cfg.measure, cfg.data.cond_frames)
        self.learner = LearnerWorker(0, 1, model_dir, cfg.grpo)
        self.learner.setup("127.0.0.1", free_port())
        self.step_index = 0

    def step(self) -> dict[str, float]:
        grpo, g, t0 = self.cfg.grpo, self.cfg.grpo.rollout.group_size, time.perf_counter()
        prompts = self.ctl._train_prompts(self.step_index)
        out, *videos = self.rollout.rollout(prompts, g, step_seed(grpo.seed, self.step_index))
        t1 = time.perf_counter()
        scores = self.reward.score(*videos)
        t2 = time.perf_counter()
        rewards = torch.tensor([s.reward for s in scores], dtype=torch.float64)
        adv = group_advantages(rewards, g, grpo.scale_by_std).numpy().astype(np.float32)
        self.learner.step({"prompt_ids": out.prompt_ids, "ids": out.ids, "logprobs": out.logprobs, "advantages": adv})
        t3 = time.perf_counter()
        self.step_index += 1
        self.rollout.engine.load_weights(self.learner.state_dict(), self.step_index)
        t4 = time.perf_counter()
        return {"time/generate_s": out.generate_s, "time/decode_s": out.decode_s, "time/rollout_s": t1 - t0,
                "time/reward_s": t2 - t1, "time/learn_s": t3 - t2, "time/sync_s": t4 - t3, "time/step_s": t4 - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="steps per mode, taken in turns (default 6)")
    parser.add_argument("--sync", default="object_store", help="grpo.sync.backend: object_store or gloo")
    parser.add_argument("--batch", type=int, default=16, help="videos per step, g = 4 (default 16)")
    parser.add_argument("--hidden", type=int, default=128, help="width of the 2-layer scratch LM (default 128)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False)
    cfg = bench_config(args.sync, args.batch, args.hidden)
    root = Path(tempfile.mkdtemp(prefix="bench-grpo-"))
    model_dir, tok_dir = build_assets(cfg, root)
    generate(cfg, str(root / "data"))
    ctl = GRPOController(cfg, model_dir, tok_dir, str(root / "data"), str(root / "run"))
    local = InProcess(ctl, model_dir, tok_dir)
    ctl.run_step(), local.step()  # warm-up: first calls import and allocate
    runs: dict[str, list[dict[str, float]]] = {"ray": [], "local": []}
    for _ in range(args.rounds):
        runs["ray"].append(ctl.run_step())
        runs["local"].append(local.step())
    ctl.shutdown()
    ray.shutdown()

    med = {mode: {k: statistics.median(r[k] for r in rows) for k in PHASES} for mode, rows in runs.items()}
    params = sum(t.numel() for t in local.learner.state_dict().values())
    print(f"GRPO step, batch {cfg.grpo.batch_size} videos (g={cfg.grpo.rollout.group_size}), "
          f"{params / 1e3:.0f}k-parameter LM, {cfg.data.num_frames} frames of {cfg.data.resolution} px, "
          f"sync={args.sync}, load average {os.getloadavg()[0]:.1f}, median of {args.rounds} steps")
    print(f"{'phase':<18}{'ray (s)':>10}{'in-process (s)':>16}")
    for k in PHASES:
        print(f"{k:<18}{med['ray'][k]:>10.4f}{med['local'][k]:>16.4f}")
    ratio = med["ray"]["time/step_s"] / med["local"]["time/step_s"]
    share = med["ray"]["time/sync_s"] / med["ray"]["time/step_s"]
    print(f"Ray / in-process step time: {ratio:.3f} (target <= 1.15)")
    print(f"weight sync share of the Ray step: {100 * share:.1f}% (target <= 5%), "
          f"{runs['ray'][-1]['sync/bytes'] / 1e6:.2f} MB per sync")


if __name__ == "__main__":
    main()
