"""Input-code noise: rank order by value, shifts in that order, the prefix untouched."""

import torch

from physar_ray.lm.input_noise import rank_noise, shift_codes, value_ranks
from physar_ray.lm.sequence import IGNORE
from physar_ray.lm.vocab import scratch_vocab


def test_value_ranks_sort_codes_by_their_scalar():
    order, rank = value_ranks([0.3, 0.1, 0.2])
    assert order.tolist() == [1, 2, 0]  # code 1 (0.1) < code 2 (0.2) < code 0 (0.3)
    assert rank.tolist() == [2, 0, 1]
    assert order[rank].tolist() == [0, 1, 2]


def test_shift_moves_target_codes_by_value_rank_clamps_at_the_ends_and_keeps_prompt_and_prefix():
    vocab = scratch_vocab(3)  # codes 0..2, <|video_start|> = 3
    order, rank = value_ranks([0.3, 0.1, 0.2])
    ids = torch.tensor([[3, 1, 0, 1, 2, 1]])
    labels = torch.tensor([[IGNORE, IGNORE, 0, 1, 2, 1]])  # prefix and one prompt code carry no label
    shifts = torch.tensor([[5, 1, 1, 1, -1, -4]])
    # prefix 3 and prompt code 1 kept; code 0: rank 2 + 1 → clamped to rank 2 = code 0;
    # code 1: rank 0 + 1 = code 2; code 2: rank 1 − 1 = code 1; code 1: rank 0 − 4 → rank 0 = code 1.
    assert shift_codes(ids, labels, vocab, order, rank, shifts).tolist() == [[3, 1, 0, 2, 1, 1]]


def test_rank_noise_is_seeded_and_rounds_a_normal_of_the_given_sigma():
    draw = lambda: rank_noise((200, 50), 1.0, torch.Generator().manual_seed(3))  # noqa: E731
    a = draw()
    assert torch.equal(a, draw())
    # round(N(0, 1)) = 0 with probability P(|z| < 0.5) = 0.383; its std is ≈ 1.04.
    assert abs((a == 0).float().mean().item() - 0.383) < 0.02
    assert abs(a.float().std().item() - 1.04) < 0.03
    assert torch.equal(rank_noise((4, 4), 0.0), torch.zeros(4, 4, dtype=torch.long))
