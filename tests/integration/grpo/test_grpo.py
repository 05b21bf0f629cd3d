"""A tiny GRPO run on local Ray (rollout 1, reward 2, learner 2 actors): updates, sync, faults, resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from physar_ray import faults, storage
from physar_ray.config import replace
from physar_ray.grpo.controller import RESULT_GRACE_S, GRPOController, run_grpo
from tests.conftest import PLACED, actors_asking_for
from tests.unit.grpo.grpo_helpers import build_world, tiny_config

CHECKED = ("grpo/loss", "grpo/kl", "grpo/grad_norm", "grpo/reward_mean", "grpo/entropy")


@pytest.fixture(scope="module")
def world(ray_local, tmp_path_factory):
    return build_world(tiny_config("data.splits=[rl,eval_ood]"), tmp_path_factory.mktemp("grpo"))


def test_steps_change_and_sync_weights_and_survive_killed_rollout_and_reward_actors(ray_local, world):
    ray = ray_local
    cfg, model_dir, tok_dir, data, root = world
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(root / "run-faults"))
    try:
        initial = ray.get(ctl.rollouts[0].state_dict.remote())
        first = ctl.run_step()
        learner = ctl.learners.state_dict()
        rollout = ray.get(ctl.rollouts[0].state_dict.remote())
        assert first["grpo/weights_version"] == 0 and ctl.step == 1
        assert first["grpo/ratio_min"] == first["grpo/ratio_max"] == 1.0
        assert all(torch.equal(learner[k], rollout[k]) for k in learner), "rollout weights differ from the learner's"
        assert sum(not torch.equal(initial[k], learner[k]) for k in learner) == len(learner)
        assert first["sync/bytes"] == sum(t.numel() * t.element_size() for t in learner.values())

        ray.kill(ctl.rollouts[0])
        ray.kill(ctl.rewards.actors[0])
        second = ctl.run_step()
        assert second["grpo/rollout_restarts"] == 1 and second["grpo/reward_restarts"] == 1
        assert second["grpo/weights_version"] == 1  # the replacement loaded the current weights first
        assert second["grpo/videos_scored"] == cfg.grpo.batch_size
        assert all(math.isfinite(second[k]) for k in CHECKED)
    finally:
        ctl.shutdown()


def test_a_rollout_actor_that_dies_while_loading_weights_is_replaced_and_the_run_goes_on(ray_local, world):
    cfg, model_dir, tok_dir, data, root = world
    out = root / "run-sync-fault"
    # the sync after step 1 publishes version 2: rollout actor 0 SIGKILLs itself as it loads it
    ctl = GRPOController(replace(cfg, {"run.faults": ["grpo.rollout[0]@2"]}), model_dir, tok_dir, data, str(out))
    try:
        steps = [ctl.run_step() for _ in range(3)]
    finally:
        ctl.shutdown()
    assert (out / "faults" / "grpo.rollout[0]@2.fired").exists()
    assert [s["grpo/weights_version"] for s in steps] == [0, 1, 2]  # no version skipped or repeated
    assert [s["grpo/rollout_restarts"] for s in steps] == [0, 1, 1]
    assert [s["grpo/videos_scored"] for s in steps] == [cfg.grpo.batch_size] * 3
    assert all(math.isfinite(steps[2][k]) for k in CHECKED)


def test_learner_failure_resumes_from_the_checkpoint_and_reproduces_the_next_step(ray_local, world):
    ray = ray_local
    cfg, model_dir, tok_dir, data, root = world
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(root / "run-resume"))
    try:
        ctl.run_step()
        ctl.run_step()
        ctl.checkpoint()
        want = ctl.run_step()
        ray.kill(ctl.learners.workers[1])
        got = ctl.run_step()  # dies in learn, restarts the group from step 2, redoes step 2
        assert got["grpo/learner_restarts"] == 1 and got["grpo/step"] == want["grpo/step"] == 2
        for key in CHECKED:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-9), key
    finally:
        ctl.shutdown()


def test_run_to_s3_writes_outputs_and_a_second_run_resumes_with_the_gloo_broadcast(ray_local, world, s3_bucket):
    cfg, model_dir, tok_dir, data, _ = world
    overrides = ["data.splits=[rl,eval_ood]", "grpo.sync.backend=gloo", "grpo.eval_every=1", "grpo.async_rollouts=true"]
    out = f"{s3_bucket}/grpo"
    summary = run_grpo(tiny_config(*overrides, "grpo.max_steps=2"), model_dir, tok_dir, data, out)
    assert summary["steps"] == 2 and storage.exists(f"{out}/checkpoints/step_0000002/model.safetensors")
    assert storage.read_json(f"{out}/checkpoints/latest.json")["step"] == 2
    assert storage.read_bytes(f"{out}/reward_curve.png")[:4] == b"\x89PNG"
    assert storage.exists(f"{out}/config.resolved.yaml") and storage.exists(f"{out}/result.json")

    summary = run_grpo(tiny_config(*overrides, "grpo.max_steps=3"), model_dir, tok_dir, data, out)
    lines = [json.loads(x) for x in storage.read_text(f"{out}/metrics.jsonl").splitlines()]
    steps = [x for x in lines if "grpo/reward_mean" in x]
    assert summary["steps"] == 3 and [x["grpo/step"] for x in steps] == [0, 1, 2]  # step 2 only after the resume
    assert steps[1]["grpo/staleness"] == 1 and steps[2]["grpo/weights_version"] == 2  # async, then a fresh sync
    assert any("eval/ood_v_err_mean" in x for x in lines)


def test_colocated_pairs_share_bundles_sleep_through_the_update_and_stay_in_sync(ray_local, world):
    ray = ray_local
    _, model_dir, tok_dir, data, root = world
    cfg = tiny_config("data.splits=[rl,eval_ood]", "grpo.colocate=true", "grpo.rollout.num_workers=2", *PLACED)
    before = actors_asking_for("learner")
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(root / "run-colocated"))
    try:
        ctl.run_step()
        second = ctl.run_step()
        learner = ray.get(ctl.learners.rank0.state_dict.remote())
        rollouts = ray.get([r.state_dict.remote() for r in ctl.rollouts])
        assert second["grpo/weights_version"] == 1 and all(math.isfinite(second[k]) for k in CHECKED)
        assert all(torch.equal(learner[k], r[k]) for r in rollouts for k in learner)
        asked = sorted(r["CPU"] for a, r in actors_asking_for("learner").items() if a not in before)
        # 2 rollout actors + 2 learner ranks, each with half of its pair's bundle (its GPU on a GPU cluster)
        assert asked == [0.25] * 4
        assert all(r["learner"] == 0.5 for a, r in actors_asking_for("learner").items() if a not in before)
    finally:
        ctl.shutdown()


def _gloo_run_with_fault(ray_local, world, name: str, fault: str, bound: float, num_steps: int):
    """``num_steps`` GRPO steps over gloo with 2 rollout actors and ``fault`` injected (grpo.sync.member_timeout_s
    = ``bound``): (cfg, out folder, step metrics, learner weights, rollout actors' weights) at the end."""
    cfg, model_dir, tok_dir, data, root = world
    out = root / name
    cfg = replace(tiny_config("data.splits=[rl,eval_ood]", "grpo.sync.backend=gloo", "grpo.rollout.num_workers=2"),
                  {"run.faults": [fault], "grpo.sync.member_timeout_s": bound})
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(out))
    try:
        steps = [ctl.run_step() for _ in range(num_steps)]
        learner = ctl.learners.state_dict()
        rollouts = ray_local.get([r.state_dict.remote() for r in ctl.rollouts])
    finally:
        ctl.shutdown()
    return cfg, out, steps, learner, rollouts


def test_a_rollout_actor_that_dies_inside_the_gloo_broadcast_fails_the_sync_within_the_bound_and_is_replaced(
        ray_local, world):
    bound = 10.0
    # the broadcast of version 2 (after step 1): rollout actor 1 has received the version, not the weights, and dies
    cfg, out, steps, learner, rollouts = _gloo_run_with_fault(ray_local, world, "run-broadcast-fault",
                                                              "grpo.rollout_sync[1]@2", bound, 3)
    assert (out / "faults" / "grpo.rollout_sync[1]@2.fired").exists()
    assert [s["grpo/weights_version"] for s in steps] == [0, 1, 2]  # no version skipped or repeated
    assert [s["grpo/rollout_restarts"] for s in steps] == [0, 1, 1]
    assert [s["grpo/sync_failures"] for s in steps] == [0, 1, 1]
    assert [s["grpo/videos_scored"] for s in steps] == [cfg.grpo.batch_size] * 3
    assert all(torch.equal(learner[k], r[k]) for r in rollouts for k in learner)  # the replacement got version 3
    (event,) = faults.events(str(out))
    assert event["phase"] == "sync" and event["slot"] == 1 and event["version"] == 2
    assert event["detect_s"] < bound, event  # not the 10-minute collective timeout
    assert event["recover_s"] < 6 * bound, event
    print(f"broadcast fault: detected in {event['detect_s']:.2f}s, recovered in {event['recover_s']:.2f}s "
          f"(grpo.sync.member_timeout_s={bound:g}), sync took {steps[1]['time/sync_s']:.2f}s")


def test_a_rollout_actor_that_hangs_inside_the_gloo_broadcast_is_given_up_on_after_the_bound_and_replaced(
        ray_local, world):
    bound = 5.0
    # rollout actor 0 stops (SIGSTOP) inside the broadcast of version 1: alive, its sockets open, answering nothing
    _, out, steps, learner, rollouts = _gloo_run_with_fault(ray_local, world, "run-broadcast-hang",
                                                            "grpo.rollout_sync_hang[0]@1", bound, 2)
    assert [s["grpo/weights_version"] for s in steps] == [0, 1]
    assert [s["grpo/rollout_restarts"] for s in steps] == [1, 1] and steps[0]["grpo/sync_failures"] == 1
    (event,) = faults.events(str(out))
    assert event["slot"] == 0 and event["version"] == 1 and "hung" in event["fault"], event
    # a hung member is known when the learner's collective times out: the bound, not 10 minutes; it is given up on
    # (and killed) when it has not answered within the bound (+ RESULT_GRACE_S) after that
    assert bound <= event["detect_s"] < bound + 5, event
    assert event["recover_s"] < bound + RESULT_GRACE_S + 60, event
    assert all(torch.equal(learner[k], r[k]) for r in rollouts for k in learner)  # the replacement serves version 1
    print(f"hung broadcast member: detected in {event['detect_s']:.2f}s, recovered in {event['recover_s']:.2f}s "
          f"(grpo.sync.member_timeout_s={bound:g})")


def test_dpo_objective_trains_on_the_groups_preference_pairs_through_the_same_loop(ray_local, world):
    _, model_dir, tok_dir, data, root = world
    out = root / "run-dpo"
    cfg = tiny_config("data.splits=[rl,eval_ood]", "grpo.objective=dpo", "grpo.dpo.pairs=all", "grpo.max_steps=2")
    summary = run_grpo(cfg, model_dir, tok_dir, str(data), str(out))
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "grpo/reward_mean" in x]
    assert summary["steps"] == 2 and [s["grpo/weights_version"] for s in steps] == [0, 1]
    assert (out / "checkpoints" / "step_0000002" / "model.safetensors").exists() and "eval/ood_v_err_mean" in lines[-1]
    candidates = cfg.grpo.prompts_per_step * 6  # all pairs of g = 4: 6 per group
    for s in steps:
        assert s["grpo/dpo_pairs"] + s["grpo/dpo_ties_dropped"] == candidates and s["grpo/dpo_pairs"] > 0
        assert s["grpo/dpo_slots"] == 12 and "grpo/advantage_abs_mean" not in s and "grpo/ratio_min" not in s
        assert all(math.isfinite(s[k]) for k in ("grpo/dpo_accuracy", "grpo/dpo_margin", *CHECKED))
        assert 0 <= s["grpo/dpo_accuracy"] <= 1
    assert steps[0]["grpo/dpo_accuracy"] == 0 and steps[0]["grpo/dpo_margin"] == pytest.approx(0, abs=1e-5)  # π = π_ref
    assert steps[0]["grpo/loss"] == pytest.approx(math.log(2), abs=1e-5)
