import math

import pytest
import torch

from physar_ray.rl.losses import dpo_loss
from physar_ray.rl.preferences import group_pairs, preference_pairs


def test_best_worst_pairs_the_highest_with_the_lowest_reward():
    pairs = preference_pairs(torch.tensor([0.5, 2.0, 0.1, 1.0]))
    assert pairs.chosen.tolist() == [1] and pairs.rejected.tolist() == [2] and pairs.dropped == 0


def test_all_pairs_orient_by_reward_and_drop_and_count_ties():
    # rewards [1, 3, 3, 0]: pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3); (1,2) ties
    pairs = preference_pairs(torch.tensor([1.0, 3.0, 3.0, 0.0]), "all")
    assert list(zip(pairs.chosen.tolist(), pairs.rejected.tolist())) == [(1, 0), (2, 0), (0, 3), (1, 3), (2, 3)]
    assert pairs.dropped == 1


def test_all_pairs_with_a_margin_keep_only_differences_above_it():
    # differences: |1−1.4| = 0.4, |1−3| = 2, |1.4−3| = 1.6; margin 0.5 drops the first, margin 2 drops all three
    pairs = preference_pairs(torch.tensor([1.0, 1.4, 3.0]), "all", margin=0.5)
    assert list(zip(pairs.chosen.tolist(), pairs.rejected.tolist())) == [(2, 0), (2, 1)] and pairs.dropped == 1
    assert preference_pairs(torch.tensor([1.0, 1.4, 3.0]), "all", margin=2.0).dropped == 3
    # best_worst: a difference equal to the margin is dropped too (it must exceed it)
    assert preference_pairs(torch.tensor([1.0, 3.0]), margin=2.0).dropped == 1


def test_a_constant_group_gives_no_pair_and_counts_as_dropped():
    pairs = group_pairs(torch.tensor([0.2, 0.2, 0.2, 0.2, 1.0, 0.0, 0.5, 0.5]), 4)
    assert pairs.chosen.tolist() == [4] and pairs.rejected.tolist() == [5] and pairs.dropped == 1  # indices in the batch
    pairs = group_pairs(torch.tensor([0.2, 0.2, 1.0, 0.0, 0.5, 0.5]), 3, "all")
    # groups [0.2, 0.2, 1.0] and [0.0, 0.5, 0.5] (indices 3..5): one tie in each
    assert list(zip(pairs.chosen.tolist(), pairs.rejected.tolist())) == [(2, 0), (2, 1), (4, 3), (5, 3)]
    assert pairs.dropped == 2


def test_bad_input():
    with pytest.raises(ValueError, match="unknown pair mode 'best'"):
        preference_pairs(torch.zeros(2), "best")
    with pytest.raises(ValueError, match="needs >= 2 samples"):
        preference_pairs(torch.zeros(1))
    with pytest.raises(ValueError, match="NaN or inf"):
        preference_pairs(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="cannot be split into groups of 3"):
        group_pairs(torch.zeros(4), 3)


def test_dpo_loss_hand_computed_two_pairs():
    beta = 0.1
    # pair 1: π gains 2 nats on y_w and loses 1 on y_l against π_ref → z = 0.1·(2 − (−1)) = 0.3
    # pair 2: π moved the wrong way: −1 on y_w, +1 on y_l → z = 0.1·(−1 − 1) = −0.2
    logp_w, ref_w = torch.tensor([-10.0, -21.0]), torch.tensor([-12.0, -20.0])
    logp_l, ref_l = torch.tensor([-16.0, -14.0]), torch.tensor([-15.0, -15.0])
    out = dpo_loss(logp_w, logp_l, ref_w, ref_l, beta)
    want = (math.log1p(math.exp(-0.3)) + math.log1p(math.exp(0.2))) / 2  # −log σ(z) = log(1 + e^−z)
    assert out.total.item() == pytest.approx(want, abs=1e-6)
    assert out.margins.tolist() == pytest.approx([0.3, -0.2], abs=1e-6)
    assert out.accuracy.item() == 0.5 and out.margin.item() == pytest.approx(0.05, abs=1e-6)


def test_dpo_loss_at_the_reference_is_log_2_and_weights_drop_pairs():
    same = torch.tensor([-5.0, -7.0])
    out = dpo_loss(same, same - 1, same, same - 1, beta=0.1)
    assert out.total.item() == pytest.approx(math.log(2), abs=1e-6) and out.accuracy.item() == 0.0
    # weights [2, 0]: the mean over 2 slots of one kept pair at weight slots/kept = 2 is that pair's loss
    logp_w, ref_w = torch.tensor([-10.0, -21.0]), torch.tensor([-12.0, -20.0])
    logp_l, ref_l = torch.tensor([-16.0, -14.0]), torch.tensor([-15.0, -15.0])
    out = dpo_loss(logp_w, logp_l, ref_w, ref_l, 0.1, weights=torch.tensor([2.0, 0.0]))
    assert out.total.item() == pytest.approx(math.log1p(math.exp(-0.3)), abs=1e-6)
    assert out.accuracy.item() == 1.0 and out.margin.item() == pytest.approx(0.3, abs=1e-6)
    none = dpo_loss(logp_w, logp_l, ref_w, ref_l, 0.1, weights=torch.zeros(2))
    assert none.total.item() == 0.0 and math.isnan(none.accuracy.item())


def test_dpo_gradient_raises_the_chosen_and_lowers_the_rejected():
    logp_w, logp_l = torch.tensor([-3.0], requires_grad=True), torch.tensor([-3.0], requires_grad=True)
    dpo_loss(logp_w, logp_l, torch.tensor([-3.0]), torch.tensor([-3.0]), beta=0.5).total.backward()
    # d/dlogπ(y_w) of −log σ(z) at z = 0: −β·σ(0) = −0.25; the rejected gets +0.25
    assert logp_w.grad.item() == pytest.approx(-0.25) and logp_l.grad.item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="beta=0 must be > 0"):
        dpo_loss(logp_w, logp_l, logp_w, logp_l, beta=0)
