"""GRPO's token-level clipped policy objective with a KL penalty (docs/method.md §6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physar_ray.rl.kl import kl_penalty


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ values·mask / Σ mask over all tokens of the batch ([B, L] → scalar); 0 for an empty mask."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-level clipped surrogate: −mean_t min(ρ_t A, clip(ρ_t, 1−ε, 1+ε) A), ρ_t = π/π_old.

    logp, old_logp, mask: [B, L]; advantages: [B] (one per sequence, broadcast over its tokens).
    Returns (loss, clip fraction: share of masked tokens whose clipped term was the active one).
    """
    ratio = torch.exp(logp - old_logp)
    adv = advantages.to(logp.dtype)[:, None]
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    clip_fraction = masked_mean((clipped < unclipped).to(logp.dtype), mask)
    return loss, clip_fraction.detach()


@dataclass(frozen=True)
class GRPOLoss:
    """The scalar to minimise and what to log about it."""

    total: torch.Tensor
    policy: torch.Tensor
    kl: torch.Tensor
    clip_fraction: torch.Tensor


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, advantages: torch.Tensor,
              mask: torch.Tensor, clip_eps: float, beta: float, kl_kind: str = "k3") -> GRPOLoss:
    """policy_loss + β · mean_t KL_t(π_θ ‖ π_ref).

    β = 0 needs no reference; when one is given the KL is still computed for the logs.
    """
    pol, clip_fraction = policy_loss(logp, old_logp, advantages, mask, clip_eps)
    if ref_logp is None:
        if beta > 0:
            raise ValueError(f"beta={beta} > 0 needs reference log-probs (ref_logp)")
        kl = torch.zeros((), dtype=logp.dtype)
    else:
        kl = masked_mean(kl_penalty(logp, ref_logp, kl_kind), mask)
    return GRPOLoss(pol + beta * kl, pol.detach(), kl.detach(), clip_fraction)


@dataclass(frozen=True)
class DPOResult:
    """DPO's scalar to minimise, what to log about it, and each pair's implicit reward margin."""

    total: torch.Tensor
    accuracy: torch.Tensor
    """Share of the (weighted) pairs whose margin is positive: π ranks y_w above y_l more than π_ref does."""
    margin: torch.Tensor
    """Mean implicit reward margin β·[(log π − log π_ref)(y_w) − (log π − log π_ref)(y_l)] over those
    pairs."""
    margins: torch.Tensor
    """[K], detached."""


def dpo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float, weights: torch.Tensor | None = None) -> DPOResult:
    """DPO (Rafailov et al.; PhysMaster's physics-feedback DPO): −log σ(β·[(log π(y_w) − log π_ref(y_w)) −
    (log π(y_l) − log π_ref(y_l))]), averaged over pairs.

    Each argument is [K], one *sequence* log-prob per pair: the sum of the per-token log-probs over the
    target tokens, on the sampler's restricted support. ``weights`` [K] (default 1) scale each pair's
    term inside the mean: the learner gives dropped-pair and padding slots weight 0 and the kept ones
    slots / kept, so the mean over a fixed number of slots is the mean over the kept pairs. Accuracy and
    margin are over the pairs of weight > 0 (NaN when there is none).
    """
    if beta <= 0:
        raise ValueError(f"beta={beta} must be > 0: at 0 the DPO loss is the constant log 2")
    margins = beta * ((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected))
    losses = -torch.nn.functional.logsigmoid(margins)
    if weights is None:
        weights = torch.ones_like(losses)
    weights = weights.to(losses.dtype)
    kept = (weights > 0).to(losses.dtype)
    count = kept.sum()
    nan = torch.full((), float("nan"), dtype=losses.dtype)
    accuracy = ((margins.detach() > 0).to(losses.dtype) * kept).sum() / count if count > 0 else nan
    margin = (margins.detach() * kept).sum() / count if count > 0 else nan
    return DPOResult((weights * losses).mean(), accuracy, margin, margins.detach())
