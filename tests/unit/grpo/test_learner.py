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


def test_zero3_learner_matches_zero2_and_its_gathered_weights_sync_save_and_resume(world, tmp_path):
    from deepspeed import DeepSpeedEngine

    _, _, rollout, model_dir = world
    common = ["grpo.learner.num_workers=1", "grpo.learner.micro_batch_size=4", "grpo.learner.backend=deepspeed",
              "grpo.learner.updates_per_batch=2"]
    zero3 = tiny_config(*common, "grpo.learner.zero_stage=3", "grpo.learner.gradient_checkpointing=true")
    learners = {}
    for name, cfg in (("zero2", tiny_config(*common, "grpo.learner.zero_stage=2")), ("zero3", zero3)):
        learners[name] = LearnerWorker(0, 1, model_dir, cfg.grpo)
        learners[name].setup("127.0.0.1", free_port())
    z2, z3 = learners["zero2"], learners["zero3"]
    assert isinstance(z3.reference, DeepSpeedEngine)  # π_ref partitioned like the policy
    assert z3.policy.model.layers[0].mlp.up_proj.weight.numel() == 0 and z3.weight_spec() == z2.weight_spec()
    out, *_ = rollout.rollout(prompts(zero3, 2), n=4, seed=3)
    batch = {"prompt_ids": out.prompt_ids, "ids": out.ids, "logprobs": out.logprobs,
             "advantages": np.array([1.0, -1.0, 0.5, -0.5] * 2, dtype=np.float32)}
    m2, m3 = z2.step(batch), z3.step(batch)
    for key in ("loss", "kl", "policy_loss", "grad_norm", "logprob_gap_max"):
        assert m3[key] == pytest.approx(m2[key], rel=1e-4, abs=1e-7), key
    assert m3["learner_peak_rss_mb"] > 10  # the rank's peak memory, for tracking
    want, got = z2.state_dict(), z3.state_dict()
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-6, msg=key)

    z3.sync = InProcessSync({}, -1)
    z3.push_weights(7)
    assert z3.sync.version == 7 and all(torch.equal(z3.sync.state[k], got[k]) for k in got)
    z3.save(str(tmp_path / "ckpt"), {"model_uri": model_dir})
    from physar_ray.lm.model import load_pretrained

    saved = load_pretrained(str(tmp_path / "ckpt"))[0].state_dict()
    assert all(torch.equal(saved[k], got[k]) for k in got)
    resumed = LearnerWorker(0, 1, model_dir, zero3.grpo)
    assert resumed.setup("127.0.0.1", free_port(), str(tmp_path / "ckpt")) == 1
    assert all(torch.equal(resumed.state_dict()[k], got[k]) for k in got)
    assert resumed.step(batch)["loss"] == pytest.approx(z3.step(batch)["loss"], rel=1e-6)
