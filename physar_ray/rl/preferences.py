"""Preference pairs from a group's physics rewards, for DPO (PhysMaster [16]; docs/grpo.md, DPO)."""

from __future__ import annotations

from typing import NamedTuple

import torch

PAIR_MODES = ("best_worst", "all")


class Pairs(NamedTuple):
    """(chosen, rejected) sample indices, [K] each, and how many candidate pairs were dropped as ties."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    dropped: int


def preference_pairs(rewards: torch.Tensor, mode: str = "best_worst", margin: float = 0.0) -> Pairs:
    """Preference pairs of one group: y_w is the video with the higher reward, y_l the lower.

    rewards: [g]. ``best_worst``: one candidate, the best video against the worst (the first of equal
    rewards); ``all``: every pair i < j, the higher-reward one chosen. A candidate whose rewards differ by
    ≤ ``margin`` (0: exact ties, e.g. two untrackable videos at the floor) says nothing about which video
    is better; it is dropped and counted, never guessed.
    """
    if mode not in PAIR_MODES:
        raise ValueError(f"unknown pair mode {mode!r}: choose one of {', '.join(PAIR_MODES)}")
    if rewards.ndim != 1 or rewards.numel() < 2:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)}: a group needs >= 2 samples to form a pair")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards contain NaN or inf: the reward function must return finite values")
    r = rewards.to(torch.float64)
    if mode == "best_worst":
        first, second = r.argmax().view(1), r.argmin().view(1)
    else:
        first, second = torch.triu_indices(r.numel(), r.numel(), offset=1)
    higher = r[first] >= r[second]
    chosen, rejected = torch.where(higher, first, second), torch.where(higher, second, first)
    keep = (r[chosen] - r[rejected]) > margin
    return Pairs(chosen[keep], rejected[keep], int((~keep).sum()))


def group_pairs(rewards: torch.Tensor, group_size: int, mode: str = "best_worst", margin: float = 0.0) -> Pairs:
    """:func:`preference_pairs` of every group of ``group_size`` consecutive samples, as indices into ``rewards``
    ([B*G], the G samples of each prompt next to each other); pairs never cross groups (conditions)."""
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} cannot be split into groups of {group_size}")
    chosen, rejected, dropped = [], [], 0
    for start in range(0, rewards.numel(), group_size):
        pairs = preference_pairs(rewards[start:start + group_size], mode, margin)
        chosen.append(pairs.chosen + start)
        rejected.append(pairs.rejected + start)
        dropped += pairs.dropped
    return Pairs(torch.cat(chosen), torch.cat(rejected), dropped)
