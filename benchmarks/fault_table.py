"""The fault table: each fault the code recovers from, injected once (or --repeats times) into a short run on one
local Ray, and what it cost: did the run complete, seconds to detect, seconds to recover, items lost.

GRPO rows run the tests' tiny GRPO world (a scratch LM, an untrained coordinate tokenizer, 12 simulated rl
prompts; 3 steps of 8 videos, 2 learner ranks, 2 reward actors); a fault lands at a chosen point, by
``run.faults`` (the process kills or stops itself there) or by ``ray.kill`` between two steps, never by a
watcher racing the run. Their seconds come from ``<out>/faults/events.jsonl``, which the controller writes
(``physar_ray.faults.record``): detect = from the start of the phase the fault hit until the controller
knew, recover = from then until the run went on (the replacement holds the current weights, the lost work
re-ran). The GRPO driver row kills the driver process right after its checkpoint of step 2
(``grpo.controller@2``) and reruns it: recover = the rerun's seconds until it had resumed (learners loaded
from the checkpoint, weights synced), detect = none (the operator reruns).
SFT and tokenizer rows kill a Ray Train worker (``sft.worker@20`` of 30 steps, ``tokenizer.worker@30`` of 40;
checkpoints every 10 steps): Ray Train detects and restarts the group itself, so their recover = the
faulted run's wall seconds minus a clean run's (detection, restart, the redone steps together).
Items lost: videos never scored and steps redone (GRPO), steps redone from the checkpoint (Ray Train).

    RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/fault_table.py [--rows all|grpo|train|NAME,...] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tiny worlds of the tests
from tests.unit.grpo.grpo_helpers import build_world, tiny_config  # noqa: E402

from physar_ray import faults  # noqa: E402
from physar_ray.config import replace  # noqa: E402
from physar_ray.grpo.controller import GRPOController, run_grpo  # noqa: E402

STEPS = 3
GLOO = ["grpo.sync.backend=gloo", "grpo.rollout.num_workers=2", "grpo.sync.member_timeout_s=5"]
"""The broadcast rows: gloo between learner rank 0 and two rollout actors, a 5 s bound."""
Row = dict[str, Any]


def grpo_steps(cfg, world, out: Path, between: Callable[[GRPOController, int], None] | None = None) -> list[dict]:
    """STEPS steps of one controller; ``between(ctl, step)`` runs after each step (a ray.kill lands there)."""
    _, model_dir, tok_dir, data, _ = world
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(out))
    try:
        steps = []
        for i in range(STEPS):
            steps.append(ctl.run_step())
            if between is not None:
                between(ctl, i)
        return steps
    finally:
        ctl.shutdown()


def grpo_row(steps: list[dict], out: Path, batch: int, redone: int = 0) -> Row:
    versions = [s["grpo/weights_version"] for s in steps]
    lost = sum(batch - s["grpo/videos_scored"] for s in steps)
    events = faults.events(str(out))
    return {"completed": versions == list(range(len(steps))) and bool(events),
            "detect_s": [e["detect_s"] for e in events], "recover_s": [e["recover_s"] for e in events],
            "lost": f"{lost} videos, {redone} steps redone"}


def rollout_phase(world, out: Path) -> Row:
    def kill(ctl, step):
        if step == 0:
            ray.kill(ctl.rollouts[0])
    return grpo_row(grpo_steps(world[0], world, out, kill), out, world[0].grpo.batch_size)


def sync_phase(world, out: Path) -> Row:
    cfg = replace(world[0], {"run.faults": ["grpo.rollout[0]@2"]})
    return grpo_row(grpo_steps(cfg, world, out), out, cfg.grpo.batch_size)


def in_broadcast(world, out: Path, point: str = "grpo.rollout_sync") -> Row:
    cfg = replace(tiny_config("data.splits=[rl,eval_ood]", *GLOO), {"run.faults": [f"{point}[1]@2"]})
    return grpo_row(grpo_steps(cfg, world, out), out, cfg.grpo.batch_size)


def reward_actor(world, out: Path) -> Row:
    def kill(ctl, step):
        if step == 0:
            ray.kill(ctl.rewards.actors[0])
    return grpo_row(grpo_steps(world[0], world, out, kill), out, world[0].grpo.batch_size)


def learner_rank(world, out: Path) -> Row:
    def kill(ctl, step):
        if step == 0:
            ctl.checkpoint()  # step 1
        if step == 1:
            ray.kill(ctl.learners.workers[1])  # step 2 dies in learn: the group restarts at step 1, redoes it
    steps = grpo_steps(world[0], world, out, kill)
    row = grpo_row(steps[:2], out, world[0].grpo.batch_size, redone=1)
    # the third run_step lost step 2 in learn and returns step 1 redone from the checkpoint, with version 1 again
    redone = steps[2]
    row["completed"] = (row["completed"] and [s["grpo/weights_version"] for s in steps] == [0, 1, 1]
                        and redone["grpo/step"] == 1 and redone["grpo/learner_restarts"] == 1
                        and redone["grpo/videos_scored"] == world[0].grpo.batch_size and bool(faults.events(str(out))))
    return row


def grpo_driver(world, out: Path) -> Row:
    cfg, model_dir, tok_dir, data, _ = world
    child = [sys.executable, __file__, "--driver-child", str(out), model_dir, tok_dir, data]
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    killed = subprocess.run(child, env=env, capture_output=True, text=True, timeout=600)
    start = time.perf_counter()
    cfg = tiny_config("data.splits=[rl,eval_ood]", f"grpo.max_steps={STEPS}", "grpo.checkpoint_every=1")
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(out))
    resumed_s, resumed_at = time.perf_counter() - start, ctl.step  # the killed run had finished steps 0 and 1
    try:
        summary = ctl.run()
    finally:
        ctl.shutdown()
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [m["grpo/step"] for m in metrics if "grpo/reward_mean" in m]
    return {"completed": killed.returncode == -9 and summary["steps"] == STEPS and steps == list(range(STEPS)),
            "detect_s": [], "recover_s": [resumed_s],
            "lost": f"0 videos, {2 - resumed_at} steps redone (resumed at step {resumed_at})"}


def driver_child(out: str, model_dir: str, tok_dir: str, data: str) -> None:
    """The killed first run: its controller dies right after the checkpoint of step 2."""
    cfg = tiny_config("data.splits=[rl,eval_ood]", f"grpo.max_steps={STEPS}", "grpo.checkpoint_every=1",
                      "run.faults=[grpo.controller@2]")
    run_grpo(cfg, model_dir, tok_dir, data, out)


def ray_train_row(run: Callable[[list[str], Path], dict], fault: str, out: Path, fired: int, steps: int = 30) -> Row:
    start = time.perf_counter()
    faulted = run([f"run.faults=[{fault}]"], out / "faulted")
    faulted_s = time.perf_counter() - start
    start = time.perf_counter()
    run([], out / "clean")
    clean_s = time.perf_counter() - start
    marker = out / "faulted" / "faults" / f"{faults.parse(fault)}.fired"
    return {"completed": faulted["step"] == steps and faulted["resumed"] is not None and marker.exists(), "detect_s": [],
            "recover_s": [faulted_s - clean_s],
            "lost": f"{fired - faulted['resumed']} steps redone (resumed at step {faulted['resumed']})"}


def sft_worker(_world, out: Path) -> Row:
    from physar_ray.config import load
    from physar_ray.train.sft_job import run_sft
    from tests.integration.train.test_sft_job import SMALL, write_tokens

    base = [*SMALL, "sft.max_steps=30", "sft.checkpoint_every=10", "sft.max_failures=1"]
    write_tokens(str(out / "tokens"), load(None, base), 128)

    def run(extra: list[str], where: Path) -> dict:
        summary = run_sft(load(None, [*base, *extra]), str(out / "tokens"), str(where))
        trainer = json.loads((where / "model" / "trainer.json").read_text())
        return {"step": summary["metrics"]["sft/step"], "resumed": (trainer.get("resumed_at") or [None])[0]}
    return ray_train_row(run, "sft.worker@20", out, 20)


def tokenizer_worker(_world, out: Path) -> Row:
    from physar_ray.config import load
    from physar_ray.train.ddt_job import run_ddt_training
    from tests.integration.train.test_ddt_job import SMALL

    def run(extra: list[str], where: Path) -> dict:
        cfg = load(None, [*SMALL, "tokenizer.max_steps=40", "tokenizer.checkpoint_every=10",
                          "tokenizer.max_failures=1", *extra])
        summary = run_ddt_training(cfg, str(where))
        return {"step": summary["step"], "resumed": summary["metrics"].get("ddt/resumed_from")}
    return ray_train_row(run, "tokenizer.worker@30", out, 30, steps=40)


ROWS: dict[str, tuple[str, Callable[[Any, Path], Row]]] = {
    "rollout_phase": ("rollout actor killed in the rollout phase (ray.kill)", rollout_phase),
    "sync_phase": ("rollout actor killed loading weights, object_store (grpo.rollout[0]@2)", sync_phase),
    "broadcast": ("rollout actor killed inside a gloo broadcast (grpo.rollout_sync[1]@2)", in_broadcast),
    "broadcast_hang": ("rollout actor hung inside a gloo broadcast (grpo.rollout_sync_hang[1]@2)",
                       lambda world, out: in_broadcast(world, out, "grpo.rollout_sync_hang")),
    "reward": ("reward actor killed (ray.kill)", reward_actor),
    "learner": ("learner rank 1 killed (ray.kill)", learner_rank),
    "driver": ("GRPO driver killed after a checkpoint, rerun (grpo.controller@2)", grpo_driver),
    "sft": ("SFT worker killed (sft.worker@20)", sft_worker),
    "tokenizer": ("tokenizer worker killed (tokenizer.worker@30)", tokenizer_worker),
}
GROUPS = {"grpo": [k for k in ROWS if k not in ("sft", "tokenizer")], "train": ["sft", "tokenizer"], "all": list(ROWS)}


def seconds(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):.2f}" + (f" (max {max(values):.2f})" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="all", help="all, grpo, train, or names: " + ", ".join(ROWS))
    parser.add_argument("--repeats", type=int, default=1, help="injections per row")
    parser.add_argument("--driver-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver_child:
        return driver_child(*args.driver_child)
    names = GROUPS.get(args.rows) or args.rows.split(",")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, resources={"learner": 8.0, "rollout": 8.0}, include_dashboard=False,
             log_to_driver=False)
    table = []
    with tempfile.TemporaryDirectory(prefix="physar-faults-") as tmp:
        root = Path(tmp)
        world = build_world(tiny_config("data.splits=[rl,eval_ood]"), root / "world")
        for name in names:
            title, row = ROWS[name]
            results = []
            for i in range(args.repeats):
                start = time.perf_counter()
                try:
                    result = row(world, root / f"{name}-{i}")
                except Exception as exc:  # a row that fails is a result too
                    result = {"completed": False, "detect_s": [], "recover_s": [], "lost": f"failed: {exc!r}"[:120]}
                result["wall_s"] = time.perf_counter() - start
                results.append(result)
                print(f"{name} #{i}: {result}", flush=True)
            table.append((title, results))
    ray.shutdown()
    print("\n| fault | injections | completed | seconds to detect | seconds to recover | items lost | run s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for title, results in table:
        print(f"| {title} | {len(results)} | {sum(r['completed'] for r in results)} | "
              f"{seconds([s for r in results for s in r['detect_s']])} | "
              f"{seconds([s for r in results for s in r['recover_s']])} | {results[-1]['lost']} | "
              f"{statistics.median(r['wall_s'] for r in results):.0f} |")


if __name__ == "__main__":
    main()
