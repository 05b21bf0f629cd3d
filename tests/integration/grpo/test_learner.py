"""Two ZeRO-3 learner ranks on local Ray: each holds half of every large weight, so reading the full weights
(state_dict, push_weights, save) is a gather that both enter; rank 0 alone returns, pushes and writes them."""

from __future__ import annotations

import numpy as np
import torch

from physar_ray.grpo.learner import LearnerGroup, get_all
from physar_ray.grpo.rollout import RolloutWorker
from physar_ray.grpo.weight_sync import state_bytes
from physar_ray.lm.model import load_pretrained
from physar_ray.lm.sequence import VideoLayout
from tests.unit.grpo.grpo_helpers import build_assets, prompts, tiny_config


def test_two_zero3_ranks_gather_push_save_and_resume_the_full_weights(ray_local, tmp_path):
    cfg = tiny_config("grpo.learner.backend=deepspeed", "grpo.learner.zero_stage=3",
                      "grpo.learner.gradient_checkpointing=true")
    model_dir, tok_dir = build_assets(cfg, tmp_path)
    out, *_ = RolloutWorker(model_dir, tok_dir, VideoLayout.from_config(cfg), cfg.grpo.rollout).rollout(
        prompts(cfg, 2), n=4, seed=0)
    batch = {"prompt_ids": out.prompt_ids, "ids": out.ids, "logprobs": out.logprobs,
             "advantages": np.array([1.0, -1.0, 0.5, -0.5] * 2, dtype=np.float32)}
    group = LearnerGroup(cfg.grpo, model_dir)
    try:
        before = group.state_dict()
        metrics = group.step(batch)
        after = group.state_dict()
        assert metrics["ratio_min"] == metrics["ratio_max"] == 1.0 and np.isfinite(metrics["loss"])
        assert before.keys() == after.keys() and all(not torch.equal(before[k], after[k]) for k in after)
        handle, stats = get_all(group.push_weights(1))[0]
        pushed, version = handle.pull()
        assert version == 1 and stats.bytes == state_bytes(after)
        assert all(torch.equal(pushed[k], after[k]) for k in after)
        group.save(str(tmp_path / "ckpt"), {"model_uri": model_dir})
    finally:
        group.shutdown()
    saved = load_pretrained(str(tmp_path / "ckpt"))[0].state_dict()
    assert all(torch.equal(saved[k], after[k]) for k in after)
    resumed = LearnerGroup(cfg.grpo, model_dir, resume_uri=str(tmp_path / "ckpt"))
    try:
        assert resumed.step_count == 1
        again = resumed.state_dict()
        assert all(torch.equal(again[k], after[k]) for k in after)
    finally:
        resumed.shutdown()
