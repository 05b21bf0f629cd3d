"""A learner rank in process (one-rank gloo group): on-policy ratio 1, weights move, rollout agrees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.unit.grpo.grpo_helpers import build_assets, prompts, tiny_config

from physar_ray.grpo.learner import LearnerWorker, free_port
from physar_ray.grpo.rollout import RolloutWorker
from physar_ray.grpo.weight_sync import ObjectStoreSync
from physar_ray.lm.sequence import VideoLayout


class InProcessSync:
    """A WeightSync without Ray: the unit-test stand-in for the object store (the Protocol needs no more)."""

    def __init__(self, state: dict[str, torch.Tensor], version: int) -> None:
        self.state, self.version = state, version

    def push(self, state, version):
        self.state, self.version = state, version

    def pull(self):
        return self.state, self.version


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cfg = tiny_config("grpo.learner.num_workers=1", "grpo.learner.micro_batch_size=4")
    model_dir, tok_dir = build_assets(cfg, tmp_path_factory.mktemp("grpo"))
    learner = LearnerWorker(0, 1, model_dir, cfg.grpo)
    learner.setup("127.0.0.1", free_port())
    rollout = RolloutWorker(model_dir, tok_dir, VideoLayout.from_config(cfg), cfg.grpo.rollout)
    return cfg, learner, rollout, model_dir


def test_rollout_returns_tokens_logprobs_and_one_video_per_sample(world):
    cfg, _, rollout, _ = world
    out, *videos = rollout.rollout(prompts(cfg, 2), n=4, seed=0)
    layout = VideoLayout.from_config(cfg)
    assert out.ids.shape == out.logprobs.shape == (8, layout.target_codes)
    assert out.prompt_ids.shape[0] == 8 and out.version == 0
    assert np.all(out.logprobs <= 0) and np.isfinite(out.logprobs).all()
    frames, states = videos[5]
    assert len(videos) == 8 and frames.shape == (12, 32, 32, 3) and frames.dtype == np.uint8
    assert states is videos[4][1]  # samples of one prompt share its ground truth


def test_first_step_is_on_policy_and_changes_every_weight_then_sync_matches(world):
    cfg, learner, rollout, _ = world
    out, *_ = rollout.rollout(prompts(cfg, 2), n=4, seed=1)
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    batch = {"prompt_ids": out.prompt_ids, "ids": out.ids, "logprobs": out.logprobs,
             "advantages": np.array([1.0, -1.0, 0.5, -0.5] * 2, dtype=np.float32)}
    metrics = learner.step(batch)
    assert metrics["ratio_min"] == 1.0 and metrics["ratio_max"] == 1.0  # old log-probs recomputed: exact
    assert metrics["clip_fraction"] == 0.0 and np.isfinite(metrics["loss"])
    assert metrics["logprob_gap_max"] < 1e-4  # the engine and the learner score the same support
    assert metrics["sampler_ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    after = learner.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before), "every trainable tensor should move"
    with pytest.raises(RuntimeError, match="no weights pushed"):
        rollout.load_weights(ObjectStoreSync())
    assert rollout.load_weights(InProcessSync(learner.state_dict(), 1)) == 1 and rollout.version == 1
    got = rollout.state_dict()
    assert all(torch.equal(got[k], after[k]) for k in after)


def test_deepspeed_learner_takes_mu_updates_and_resumes_from_its_checkpoint(world, tmp_path):
    _, _, rollout, model_dir = world
    cfg = tiny_config("grpo.learner.num_workers=1", "grpo.learner.micro_batch_size=4",
                      "grpo.learner.backend=deepspeed", "grpo.learner.updates_per_batch=2")
    learner = LearnerWorker(0, 1, model_dir, cfg.grpo)
    learner.setup("127.0.0.1", free_port())
    out, *_ = rollout.rollout(prompts(cfg, 2), n=4, seed=2)
    batch = {"prompt_ids": out.prompt_ids, "ids": out.ids, "logprobs": out.logprobs,
             "advantages": np.array([1.0, -1.0, 0.5, -0.5] * 2, dtype=np.float32)}
    metrics = learner.step(batch)
    assert metrics["ratio_min"] == metrics["ratio_max"] == 1.0 and np.isfinite(metrics["loss"])
    learner.save(str(tmp_path / "ckpt"), {"model_uri": model_dir})
    resumed = LearnerWorker(0, 1, model_dir, cfg.grpo)
    assert resumed.setup("127.0.0.1", free_port(), str(tmp_path / "ckpt")) == 1
    want, got = learner.state_dict(), resumed.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert resumed.step(batch)["loss"] == pytest.approx(learner.step(batch)["loss"], rel=1e-6)
