"""The KV-cache engine against a full-recompute reference, determinism, weight loading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from tests.unit.lm.lm_helpers import LAYOUT, text_model, text_tokenizer, tiny_sft

from physar_ray.config import SamplingConfig
from physar_ray.lm.engine import GenerationEngine, TorchEngine, WeightMismatchError
from physar_ray.lm.model import build_scratch_model
from physar_ray.lm.sampling import visual_logits
from physar_ray.lm.sequence import generated_codes, prompt_ids
from physar_ray.lm.vocab import extend_vocabulary

GREEDY = SamplingConfig(temperature=0.0, top_k=0, top_p=1.0)


def greedy_full_recompute(model, vocab, prompts: torch.Tensor, steps: int) -> torch.Tensor:
    """The obvious reference: rerun the whole sequence for every new token, no cache."""
    x = prompts
    for _ in range(steps):
        logits = model(input_ids=x).logits[:, -1]
        x = torch.cat([x, visual_logits(logits, vocab).argmax(-1, keepdim=True) + vocab.code_offset], dim=1)
    return x[:, prompts.shape[1]:]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_kv_cache_greedy_equals_full_recompute(arch):
    torch.manual_seed(0)
    model, vocab = build_scratch_model(tiny_sft(arch), LAYOUT.codebook_size, max_positions=64)
    model.eval()
    prompts = prompt_ids(np.random.default_rng(0).integers(0, 16, (3, 6, 4)), LAYOUT, vocab)
    engine = TorchEngine(model, vocab, LAYOUT.target_codes)
    ids, logprobs = engine.generate(prompts, n=2, sampling=GREEDY)
    with torch.no_grad():
        ref = greedy_full_recompute(model, vocab, torch.as_tensor(prompts), LAYOUT.target_codes)
    assert ids.shape == (6, LAYOUT.target_codes) and (logprobs == 0).all()
    assert (ids == ref.repeat_interleave(2, 0).numpy()).all()
    assert isinstance(engine, GenerationEngine)


def test_sampling_is_deterministic_given_a_seed_and_only_emits_codes():
    model, tokenizer = text_model(), text_tokenizer()
    vocab = extend_vocabulary(model, LAYOUT.codebook_size, tokenizer)
    with torch.no_grad():  # make text tokens the model's favourites
        model.lm_head.weight[:44] *= 0
        model.lm_head.bias = None
        model.lm_head.weight[:44] += model.lm_head.weight[44:].abs().max() * 10
    engine = TorchEngine(model, vocab, LAYOUT.target_codes)
    prompts = prompt_ids(np.zeros((4, 3, 4), int), LAYOUT, vocab)
    s = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0)
    a, la = engine.generate(prompts, n=8, sampling=s, seed=3)
    b, lb = engine.generate(prompts, n=8, sampling=s, seed=3)
    c, _ = engine.generate(prompts, n=8, sampling=s, seed=4)
    assert (a == b).all() and (la == lb).all() and (a != c).any()
    assert a.min() >= vocab.code_offset and a.max() < vocab.code_offset + vocab.num_codes
    assert generated_codes(a, LAYOUT, vocab).shape == (32, 3, 4)
    assert np.isfinite(la).all() and (la <= 0).all()


def test_load_weights_swaps_the_policy_and_records_the_version():
    model, vocab = build_scratch_model(tiny_sft(), LAYOUT.codebook_size, max_positions=64)
    other, _ = build_scratch_model(dataclasses.replace(tiny_sft(), seed=1), LAYOUT.codebook_size, max_positions=64)
    engine = TorchEngine(model, vocab, LAYOUT.target_codes)
    prompts = prompt_ids(np.zeros((2, 3, 4), int), LAYOUT, vocab)
    before, _ = engine.generate(prompts, 1, GREEDY)
    engine.load_weights(other.state_dict(), version=7)
    after, _ = engine.generate(prompts, 1, GREEDY)
    assert engine.version == 7 and (before != after).any()
    with pytest.raises(WeightMismatchError, match=r"version 8 do not match.*unexpected \[.nope.\]"):
        engine.load_weights({"nope": torch.zeros(1)}, version=8)
