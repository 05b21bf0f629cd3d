"""Rectified-flow math shared by both decoder families (docs/method.md §4).

x_t = t·ε + (1 − t)·x_0 with t ∈ [0, 1] (t = 1 is pure noise). The decoder predicts x_0; the
velocity follows as v = (x_t − x̂_0) / t, and an Euler step from t to t' < t is
x_t' = x_t + (t' − t)·v. At t' = 0 the step lands exactly on x̂_0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·ε + (1 − t)·x_0. x0, noise: [B, ...]; t: [B]."""
    t = t.view(-1, *([1] * (x0.dim() - 1)))
    return t * noise + (1 - t) * x0


def sample_t(n: int, mode: str, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """[n] training noise levels.

    uniform: t ~ U(0, 1). half_at_one: the first half of the batch at t = 1, the rest uniform.
    logit_normal: t = σ(N(0, 1) + 1), shifted toward noise. The last two weight the high-noise
    end, which cut the prefix decoder's error 2.5× (docs/tokenizer.md, tokenizer finding 3).
    """
    if mode == "uniform":
        return torch.rand(n, generator=generator, device=device)
    if mode == "half_at_one":
        t = torch.rand(n, generator=generator, device=device)
        t[: n // 2] = 1.0
        return t
    if mode == "logit_normal":
        return torch.sigmoid(torch.randn(n, generator=generator, device=device) + 1.0)
    raise ValueError(f"t sampling {mode!r} unknown: use uniform, half_at_one or logit_normal")


def euler_sample(
    predict_x0: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    steps: int,
) -> torch.Tensor:
    """x̂_0 after ``steps`` Euler steps from x_1 = noise down to t = 0.

    predict_x0(x_t [B, ...], t [B]) → x̂_0 [B, ...]. Deterministic given the noise.
    """
    if steps < 1:
        raise ValueError(f"euler steps={steps} must be >= 1")
    x = noise
    times = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    for t, t_next in zip(times[:-1].tolist(), times[1:].tolist()):
        x0 = predict_x0(x, torch.full((x.shape[0],), t, device=x.device))
        x = x + (t_next - t) * (x - x0) / t
    return x
