import math

import pytest
import torch

from physar_ray.rl.advantages import constant_groups, group_advantages


def test_hand_computed_group():
    # group [1, 2, 3]: mean 2, sample std 1 → A = [−1, 0, 1]; group [4, 4, 10]: mean 6, std √12
    adv = group_advantages(torch.tensor([1.0, 2.0, 3.0, 4.0, 4.0, 10.0]), 3)
    s = math.sqrt(12.0)
    assert adv.tolist() == pytest.approx([-1.0, 0.0, 1.0, -2 / s, -2 / s, 4 / s])


def test_constant_group_gets_zero_not_nan():
    adv = group_advantages(torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 1.0, 3.0]), 4)
    assert adv[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert torch.isfinite(adv).all()
    assert constant_groups(torch.tensor([0.0, 0.0, 1.0, 2.0]), 2) == 1


def test_without_std_scaling_keeps_centred_rewards():
    adv = group_advantages(torch.tensor([1.0, 3.0, 5.0, 5.0]), 2, scale_by_std=False)
    assert adv.tolist() == [-1.0, 1.0, 0.0, 0.0]


def test_vectorised_matches_a_loop():
    rewards = torch.randn(6 * 5, generator=torch.Generator().manual_seed(0))
    adv = group_advantages(rewards, 5)
    for g in range(6):
        r = rewards[g * 5:(g + 1) * 5].tolist()
        mean = sum(r) / 5
        std = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
        assert adv[g * 5:(g + 1) * 5].tolist() == pytest.approx([(x - mean) / std for x in r], rel=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="group_size=1 must be >= 2"):
        group_advantages(torch.zeros(4), 1)
    with pytest.raises(ValueError, match="cannot be split into groups of 3"):
        group_advantages(torch.zeros(4), 3)
    with pytest.raises(ValueError, match="NaN or inf"):
        group_advantages(torch.tensor([1.0, float("nan")]), 2)
