"""grpo.objective=dpo: a step's scored videos → the learners' batch of preference pairs (PhysMaster's DPO).

The pairs come from ``rl/preferences.py`` (per group, ranked by reward, ties dropped and counted); here
they become a fixed number of slots, ``GRPOConfig.dpo_pairs_per_step``, because the step backends run
a fixed number of micro-batches per optimizer step. A kept pair has weight slots / kept and every other
slot (dropped pairs, padding) a copy of some pair at weight 0, so the mean over all slots, micro-batches
and ranks is the mean DPO loss over the kept pairs (``rl.losses.dpo_loss``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from physar_ray.config import GRPOConfig
from physar_ray.rl.preferences import group_pairs

SUMS = ("dpo_correct", "dpo_margin_sum", "dpo_kept")
"""Per-rank sums the learners return; their means over ranks divide into exact step-wide values."""


def dpo_batch(rows: dict[str, np.ndarray], rewards: torch.Tensor,
              cfg: GRPOConfig) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(pair batch, metrics) from the step's rows (prompt_ids [B, P], ids [B, G], logprobs [B, G], B = batch_size)
    and their rewards [B].

    The batch: prompt_ids [S, P] (a pair shares its condition), chosen_ids / rejected_ids [S, G], their sampler
    log-probs chosen_logprobs / rejected_logprobs [S, G], weights [S], with S = cfg.dpo_pairs_per_step.
    Metrics: grpo/dpo_pairs (kept), grpo/dpo_ties_dropped (candidates whose rewards differ by ≤ the margin).
    """
    pairs = group_pairs(rewards, cfg.rollout.group_size, cfg.dpo.pairs, cfg.dpo.margin)
    slots, kept = cfg.dpo_pairs_per_step, len(pairs.chosen)
    chosen, rejected = np.zeros(slots, dtype=np.int64), np.zeros(slots, dtype=np.int64)
    weights = np.zeros(slots, dtype=np.float32)
    if kept:  # spread the kept pairs over the slots, so every rank and micro-batch gets its share of real pairs
        order = np.linspace(0, slots, kept, endpoint=False).astype(np.int64)  # distinct: slots >= kept
        chosen[:], rejected[:] = int(pairs.chosen[0]), int(pairs.rejected[0])
        chosen[order], rejected[order] = pairs.chosen.numpy(), pairs.rejected.numpy()
        weights[order] = slots / kept
    if not np.array_equal(rows["prompt_ids"][chosen], rows["prompt_ids"][rejected]):
        raise ValueError("a DPO pair spans two conditions: the rows of a group must share their prompt")
    batch = {"prompt_ids": rows["prompt_ids"][chosen], "chosen_ids": rows["ids"][chosen],
             "rejected_ids": rows["ids"][rejected], "chosen_logprobs": rows["logprobs"][chosen],
             "rejected_logprobs": rows["logprobs"][rejected], "weights": weights}
    return batch, {"grpo/dpo_pairs": kept, "grpo/dpo_ties_dropped": pairs.dropped, "grpo/dpo_slots": slots}


def step_metrics(learned: dict[str, float]) -> dict[str, float]:
    """The learners' merged metrics with the per-rank sums (means over ranks) turned into dpo_accuracy (share of
    kept pairs whose implicit reward margin was positive before the update) and dpo_margin (its mean)."""
    out = {k: v for k, v in learned.items() if k not in SUMS}
    kept = learned["dpo_kept"]
    out["dpo_accuracy"] = learned["dpo_correct"] / kept if kept > 0 else math.nan
    out["dpo_margin"] = learned["dpo_margin_sum"] / kept if kept > 0 else math.nan
    return out
