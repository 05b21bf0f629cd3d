import math

import pytest
import torch

from physar_ray.rl.kl import kl_penalty
from physar_ray.rl.losses import grpo_loss, masked_mean, policy_loss


def test_on_policy_ratio_is_one_and_loss_is_minus_mean_advantage():
    logp = torch.log(torch.tensor([[0.2, 0.5, 0.9], [0.3, 0.3, 0.3]]))
    adv = torch.tensor([2.0, -1.0])
    mask = torch.ones(2, 3)
    loss, clip_fraction = policy_loss(logp, logp.clone(), adv, mask, clip_eps=0.2)
    # ρ = 1 everywhere: loss = −(3·2 + 3·(−1)) / 6 = −0.5
    assert loss.item() == pytest.approx(-0.5)
    assert clip_fraction.item() == 0.0


def test_clipping_hand_computed():
    old = torch.log(torch.tensor([[0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.75, 0.25]]))  # ρ = [1.5, 0.5]
    mask = torch.ones(1, 2)
    # A = +1: min(1.5, 1.2) = 1.2 and min(0.5, 0.8) = 0.5 → loss = −(1.2 + 0.5)/2
    loss, frac = policy_loss(new, old, torch.tensor([1.0]), mask, clip_eps=0.2)
    assert loss.item() == pytest.approx(-0.85)
    assert frac.item() == pytest.approx(0.5)
    # A = −1: min(−1.5, −1.2) = −1.5 and min(−0.5, −0.8) = −0.8 → loss = (1.5 + 0.8)/2
    loss, frac = policy_loss(new, old, torch.tensor([-1.0]), mask, clip_eps=0.2)
    assert loss.item() == pytest.approx(1.15)
    assert frac.item() == pytest.approx(0.5)


def test_mask_excludes_tokens():
    vals = torch.tensor([[1.0, 100.0], [3.0, 100.0]])
    assert masked_mean(vals, torch.tensor([[1, 0], [1, 0]])).item() == 2.0
    assert masked_mean(vals, torch.zeros(2, 2)).item() == 0.0


def test_kl_estimators_hand_computed():
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    d = math.log(0.5) - math.log(0.25)  # log π/π_ref = log 2
    assert kl_penalty(logp, ref, "k1").item() == pytest.approx(d)
    assert kl_penalty(logp, ref, "k2").item() == pytest.approx(0.5 * d * d)
    assert kl_penalty(logp, ref, "k3").item() == pytest.approx(0.5 - math.log(0.5) - 1)
    assert kl_penalty(ref, ref, "k3").item() == 0.0
    with pytest.raises(ValueError, match="unknown KL estimator 'k9': choose one of k1, k2, k3"):
        kl_penalty(logp, ref, "k9")


def test_k3_is_an_unbiased_kl_estimate():
    # samples x ~ π; E[k3] = KL(π‖π_ref) for two categorical distributions
    p, q = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.3, 0.3, 0.4])
    x = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    estimate = kl_penalty(p.log()[x], q.log()[x], "k3").mean().item()
    assert estimate == pytest.approx((p * (p / q).log()).sum().item(), abs=5e-3)


def test_grpo_loss_adds_beta_kl_and_gradients_flow():
    logp = torch.log(torch.tensor([[0.5, 0.4]])).requires_grad_()
    old = logp.detach().clone()
    ref = torch.log(torch.tensor([[0.25, 0.4]]))
    out = grpo_loss(logp, old, ref, torch.tensor([1.0]), torch.ones(1, 2), clip_eps=0.2, beta=0.1)
    k3 = (0.5 - math.log(0.5) - 1 + 0.0) / 2
    assert out.kl.item() == pytest.approx(k3)
    assert out.total.item() == pytest.approx(-1.0 + 0.1 * k3)
    out.total.backward()
    assert logp.grad is not None and torch.isfinite(logp.grad).all()
    with pytest.raises(ValueError, match="beta=0.1 > 0 needs reference"):
        grpo_loss(logp, old, None, torch.tensor([1.0]), torch.ones(1, 2), 0.2, 0.1)
