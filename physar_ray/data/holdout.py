"""Which videos of a dataset are held out for evaluation: GRPO trains on the rest of the rl split,
`physar eval model` scores every policy on them, so results before and after GRPO are on
conditions the policy never trained on."""

from __future__ import annotations

import numpy as np

from physar_ray.config import GRPOConfig

EVAL_SET_SEED = 0
"""Draws the held-out rl conditions and GRPO's OOD evaluation subset. Fixed rather than grpo.seed, so
policies trained with other GRPO seeds (a seed study, a Tune sweep) never train on the conditions the
others are scored on, and their evaluations pair up condition by condition."""


def video_key(scenario: str, split: str, index: int) -> str:
    """The order held-out sets and prompts are sorted in (and the key a rollout's videos carry)."""
    return f"{scenario}/{split}/{index}"


def rl_holdout(count: int, grpo: GRPOConfig) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, training) indices into the ``count`` rl-split videos sorted by key.

    GRPO trains on the second part only; `physar eval model` scores every policy on the first,
    so "rl" results before and after GRPO are on conditions the policy never trained on.
    """
    order = np.random.default_rng(EVAL_SET_SEED).permutation(count)
    held = min(grpo.eval_videos, count // 2)
    return order[:held], order[held:]
