"""grpo.objective=dpo: the pair batch of a step, and a DPO update on a tiny model (one-rank gloo group)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tests.unit.grpo.grpo_helpers import build_assets, prompts, tiny_config

from physar_ray.grpo.dpo import dpo_batch, step_metrics
from physar_ray.grpo.learner import LearnerWorker, free_port, sequence_sums
from physar_ray.grpo.rollout import RolloutWorker
from physar_ray.lm.sequence import VideoLayout


def rows(batch: int, prompt_len: int = 3, new: int = 2) -> dict[str, np.ndarray]:
    """Row i: prompt ids all i // 4 (its group), generated ids all i, log-probs all −i."""
    ids = np.arange(batch)[:, None]
    return {"prompt_ids": np.repeat(ids // 4, prompt_len, axis=1), "ids": np.repeat(ids, new, axis=1),
            "logprobs": -np.repeat(ids, new, axis=1).astype(np.float32)}


def test_best_worst_slots_pad_to_the_learner_shape_with_zero_weight():
    # 3 groups of 4, best_worst: 3 candidates, one a tie; 2 ranks × micro-batches of 2 pairs → 4 slots
    cfg = tiny_config("grpo.objective=dpo", "grpo.batch_size=12", "grpo.learner.micro_batch_size=2",
                      "grpo.rollout.num_workers=1").grpo
    rewards = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.4, 0.4, 0.4, 0.4, 2.0, 1.0, 0.0, 1.5])
    batch, metrics = dpo_batch(rows(12), rewards, cfg)
    assert cfg.dpo_pairs_per_step == 4 and cfg.grad_accum == 1
    assert metrics == {"grpo/dpo_pairs": 2, "grpo/dpo_ties_dropped": 1, "grpo/dpo_slots": 4}
    kept = batch["weights"] > 0
    assert batch["weights"].tolist() == [2.0, 0.0, 2.0, 0.0]  # slots / kept, spread over the ranks
    assert batch["chosen_ids"][kept, 0].tolist() == [1, 8] and batch["rejected_ids"][kept, 0].tolist() == [0, 10]
    assert batch["chosen_logprobs"][kept, 0].tolist() == [-1, -8]
    assert (batch["prompt_ids"][:, 0] == batch["chosen_ids"][:, 0] // 4).all()  # each pair within its group
    assert all(v.shape[0] == 4 for v in batch.values())


def test_all_pairs_with_a_margin_and_a_step_without_pairs():
    cfg = tiny_config("grpo.objective=dpo", "grpo.dpo.pairs=all", "grpo.dpo.margin=0.25",
                      "grpo.learner.micro_batch_size=3", "grpo.learner.num_workers=1").grpo
    # 2 groups × 6 pairs = 12 slots; group 1 [0, 0.2, 1, 1]: 3 differences exceed 0.25... (0,2) (0,3) (1,2) (1,3)
    batch, metrics = dpo_batch(rows(8), torch.tensor([0.0, 0.2, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]), cfg)
    assert metrics == {"grpo/dpo_pairs": 4, "grpo/dpo_ties_dropped": 8, "grpo/dpo_slots": 12}
    assert batch["weights"].sum() == pytest.approx(12.0)  # mean weight 1 over the slots
    batch, metrics = dpo_batch(rows(8), torch.zeros(8), cfg)
    assert metrics["grpo/dpo_pairs"] == 0 and (batch["weights"] == 0).all()
    merged = step_metrics({"loss": 0.0, "dpo_kept": 0.0, "dpo_correct": 0.0, "dpo_margin_sum": 0.0})
    assert merged["loss"] == 0.0 and math.isnan(merged["dpo_accuracy"]) and "dpo_kept" not in merged


def test_step_metrics_divide_sums_over_ranks():
    # rank means of (correct, margin sum, kept) = (1.5, 0.3, 2): 3 of 4 pairs right, mean margin 0.15
    merged = step_metrics({"dpo_kept": 2.0, "dpo_correct": 1.5, "dpo_margin_sum": 0.3})
    assert merged == {"dpo_accuracy": 0.75, "dpo_margin": pytest.approx(0.15)}


def test_sequence_sums_count_tokens_outside_the_support_at_the_floor_without_a_gradient():
    logp = torch.tensor([[-1.0, float("-inf"), -2.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -0.5, float("-inf")]])
    sums, ref_sums, mask = sequence_sums(logp, ref)
    assert sums.tolist() == [-33.0] and ref_sums.tolist() == [-32.0] and mask.tolist() == [[True, False, True]]
    sums.sum().backward()
    assert logp.grad.tolist() == [[1.0, 0.0, 1.0]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cfg = tiny_config("grpo.objective=dpo", "grpo.learner.num_workers=1", "grpo.learner.micro_batch_size=2",
                      "grpo.kl.beta=0")  # DPO builds its reference regardless of grpo.kl.beta
    model_dir, tok_dir = build_assets(cfg, tmp_path_factory.mktemp("dpo"))
    learner = LearnerWorker(0, 1, model_dir, cfg.grpo)
    learner.setup("127.0.0.1", free_port())
    rollout = RolloutWorker(model_dir, tok_dir, VideoLayout.from_config(cfg), cfg.grpo.rollout)
    return cfg, learner, rollout


def sequence_logp(learner: LearnerWorker, batch: dict[str, np.ndarray], key: str) -> np.ndarray:
    """Σ_t log π of the ``key`` sequences under the learner's current policy, as DPO counts it (sequence_sums)."""
    num_new = batch["chosen_ids"].shape[1]
    ids = torch.as_tensor(np.concatenate([batch["prompt_ids"], batch[key]], axis=1))
    logp = learner._score(learner.policy, ids, num_new)
    return sequence_sums(logp, logp)[0].numpy()


def test_a_dpo_step_raises_the_chosen_over_the_rejected(world):
    cfg, learner, rollout = world
    out, *_ = rollout.rollout(prompts(cfg, 2), n=4, seed=5)
    rewards = torch.tensor([3.0, 0.0, 1.0, 2.0, 0.5, 1.0, 4.0, 0.2])  # pairs (0, 1) and (6, 7)
    batch, pair_metrics = dpo_batch({"prompt_ids": out.prompt_ids, "ids": out.ids, "logprobs": out.logprobs},
                                    rewards, cfg.grpo)
    assert pair_metrics["grpo/dpo_pairs"] == 2 and learner.reference is not None
    before = {key: sequence_logp(learner, batch, key) for key in ("chosen_ids", "rejected_ids")}
    first = learner.step(batch)
    after = {key: sequence_logp(learner, batch, key) for key in ("chosen_ids", "rejected_ids")}
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)  # π = π_ref at the start: z = 0
    assert first["dpo_kept"] == 2 and first["dpo_correct"] == 0 and first["dpo_margin_sum"] == pytest.approx(0, abs=1e-5)
    assert first["logprob_gap_max"] < 1e-4 and np.isfinite(first["grad_norm"]) and first["grad_norm"] > 0
    margin_before, margin_after = (x["chosen_ids"] - x["rejected_ids"] for x in (before, after))
    assert (margin_after > margin_before).all(), (before, after)
    assert (after["chosen_ids"] > before["chosen_ids"]).all() and (after["rejected_ids"] < before["rejected_ids"]).all()
    second = learner.step(batch)  # the implicit reward now ranks both pairs right, and the loss fell
    assert second["dpo_correct"] == 2 and second["dpo_margin_sum"] > 0 and second["loss"] < first["loss"]
    assert second["kl"] > 0 and np.isfinite(second["entropy"])
