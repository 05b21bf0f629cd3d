"""Group-relative advantages (docs/method.md §6)."""

from __future__ import annotations

import torch

STD_EPS = 1e-6
"""A group whose reward std is below this is treated as constant: its advantages are 0."""


def group_advantages(rewards: torch.Tensor, group_size: int, scale_by_std: bool = True) -> torch.Tensor:
    """A_i = (r_i − mean(r_group)) / std(r_group), groups of ``group_size`` consecutive samples.

    rewards: [B*G], the G samples of each prompt next to each other. Returns [B*G].
    std is the sample (unbiased) standard deviation, as in TRL's GRPO; a group with
    std < STD_EPS (identical rewards, e.g. all untrackable at the floor reward) gets A = 0,
    never NaN. ``scale_by_std=False`` keeps the centred rewards (Dr. GRPO's variant).
    """
    if group_size < 2:
        raise ValueError(f"group_size={group_size} must be >= 2: an advantage needs two samples per prompt")
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} cannot be split into groups of {group_size}")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards contain NaN or inf: the reward function must return finite values")
    groups = rewards.view(-1, group_size).to(torch.float64)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    flat = std < STD_EPS
    if scale_by_std:
        centred = centred / torch.where(flat, torch.ones_like(std), std)
    centred = torch.where(flat, torch.zeros_like(centred), centred)
    return centred.view(-1).to(rewards.dtype)


def constant_groups(rewards: torch.Tensor, group_size: int) -> int:
    """How many groups have (numerically) identical rewards and so contribute no gradient."""
    return int((rewards.view(-1, group_size).to(torch.float64).std(dim=1) < STD_EPS).sum())
