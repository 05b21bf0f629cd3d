"""Sampling over visual codes: hand-computed support and log-probs, never a text token."""

from __future__ import annotations

import math

import pytest
import torch

from physar_ray.config import SamplingConfig
from physar_ray.lm.sampling import chosen_logprobs, filtered_logits, sample_codes
from physar_ray.lm.vocab import VisualVocab

VOCAB = VisualVocab(code_offset=2, num_codes=4, prefix=(1,), vocab_size=6)
#                 text  text | codes 0..3 (ids 2..5)
LOGITS = torch.tensor([[9.0, 9.0, 2.0, 1.0, 0.0, -1.0]])


def test_logprobs_equal_a_hand_computation():
    s = SamplingConfig(temperature=2.0, top_k=3, top_p=1.0)
    # z/τ over codes = [1, 0.5, 0, -0.5]; top-3 drops -0.5; logZ = log(e + e^.5 + 1)
    log_z = math.log(math.e + math.exp(0.5) + 1.0)
    ids = torch.tensor([[2, 3, 4, 5, 0]])
    got = chosen_logprobs(LOGITS[:, None].expand(1, 5, 6), ids, VOCAB, s)[0]
    assert got[:3].tolist() == pytest.approx([1 - log_z, 0.5 - log_z, -log_z], abs=1e-6)
    assert got[3] == float("-inf") and got[4] == float("-inf")  # cut by top-k; a text token


def test_top_p_keeps_codes_until_the_mass_above_reaches_p():
    # probs over codes at τ=1: softmax([2,1,0,-1]) = [.644, .237, .087, .032]
    z = filtered_logits(LOGITS[:, 2:], SamplingConfig(temperature=1.0, top_k=0, top_p=0.85))
    assert torch.isfinite(z[0]).tolist() == [True, True, False, False]  # mass above code 2 is .881 ≥ .85
    z = filtered_logits(LOGITS[:, 2:], SamplingConfig(temperature=1.0, top_k=0, top_p=0.9))
    assert torch.isfinite(z[0]).tolist() == [True, True, True, False]
    z = filtered_logits(LOGITS[:, 2:], SamplingConfig(temperature=1.0, top_k=0, top_p=0.1))
    assert torch.isfinite(z[0]).tolist() == [True, False, False, False]  # the top code always stays


def test_sampled_logprobs_match_the_scoring_function():
    s = SamplingConfig(temperature=0.7, top_k=3, top_p=0.95)
    logits = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    ids, lp = sample_codes(logits, VOCAB, s, torch.Generator().manual_seed(1))
    assert torch.allclose(lp, chosen_logprobs(logits[:, None], ids[:, None], VOCAB, s)[:, 0])


def test_masking_never_emits_a_text_token_over_many_samples():
    logits = torch.zeros(4096, 6)
    logits[:, :2] = 50.0  # text tokens dominate the unmasked distribution
    s = SamplingConfig(temperature=1.5, top_k=0, top_p=1.0)
    ids, _ = sample_codes(logits, VOCAB, s, torch.Generator().manual_seed(0))
    assert ids.min() >= 2 and ids.max() <= 5
    assert torch.bincount(ids - 2, minlength=4).min() > 800  # uniform over the 4 codes


def test_greedy_is_the_argmax_with_logprob_zero():
    ids, lp = sample_codes(LOGITS, VOCAB, SamplingConfig(temperature=0.0, top_k=0, top_p=1.0))
    assert ids.tolist() == [2] and lp.tolist() == [0.0]
    got = chosen_logprobs(LOGITS[:, None].expand(1, 2, 6), torch.tensor([[2, 3]]), VOCAB,
                          SamplingConfig(temperature=0.0, top_k=0, top_p=1.0))
    assert got.tolist() == [[0.0, float("-inf")]]
